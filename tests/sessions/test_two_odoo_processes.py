"""Acceptance (issues 5 and 16): two Odoo processes on different ports share one Redis, on 18.0 and 19.0.

Log in on the first, the second knows you (each has its own data dir: nothing shared but Redis);
one Redis round trip per request to load the session, none to save an unchanged one; Redis killed:
503s quickly while /web/health stays up; Redis back: log in again without restarting Odoo; every
key is under the configured prefix with the expected TTL (`redis-cli --scan`).

On 19.0 the login also survives a soft rotation (every 3 h Odoo 19 gives the session a new id with the
same first 42 characters): the other process follows the new cookie, the old cookie keeps working for
concurrent requests until its predecessor is collected, and then only the new id remains in Redis.

The first process runs with --workers=2 (prefork), the second threaded. Each series is skipped (with the
reason) when its Odoo or venv is missing. The database is a copy of the session's `base` + `web` one.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from devstack._process import free_port, spawn, terminate, wait_ready
from devstack.odoo import ODOO_VENV, addons_paths, find_odoo, odoo_command, odoo_series
from devstack.odoo_db import OdooInstall
from devstack.paths import REPO_ROOT
from odoo_cloud.config import load_settings
from odoo_cloud.sessions import RedisSessionStore, codec
from odoo_cloud.sessions.connection import failure_deadline

from .test_legacy_session_redis import write_like_the_original

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Odoo 19's SESSION_ROTATION_INTERVAL and SESSION_DELETION_TIMER (odoo/http.py)
ROTATION_INTERVAL, DELETION_TIMER = 3 * 3600, 120


@dataclass(frozen=True)
class Odoo:
    """One Odoo series to run: its source root and the python of its venv."""

    series: str
    root: Path
    python: Path
    #: server-wide modules besides ours (19 moved /xmlrpc and /jsonrpc into the server-wide `rpc` module)
    load: str


def odoo_of(series: str) -> tuple[Odoo | None, str]:
    """(the Odoo of `series` on this machine, or None and why not)."""
    if series == "18.0":
        python = ODOO_VENV / "bin" / "python"
        root, why = find_odoo(str(python))
        if root is None or not python.exists():
            return None, f"no Odoo 18 to run: {why}"
        return Odoo(series, root, python, "base,web"), why
    root = Path(os.environ.get("ODOO19_SRC", "/opt/odoo19"))
    python = REPO_ROOT / ".venvs" / "odoo19" / "bin" / "python"
    if odoo_series(root) != "19.0" or not python.exists():
        return None, f"no Odoo 19: {root} holds {odoo_series(root)}; {python} exists: {python.exists()}"
    return Odoo(series, root, python, "base,rpc,web"), f"odoo 19.0 from {root}"


@pytest.fixture(scope="module", params=["18.0", "19.0"])
def odoo(request) -> Odoo:
    found, why = odoo_of(request.param)
    if found is None:
        pytest.skip(why)
    return found


def odoo_base_argv(odoo: Odoo, pg, dbname: str, run_dir: Path) -> list[str]:
    (run_dir / "odoo.conf").write_text("[options]\n")  # never ~/.odoorc
    addons = ",".join(str(p) for p in [*addons_paths(odoo.root), REPO_ROOT])
    return [*odoo_command(odoo.root, odoo.python),
            f"--config={run_dir / 'odoo.conf'}", "-d", dbname, f"--db-filter=^{dbname}$",
            f"--db_host={pg.host}", f"--db_port={pg.port}", f"--db_user={pg.user}",
            f"--addons-path={addons}", "--without-demo=all", "--max-cron-threads=0", "--log-level=warn"]


@pytest.fixture(scope="module")
def odoo_database(odoo, odoo_databases, tmp_path_factory):
    """A copy of the session's `base` + `web` database of this series (tests/conftest.py)."""
    return odoo_databases.copy(OdooInstall(odoo.series, odoo.root, odoo.python),
                               tmp_path_factory.mktemp("odoo-init") / "data", prefix="sessions")


class OdooProcess:
    def __init__(self, odoo: Odoo, pg, dbname: str, run_dir: Path, environ: dict[str, str], workers: int = 0):
        self.port = free_port()
        self.environ = environ
        self.log = run_dir / "odoo.log"
        argv = [*odoo_base_argv(odoo, pg, dbname, run_dir),
                f"--data-dir={run_dir / 'data'}", f"--load={odoo.load},session_redis",
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
def two_odoos(odoo, postgres_server, odoo_database, redis_server, tmp_path_factory):
    prefix = "acme-odoo-test-" + uuid.uuid4().hex[:6]
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": redis_server.url,
               "ODOO_SESSION_REDIS_PREFIX": prefix, "ODOO_SESSION_REDIS_EXPIRATION": "86400",
               "ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS": "1800", "ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "0.5",
               "ODOO_SESSION_REDIS_TIMEOUT": "0.5"}
    # the first is a prefork server (post_load in the master, clients built in the forked workers and in
    # the gevent process), the second a threaded one
    first = OdooProcess(odoo, postgres_server, odoo_database, tmp_path_factory.mktemp("odoo-a"), environ,
                        workers=2)
    try:
        second = OdooProcess(odoo, postgres_server, odoo_database, tmp_path_factory.mktemp("odoo-b"), environ)
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


def test_a_login_survives_a_soft_rotation_across_both_processes(odoo, two_odoos, redis_server):
    if odoo.series == "18.0":
        pytest.skip("Odoo 18 never soft-rotates sessions")
    first, second, prefix = two_odoos
    # the same store the Odoos use, from the core, to move the session's clock back as 3 hours would
    store = RedisSessionStore.from_settings(load_settings({
        "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": redis_server.url,
        "ODOO_SESSION_REDIS_PREFIX": prefix}).sessions)

    def age(sid: str, seconds: int) -> None:
        session = store.get(sid, record_activity=False)
        assert session.sid == sid, "the session must exist"
        session["create_time"] -= seconds
        store.save(session)

    browser = requests.Session()
    assert first.login(browser).status_code == 303
    assert second.session_info(browser).json()["result"]["uid"] == 2
    old_sid = browser.cookies["session_id"]

    def stale() -> requests.Session:
        """A concurrent request still carrying the old cookie (a fresh client each time)."""
        client = requests.Session()
        client.cookies.set("session_id", old_sid)
        return client

    age(old_sid, ROTATION_INTERVAL)
    assert second.session_info(browser).json()["result"]["uid"] == 2  # this request soft-rotates
    new_sid = browser.cookies["session_id"]
    assert new_sid != old_sid and new_sid[:42] == old_sid[:42]
    assert first.session_info(browser).json()["result"]["uid"] == 2  # the other process knows the new id
    late = first.session_info(stale())
    assert late.json()["result"]["uid"] == 2  # the old id works during the delay
    assert late.cookies.get("session_id") == new_sid  # ... and is sent to the same successor, not a third id
    assert store.get(old_sid, record_activity=False)["next_sid"] == new_sid

    age(new_sid, DELETION_TIMER)
    assert first.session_info(browser).json()["result"]["uid"] == 2  # collects the predecessor
    keys = [k.decode() for k in redis.Redis.from_url(redis_server.url).scan_iter(
        match=store.keys.session_pattern(old_sid[:42]))]
    assert keys == [store.keys.session(new_sid)]
    assert second.session_info(stale()).json().get("error", {}).get("code") == 100  # old id: logged out
    assert second.session_info(browser).json()["result"]["uid"] == 2
    store.connection.close()


def test_a_login_through_a_redis_cluster(odoo, postgres_server, odoo_database, redis_cluster, tmp_path):
    """Issue 13 item 4, in Odoo: session_redis builds the cluster store from the environment; the login is
    stored under the hash-tagged key, read back on the next request, and a logout (a hard rotation whose
    new id hashes to another slot) makes the logged-in id stop working."""
    prefix = "acme-odoo-test-" + uuid.uuid4().hex[:6]
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_CLUSTER": "1",
               "ODOO_SESSION_REDIS_HOST": "127.0.0.1", "ODOO_SESSION_REDIS_PORT": str(redis_cluster.port),
               "ODOO_SESSION_REDIS_PREFIX": prefix}
    server = OdooProcess(odoo, postgres_server, odoo_database, tmp_path, environ)
    raw = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    try:
        browser = requests.Session()
        assert server.login(browser).status_code == 303
        sid = browser.cookies["session_id"]
        assert server.session_info(browser).json()["result"]["uid"] == 2
        key = f"{prefix}:session:{{{sid[:42]}}}{sid[42:]}"
        assert raw.exists(key) == 1
        assert not raw.exists(f"{prefix}:session:{sid}")  # the single-server layout is not used

        assert browser.get(server.url + "/web/session/logout", allow_redirects=False, timeout=10).ok
        assert raw.exists(key) == 0
        stale = requests.Session()
        stale.cookies.set("session_id", sid)
        assert server.session_info(stale).json().get("error", {}).get("code") == 100  # logged out
        assert "Traceback" not in server.log.read_text()
    finally:
        raw.close()
        server.stop()


def test_a_session_the_original_wrote_keeps_its_user_logged_in_on_both_processes(two_odoos, redis_server):
    """Issue 13 item 5: a user logged in under camptocamp's session_redis (its key `session::<prefix>:<sid>`,
    its JSON) keeps the cookie and stays logged in on either process once ours replaces it."""
    first, second, prefix = two_odoos
    raw = redis.Redis.from_url(redis_server.url)
    browser = requests.Session()
    assert first.login(browser).status_code == 303
    sid = browser.cookies["session_id"]
    ours = f"{prefix}:session:{sid}"
    data = codec.unpack(raw.get(ours)).data
    raw.delete(ours)  # as if only the original had ever run
    legacy_key = write_like_the_original(raw, prefix, sid, data)

    assert second.session_info(browser).json()["result"]["uid"] == 2
    assert browser.cookies["session_id"] == sid
    assert raw.exists(legacy_key) == 0 and raw.exists(ours) == 1
    assert first.session_info(browser).json()["result"]["uid"] == 2
    raw.close()
