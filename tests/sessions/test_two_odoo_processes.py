"""Acceptance (issue 5): two Odoo 18 processes on different ports share one Redis.

Log in on the first, the second knows you (each has its own data dir: nothing shared but Redis);
one Redis round trip per request to load the session, none to save an unchanged one; Redis killed:
503s quickly while /web/health stays up; Redis back: log in again without restarting Odoo; every
key is under the configured prefix with the expected TTL (`redis-cli --scan`).

The first process runs with --workers=2 (prefork), the second threaded.
Skipped when no Odoo 18 / .venvs/odoo is found. Takes ~1 min (database init + two servers).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from devstack._process import free_port, spawn, terminate, wait_ready
from devstack.odoo import ODOO_VENV, addons_paths, find_odoo, odoo_command
from devstack.paths import REPO_ROOT
from odoo_cloud.config import load_settings
from odoo_cloud.sessions.connection import failure_deadline

ODOO_ROOT, _why = find_odoo(str(ODOO_VENV / "bin" / "python"))
pytestmark = pytest.mark.skipif(ODOO_ROOT is None or not (ODOO_VENV / "bin" / "python").exists(),
                                reason=f"no Odoo 18 to run: {_why}")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def odoo_base_argv(pg, dbname: str, run_dir: Path) -> list[str]:
    (run_dir / "odoo.conf").write_text("[options]\n")  # never ~/.odoorc
    addons = ",".join(str(p) for p in [*addons_paths(ODOO_ROOT), REPO_ROOT])
    return [*odoo_command(ODOO_ROOT, ODOO_VENV / "bin" / "python"),
            f"--config={run_dir / 'odoo.conf'}", "-d", dbname, f"--db-filter=^{dbname}$",
            f"--db_host={pg.host}", f"--db_port={pg.port}", f"--db_user={pg.user}",
            f"--addons-path={addons}", "--without-demo=all", "--max-cron-threads=0", "--log-level=warn"]


@pytest.fixture(scope="module")
def odoo_database(postgres_server, tmp_path_factory):
    dbname = "sessions_" + uuid.uuid4().hex[:8]
    run_dir = tmp_path_factory.mktemp("odoo-init")
    argv = [*odoo_base_argv(postgres_server, dbname, run_dir), f"--data-dir={run_dir / 'data'}",
            "-i", "base,web", "--stop-after-init", "--http-port", str(free_port())]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return dbname


class OdooProcess:
    def __init__(self, pg, dbname: str, run_dir: Path, environ: dict[str, str], workers: int = 0):
        self.port = free_port()
        self.environ = environ
        self.log = run_dir / "odoo.log"
        argv = [*odoo_base_argv(pg, dbname, run_dir),
                f"--data-dir={run_dir / 'data'}", "--load=base,web,session_redis",
                "--http-interface=127.0.0.1", f"--http-port={self.port}", f"--gevent-port={free_port()}",
                f"--workers={workers}"]
        self.proc = spawn(argv, self.log, env={**os.environ, **environ})
        wait_ready("odoo", self._health, procs=[self.proc], log_path=self.log, timeout=120)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _health(self) -> bool:
        return requests.get(self.url + "/web/health", timeout=2).status_code == 200

    def login(self, browser: requests.Session) -> requests.Response:
        page = browser.get(self.url + "/web/login", timeout=10)
        token = CSRF_RE.search(page.text).group(1)
        form = {"login": "admin", "password": "admin", "csrf_token": token}
        return browser.post(self.url + "/web/login", data=form, allow_redirects=False, timeout=10)

    def session_info(self, browser: requests.Session) -> requests.Response:
        return browser.post(self.url + "/web/session/get_session_info", timeout=10,
                            data=json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}}),
                            headers={"Content-Type": "application/json"})

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture(scope="module")
def two_odoos(postgres_server, odoo_database, redis_server, tmp_path_factory):
    prefix = "acme-odoo-test-" + uuid.uuid4().hex[:6]
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": redis_server.url,
               "ODOO_SESSION_REDIS_PREFIX": prefix, "ODOO_SESSION_REDIS_EXPIRATION": "86400",
               "ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS": "1800", "ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "0.5",
               "ODOO_SESSION_REDIS_TIMEOUT": "0.5"}
    # the first is a prefork server (post_load in the master, clients built in the forked workers and in
    # the gevent process), the second a threaded one
    first = OdooProcess(postgres_server, odoo_database, tmp_path_factory.mktemp("odoo-a"), environ, workers=2)
    try:
        second = OdooProcess(postgres_server, odoo_database, tmp_path_factory.mktemp("odoo-b"), environ)
    except BaseException:
        first.stop()
        raise
    yield first, second, prefix
    first.stop()
    second.stop()


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {k[len("cmdstat_"):]: v["calls"] for k, v in client.info("commandstats").items()
            if k not in ("cmdstat_info", "cmdstat_config|resetstat")}


def test_two_odoo_processes_share_logins_through_redis(two_odoos, redis_server):
    first, second, prefix = two_odoos
    raw = redis.Redis.from_url(redis_server.url)
    browser = requests.Session()

    # log in on the first process, the second knows you
    assert first.login(browser).status_code == 303
    reply = second.session_info(browser).json()
    assert reply["result"]["uid"] == 2 and reply["result"]["username"] == "admin"

    # round trips of a real Odoo request: 1 to load the session, 0 to save it when unchanged
    second.session_info(browser)  # get_session_info touch()es the session: saved once its bytes change
    version = {"jsonrpc": "2.0", "method": "call", "params": {}}
    browser.post(second.url + "/web/webclient/version_info", json=version, timeout=10)
    raw.config_resetstat()
    reply = browser.post(second.url + "/web/webclient/version_info", json=version, timeout=10)
    assert reply.status_code == 200
    stats = commandstats(raw)
    assert stats.get("evalsha") == 1 and "set" not in stats, stats
    print(f"\nround trips of one Odoo request (unchanged session): {stats}")
    raw.config_resetstat()
    second.session_info(browser)  # touch(): Odoo asks for a save; identical bytes are not written
    print(f"round trips of get_session_info (touch): {commandstats(raw)}")

    # Redis killed: a request needing the session fails fast with a 503, /web/health stays up
    redis_server.stop()
    try:
        started = time.monotonic()
        down = browser.get(first.url + "/odoo", allow_redirects=False, timeout=10)
        elapsed = time.monotonic() - started
        # fails fast: within the store's configured timeouts plus one request's work, not a hang
        deadline = failure_deadline(load_settings(first.environ).sessions) + 1.0
        assert down.status_code == 503 and elapsed < deadline, (down.status_code, elapsed, deadline)
        assert second.session_info(browser).status_code == 503
        assert requests.get(first.url + "/web/health", timeout=5).status_code == 200
        assert browser.get(second.url + "/web/health", timeout=5).status_code == 200  # with the cookie too
        log = first.log.read_text()
        assert "unavailable during get" in log and "Traceback" not in log
    finally:
        redis_server.start()

    # Redis back (empty: the test server keeps no data): log in again, no Odoo restart
    browser = requests.Session()
    assert second.login(browser).status_code == 303
    assert first.session_info(browser).json()["result"]["uid"] == 2

    # every key is under the prefix, with the expected TTLs
    keys = subprocess.run(["redis-cli", "-h", redis_server.host, "-p", str(redis_server.port), "--scan"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert keys and all(k.startswith(prefix + ":session:") for k in keys), keys
    ttls = {k: raw.ttl(k) for k in keys}
    logged_in = prefix + ":session:" + browser.cookies["session_id"]
    assert 86400 - 60 <= ttls[logged_in] <= 86400
    assert all(0 < t <= 86400 for t in ttls.values())
    print(f"redis-cli --scan: {len(keys)} key(s) under {prefix}:session:, TTLs {sorted(set(ttls.values()))}")
    raw.close()
