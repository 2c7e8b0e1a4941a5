"""`python -m devstack run`: the local stack for trying the addons by hand.

Starts Redis, SeaweedFS (bucket created), PostgreSQL and a statsd listener with their data under one
folder, prints where everything listens and the environment to export (also written to <dir>/env.sh),
then runs Odoo in the foreground with our server-wide addons when one is found: the newest series found
(19.0 before 18.0), or the one given with `--series`. Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from odoo_cloud.masking import MASK, mask_secrets

from ._base import set_announcer
from ._process import _LIVE, free_port, stop_all, terminate
from .odoo import (
    SUPPORTED_SERIES,
    OdooSeries,
    addons_paths,
    find_odoo,
    get_series,
    newest_found,
    odoo_command,
)
from .odoo_env import s3_variables, session_redis_variables, statsd_variables
from .paths import REPO_ROOT
from .postgres import PostgresServer
from .redis import RedisServer
from .seaweedfs import SeaweedFSServer
from .statsd import StatsdListener

PROJECT = "devstack"
BUCKET = f"{PROJECT}-odoo-dev"
DATABASE = "devstack"  # Odoo 18.0's; 19.0 gets devstack19 (a database belongs to one series)
SERVER_WIDE = "base,web,session_redis,logging_json,monitoring_statsd"
# installed in the demo database on first start, with ir_attachment.location = s3 (uploads land in the bucket)
DEMO_ADDONS = "attachment_s3"
SECRET_VARIABLES = {"AWS_SECRET_ACCESS_KEY"}
# importable by a python able to run odoo-bin (a few of Odoo's requirements, cheap to import)
_ODOO_DEPS_PROBE = "import werkzeug, psycopg2, lxml, passlib, babel, PIL, reportlab, docutils"


def stack_environment(redis: RedisServer, s3: SeaweedFSServer, statsd: StatsdListener) -> dict[str, str]:
    """The DESIGN.md §3 variables pointing Odoo at this stack (RUNNING_ENV=dev)."""
    return {
        "RUNNING_ENV": "dev",
        **session_redis_variables(redis, f"{PROJECT}-odoo-dev"),
        **s3_variables(s3, BUCKET),
        "ODOO_LOGGING_JSON": "1",
        **statsd_variables(statsd, PROJECT, "dev"),
    }


def _masked(name: str, value: str) -> str:
    """Secret variables hidden whole; any other value through the core's one URL masker."""
    return MASK if name in SECRET_VARIABLES else mask_secrets(value)


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    path.chmod(0o600)


def odoo_python(series: OdooSeries) -> tuple[str | None, str]:
    """The interpreter for odoo-bin: the series' venv (scripts/setup_odoo.sh), else ours with Odoo's deps."""
    venv_python = series.python
    if venv_python.exists():
        return str(venv_python), f"{venv_python} (scripts/setup_odoo.sh)"
    probe = subprocess.run([sys.executable, "-c", _ODOO_DEPS_PROBE], check=False, capture_output=True)
    if probe.returncode == 0:
        return sys.executable, f"{sys.executable} (has Odoo's dependencies)"
    return None, (
        f"no {venv_python} and {sys.executable} lacks Odoo's dependencies: run `bash scripts/setup_odoo.sh`"
    )


def _print(line: str = "") -> None:
    print(mask_secrets(line), flush=True)


def run(args: argparse.Namespace) -> int:
    base = Path(args.dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    set_announcer(_print)
    statsd = StatsdListener()
    redis = RedisServer(base)
    s3 = SeaweedFSServer(base)
    postgres = PostgresServer(base)
    servers = [statsd, redis, s3, postgres]
    try:
        for server in servers:
            server.start()
        s3.create_bucket(BUCKET)
        env = stack_environment(redis, s3, statsd)
        env_file = base / "env.sh"
        _write_env_file(env_file, env)

        _print(f"\nStack data and logs under {base}")
        _print(f"  Redis       redis://{redis.host}:{redis.port}/0      log {redis.log_path}")
        _print(f"  S3          {s3.endpoint_url}  bucket {BUCKET}  log {s3.log_path}")
        _print(f"  PostgreSQL  {postgres.dsn('postgres')}  log {postgres.log_path}")
        _print(f"  statsd      udp://{statsd.host}:{statsd.port} (metrics counted in this process)")
        _print(f"\nEnvironment (secrets masked; full values: `source {env_file}`):")
        for name, value in env.items():
            _print(f"  export {name}={shlex.quote(_masked(name, value))}")
        _print(f"  export PGHOST={postgres.host} PGPORT={postgres.port} PGUSER={postgres.user}")

        odoo_proc = None if args.no_odoo else _start_odoo(base, env, postgres, args.series)
        _print("\nCtrl-C stops everything.")
        return _wait(odoo_proc, statsd)
    except KeyboardInterrupt:
        return 130
    finally:
        _print("\nstopping the stack…")
        for server in reversed(servers):
            server.stop()
        stop_all()


def _find_series(wanted: str | None) -> tuple[OdooSeries | None, Path | None, str]:
    """The series `make run` starts: `wanted`, else the newest found; with its root and how it was found."""
    if wanted is None:
        return newest_found(sys.executable)
    series = get_series(wanted)
    hint = str(series.python) if series.python.exists() else sys.executable
    root, how = find_odoo(hint, series.name)
    return series, root, how


def _start_odoo(base: Path, env: dict[str, str], postgres: PostgresServer,
                wanted: str | None) -> subprocess.Popen | None:
    series, root, how = _find_series(wanted)
    if series is None or root is None:
        _print(f"\nOdoo: {how}.")
        _print("  Point at an Odoo source tree (the one holding odoo-bin and odoo/):")
        _print("  ODOO_SRC=/path/to/odoo-18.0 or ODOO19_SRC=/path/to/odoo-19.0 (defaults /opt/odoo18,")
        _print("  /opt/odoo19; README \"Getting Odoo\").")
        _print("  The stack stays up meanwhile.")
        return None
    python, python_how = odoo_python(series)
    if python is None:
        _print(f"\nOdoo: found ({how}) but cannot run it: {python_how}. The stack stays up meanwhile.")
        return None
    http_port = free_port()
    dbname = database_name(series)
    addons = ",".join(str(p) for p in [*addons_paths(root), REPO_ROOT])
    argv = [
        *odoo_command(root, python),
        f"--addons-path={addons}",
        f"--load={','.join(series.server_wide(SERVER_WIDE.split(',')))}",
        f"--db_host={postgres.host}",
        f"--db_port={postgres.port}",
        f"--db_user={postgres.user}",
        f"--database={dbname}",
        f"--db-filter=^{dbname}$",
        f"--data-dir={base / 'odoo-data'}",
        "--http-interface=127.0.0.1",
        f"--http-port={http_port}",
    ]
    _print(f"\nOdoo: {how}; python {python_how}")
    if not _prepare_demo_database(argv, env, postgres, series):
        return None
    _print(f"  {' '.join(shlex.quote(a) for a in argv)}")
    _print(f"  -> http://127.0.0.1:{http_port}/web  (database {dbname!r} is created on first start)")
    proc = subprocess.Popen(argv, env={**os.environ, **env}, start_new_session=True, stdin=subprocess.DEVNULL)
    _LIVE[proc.pid] = proc
    return proc


def database_name(series: OdooSeries) -> str:
    """The demo database of `series`: `devstack` for 18.0 (its name before 19.0), `devstack19` for 19.0."""
    return DATABASE if series.major == 18 else f"{DATABASE}{series.major}"


def _database_ready(postgres: PostgresServer, dbname: str) -> bool:
    """True when the demo database exists and its attachments already go to S3."""
    import psycopg2

    try:
        conn = psycopg2.connect(postgres.dsn(dbname))
    except psycopg2.OperationalError:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('ir_config_parameter') IS NOT NULL")
            if not cur.fetchone()[0]:
                return False
            cur.execute("SELECT value FROM ir_config_parameter WHERE key = 'ir_attachment.location'")
            row = cur.fetchone()
            return bool(row) and row[0] == "s3"
    finally:
        conn.close()


def _prepare_demo_database(argv: list[str], env: dict[str, str], postgres: PostgresServer,
                           series: OdooSeries) -> bool:
    """First start: install attachment_s3 and set ir_attachment.location = s3 (about a minute, once)."""
    dbname = database_name(series)
    if _database_ready(postgres, dbname):
        return True
    import psycopg2

    _print(f"  first start: installing {DEMO_ADDONS} in database {dbname!r} (once, about a minute)…")
    init = [*argv, f"--init={DEMO_ADDONS}", *series.demo_options(False), "--stop-after-init",
            "--log-level=warn"]
    result = subprocess.run(init, env={**os.environ, **env}, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        _print(f"  installing {DEMO_ADDONS} failed (exit {result.returncode}); see the lines above.")
        return False
    conn = psycopg2.connect(postgres.dsn(dbname))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ir_config_parameter (key, value, create_date, write_date)"
                " VALUES ('ir_attachment.location', 's3', now(), now())"
                " ON CONFLICT (key) DO UPDATE SET value = 's3', write_date = now()"
            )
    finally:
        conn.close()
    _print(f"  ir_attachment.location = s3: new attachments go to bucket {BUCKET}")
    return True


def _wait(odoo_proc: subprocess.Popen | None, statsd: StatsdListener) -> int:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            if odoo_proc is not None and odoo_proc.poll() is not None:
                _print(f"\nOdoo exited with code {odoo_proc.returncode}.")
                return odoo_proc.returncode
            time.sleep(0.5)
    except KeyboardInterrupt:
        if odoo_proc is not None:
            terminate(odoo_proc, timeout=20, sig=signal.SIGINT)
        _print(f"\nstatsd: {len(statsd.packets(timeout=0))} metric lines received.")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the local stack (and Odoo when found) until Ctrl-C")
    run_parser.add_argument(
        "--dir", default=str(REPO_ROOT / ".devstack"), help="data and logs (default ./.devstack)"
    )
    run_parser.add_argument("--no-odoo", action="store_true", help="only the servers, not Odoo")
    run_parser.add_argument("--series", choices=SUPPORTED_SERIES,
                            help="the Odoo series to start (default: the newest found)")
    args = parser.parse_args(argv)
    return run(args)
