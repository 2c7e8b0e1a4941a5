"""odoo-bin as the tests and benchmarks run it: install a database, serve it over HTTP, call it by JSON-RPC.

One place for the argv of an HTTP server on 127.0.0.1, the wait for /web/health and the shutdown of its
process group. Used by the Odoo acceptance tests of tests/storage, bench/bench_downloads.py and the cluster
benchmark's prefork front-ends (bench/cluster/odoo.py). Every Odoo process imports this tree's core
(PYTHONPATH = the repository) and sees only the variables its caller gives (`bare_environment`).
"""
from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from ._process import free_port, run_checked, spawn, terminate, wait_ready
from .odoo import ODOO_PYTHON, OdooSeries, bare_environment, database_options, odoo_command
from .paths import REPO_ROOT

RPC_TIMEOUT = 300.0


def odoo_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` for an Odoo subprocess, which imports this tree's core unless `environ` says otherwise."""
    return bare_environment({"PYTHONPATH": str(REPO_ROOT), **environ})


def install_database(root: Path, pg: Any, dbname: str, modules: str, *, data_dir: Path,
                     environ: Mapping[str, str] | None = None, log_path: Path | None = None,
                     python: Path | str = ODOO_PYTHON, timeout: float = 1200,
                     series: OdooSeries | None = None) -> None:
    """Create `dbname` with `modules` (no demo data; admin/admin); ServerStartError with the log's tail.
    With `series`, its interpreter, its demo-data options and its server-wide modules are used."""
    options = ["--without-demo=all"]
    if series is not None:
        python = series.python
        options = [*series.demo_options(False), series_load(series)]
    argv = [*odoo_command(root, python), "server", *database_options(root, pg, dbname, data_dir),
            "--no-http", "--stop-after-init", *options, "-i", modules, "--log-level=warn"]
    run_checked(argv, log_path or data_dir.with_suffix(".install.log"),
                what=f"installing {modules} in {dbname}", env=odoo_environment(environ or {}),
                timeout=timeout)


def odoo_shell(root: Path, pg: Any, dbname: str, data_dir: Path, environ: Mapping[str, str], *, code: str,
               python: Path | str = ODOO_PYTHON, log_level: str = "warn",
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `code` in `odoo-bin shell` on `dbname` (no HTTP); the caller reads stdout/stderr."""
    argv = [*odoo_command(root, python), "shell", *database_options(root, pg, dbname, data_dir),
            "--no-http", f"--log-level={log_level}"]
    return subprocess.run(argv, env=odoo_environment(environ), input=code, capture_output=True, text=True,
                          timeout=timeout, check=False)


def server_argv(root: Path, pg: Any, dbname: str, data_dir: Path, port: int, *,
                python: Path | str = ODOO_PYTHON, workers: int = 0, db_filter: str | None = None,
                log_level: str = "warn", extra: Sequence[str] = ()) -> list[str]:
    """`odoo-bin server` on 127.0.0.1:`port` (and a free gevent port), no cron thread, one database
    unless `db_filter` says otherwise; `extra` options last (e.g. `--load=...`)."""
    return [*odoo_command(root, python), "server", *database_options(root, pg, dbname, data_dir),
            "--http-interface=127.0.0.1", f"--http-port={port}", f"--gevent-port={free_port()}",
            f"--workers={workers}", "--max-cron-threads=0", f"--log-level={log_level}",
            f"--db-filter={db_filter or f'^{dbname}$'}", *extra]


def series_load(series: OdooSeries) -> str:
    """`--load` of base + web and what the series needs server-wide (19: `rpc`)."""
    return f"--load={','.join(series.server_wide(['base', 'web']))}"


def answers_health(url: str) -> bool:
    """/web/health answers 200 (every Odoo series has it, database or not)."""
    return requests.get(f"{url}/web/health", timeout=2).status_code == 200


class OdooHttpServer:
    """One threaded `odoo-bin server` (workers=0) on a free port with its own data directory, started
    when built; `rpc` calls the ORM as admin (uid 2, password admin) by JSON-RPC."""

    def __init__(self, root: Path, pg: Any, dbname: str, data_dir: Path, environ: Mapping[str, str], *,
                 python: Path | str = ODOO_PYTHON, db_filter: str | None = None, log_level: str = "warn",
                 timeout: float = 180, series: OdooSeries | None = None) -> None:
        self.port = free_port()
        self.dbname = dbname
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.with_suffix(".log")
        extra: list[str] = []
        if series is not None:
            python, extra = series.python, [series_load(series)]
        argv = server_argv(root, pg, dbname, data_dir, self.port, python=python, db_filter=db_filter,
                           log_level=log_level, extra=extra)
        self.proc: subprocess.Popen[bytes] = spawn(argv, self.log, env=odoo_environment(environ))
        wait_ready(f"odoo on port {self.port}", lambda: answers_health(self.url), procs=[self.proc],
                   log_path=self.log, timeout=timeout, interval=0.3)

    def call(self, service: str, method: str, *args: Any, timeout: float = RPC_TIMEOUT) -> Any:
        """One JSON-RPC call to /jsonrpc; RuntimeError carrying Odoo's error when it answers one."""
        body = {"jsonrpc": "2.0", "method": "call",
                "params": {"service": service, "method": method, "args": list(args)}}
        reply = requests.post(f"{self.url}/jsonrpc", json=body, timeout=timeout).json()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def execute_kw(self, dbname: str, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.call("object", "execute_kw", dbname, 2, "admin", model, method, list(args), kwargs)

    def rpc(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """`model.method(*args, **kwargs)` in this server's database."""
        return self.execute_kw(self.dbname, model, method, *args, **kwargs)

    def stop(self) -> None:
        terminate(self.proc, timeout=30)
