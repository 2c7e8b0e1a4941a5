"""Odoo front-ends in prefork mode for the cluster benchmark, and the database they share.

A front-end is one `odoo-bin server --workers=N` (master + N HTTP workers + the gevent worker) in its
own process group: `kill9()` sends SIGKILL to the whole group — the master and every worker at once, what
a crashed container looks like —, `start()` brings it back on the same port.
"""
from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import psycopg2
import requests

from devstack._base import Server
from devstack._process import free_port, spawn, terminate, wait_ready
from devstack.odoo_server import answers_health, odoo_environment, server_argv

STOCK_LOAD = "base,web"
SUITE_LOAD = "base,web,session_redis,logging_json,monitoring_statsd,monitoring_readiness"


def set_parameter(pg, dbname: str, key: str, value: str) -> None:
    """Set an ir.config_parameter straight in the database (before any front-end reads it)."""
    conn = psycopg2.connect(pg.dsn(dbname))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO ir_config_parameter (key, value, create_date, write_date)"
                        " VALUES (%s, %s, now(), now())"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = now()",
                        (key, value))
    finally:
        conn.close()


class OdooFrontend(Server):
    """One prefork Odoo front-end on a free port of 127.0.0.1."""

    def __init__(self, base_dir: Path | str, name: str, *, root: Path, pg, dbname: str,
                 environ: dict[str, str], load: str, workers: int = 2):
        self.name = name
        super().__init__(base_dir)
        self.port = free_port()
        self.workers = workers
        self._argv = server_argv(root, pg, dbname, self.data_dir / "data", self.port, workers=workers,
                                 log_level="info", extra=["--db_maxconn=16", f"--load={load}",
                                                          "--limit-time-real=300", "--limit-time-cpu=300"])
        self._env = odoo_environment(environ)
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"http": self.port}

    @property
    def version(self) -> str:
        return f"prefork workers={self.workers}"

    @property
    def master_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> None:
        self._proc = spawn(self._argv, self.log_path, env=self._env)
        wait_ready(self.name, self._healthy, procs=[self._proc], log_path=self.log_path, timeout=180,
                   interval=0.3)

    def _healthy(self) -> bool:
        return answers_health(self.url)

    def _stop(self) -> None:
        terminate(self._proc, timeout=20)
        self._proc = None

    def kill9(self) -> None:
        """SIGKILL the master and all its workers at once (the process group)."""
        import signal

        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10)
            terminate(self._proc)  # forget it; reaps stragglers of the group
            self._proc = None
        self.running = False

    def worker_pids(self) -> list[int]:
        """Live children of the master (HTTP workers and the gevent worker)."""
        master = self.master_pid
        if master is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master and fields[0] != "Z":
                children.append(int(stat.parent.name))
        return children


class OdooClient:
    """A logged-in JSON-RPC client (requests) for setting up data and verifying afterwards."""

    def __init__(self, url: str, dbname: str, login: str = "admin", password: str = "admin"):
        self.url = url
        self.http = requests.Session()
        self.uid = self._rpc("/web/session/authenticate",
                             {"db": dbname, "login": login, "password": password})["uid"]

    def _rpc(self, path: str, params: dict):
        reply = self.http.post(self.url + path, json={"jsonrpc": "2.0", "method": "call", "params": params},
                               timeout=120)
        reply.raise_for_status()
        body = reply.json()
        if "error" in body:
            raise RuntimeError(f"{path}: {body['error'].get('data', {}).get('message')}")
        return body["result"]

    def call(self, model: str, method: str, *args, **kwargs):
        return self._rpc(f"/web/dataset/call_kw/{model}/{method}",
                         {"model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def session_uid(self) -> int | None:
        """The uid the server attaches to this client's session now (None: logged out)."""
        return self._rpc("/web/session/get_session_info", {}).get("uid")

    def create_attachment(self, name: str, data: bytes) -> int:
        return self.call("ir.attachment", "create", {"name": name, "datas": base64.b64encode(data).decode(),
                                                     "mimetype": "application/octet-stream"})

    def download(self, att_id: int) -> bytes:
        response = self.http.get(f"{self.url}/web/content/{att_id}?download=true", timeout=120)
        response.raise_for_status()
        return response.content

    def warm_page(self) -> int:
        """Open the web client once and fetch its bundles (compiles the assets outside the measurement)."""
        import re

        page = self.http.get(f"{self.url}/odoo", timeout=300)
        page.raise_for_status()
        assets = set(re.findall(r'(?:src|href)="(/web/assets/[^"?#]{1,300})"', page.text))
        for asset in assets:
            self.http.get(self.url + asset, timeout=300).raise_for_status()
        return len(assets)


def seed_partners(client: OdooClient, count: int = 300) -> None:
    """Partners for the reads to return (a database without demo data has almost none)."""
    client.call("res.partner", "create", [{"name": f"Bench Partner {i:04d}", "email": f"p{i}@example.com",
                                           "city": "Lausanne", "phone": f"+41 21 000 {i:04d}"}
                                          for i in range(count)])


def wait_until(check, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False
