"""Acceptance of logging_json + monitoring_statsd in a real Odoo 18 and 19 server (odoo-bin subprocess).

Copies the session's `base` + `web` database (tests/conftest.py `odoo_databases`), then serves it with
``--load=base,web,logging_json,monitoring_statsd``, browses, logs in, calls a button, calls XML-RPC, and
checks every stderr line written after post_load (one JSON object each, with the documented fields, one
request id per request equal to the response's X-Request-ID) and the UDP packets received by the
session's statsd listener. Every test runs once per Odoo series found (18.0: the Odoo of .venvs/odoo;
19.0: $ODOO19_SRC or /opt/odoo19 run by .venvs/odoo19); a missing series is skipped with the reason.

The abuse tests send what an anonymous caller can send (XML-RPC, JSON-RPC, call_kw, call_button and, on
19, /json/2 with huge and distinct model/method names) and check from outside that the worker's memory
stays flat and that no metric is named after them, while a logged-in caller's calls to real models keep
their camptocamp names.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack._process import free_port
from devstack.odoo import ODOO_PYTHON, addons_path_option, find_venv_odoo, odoo_command, odoo_series
from devstack.odoo_db import OdooDatabases, OdooInstall
from devstack.paths import REPO_ROOT

CUSTOMER = "accept"
REQUIRED = ("timestamp", "level", "logger", "message", "pid", "thread", "dbname", "uid", "request_id")

pytestmark = pytest.mark.slow


ODOO19_PYTHON = REPO_ROOT / ".venvs" / "odoo19" / "bin" / "python"


def _odoo(series: str) -> tuple[Path, Path]:
    """(source root, python) of the Odoo `series` to run, or skip saying why there is none."""
    if series == "18.0":
        root, reason = find_venv_odoo()
        if root is None:
            pytest.skip(f"no Odoo 18 to run: {reason}")
        return root, ODOO_PYTHON
    root = Path(os.environ.get("ODOO19_SRC", "/opt/odoo19"))
    if odoo_series(root) != "19.0":
        pytest.skip(f"no Odoo 19 to run: {root} is not an Odoo 19.0 tree (set ODOO19_SRC)")
    if not ODOO19_PYTHON.exists():
        pytest.skip(f"no Odoo 19 to run: {ODOO19_PYTHON} missing")
    return root, ODOO19_PYTHON


def _odoo_root() -> Path:
    """The Odoo 18 source root (tests/operations builds its servers on it), or skip."""
    return _odoo("18.0")[0]


class OdooServer:
    def __init__(self, root: Path, postgres, statsd_listener, workdir: Path, python: Path = ODOO_PYTHON,
                 series: str = "18.0"):
        self.root, self.workdir, self.series, self.python = root, workdir, series, python
        self.dbname = "obs_" + uuid.uuid4().hex[:8]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gevent_port = free_port()
        self.workers = 0
        self.stderr_path = workdir / "odoo-stderr.log"
        self.env = dict(os.environ, ODOO_LOGGING_JSON="1", ODOO_STATSD="1", STATSD_CUSTOMER=CUSTOMER,
                        STATSD_HOST=statsd_listener.host, STATSD_PORT=str(statsd_listener.port),
                        RUNNING_ENV="integration", PYTHONUNBUFFERED="1")
        self.env.pop("ODOO_PY_COLORS", None)
        self.env.pop("STATSD_ENVIRONMENT", None)
        self.base = [
            *odoo_command(root, python),
            f"--addons-path={addons_path_option(root)}",
            f"--db_host={postgres.host}", f"--db_port={postgres.port}", f"--db_user={postgres.user}",
            f"--data-dir={workdir / 'data'}", "-d", self.dbname, f"--db-filter=^{self.dbname}$",
            "--load=base,web,logging_json,monitoring_statsd", "--without-demo=all", "--log-level=info",
            "--max-cron-threads=0", f"--gevent-port={self.gevent_port}",
        ]
        self.proc: subprocess.Popen | None = None

    def install(self, databases: OdooDatabases) -> None:
        """The database: a copy of the session's `base` + `web` one (devstack/odoo_db.py)."""
        odoo = OdooInstall(self.series, self.root, self.python)
        databases.copy(odoo, self.workdir / "data", name=self.dbname)

    def load_with_logfile(self) -> None:
        """The registry loaded once with --logfile: Odoo's WatchedFileHandler must write JSON too."""
        log = self.workdir / "odoo-install.log"
        self.logfile = self.workdir / "odoo-install-logfile.log"
        with open(log, "w") as out:
            argv = [*self.base, "--stop-after-init", "--http-port", str(free_port()),
                    "--workers=0", f"--logfile={self.logfile}"]
            rc = subprocess.run(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=600,
                                cwd=self.workdir, check=False).returncode
        assert rc == 0, f"odoo-bin --stop-after-init failed (rc={rc}), see {log}:\n" + log.read_text()[-3000:]

    def start(self, workers: int) -> None:
        """Serve with `workers` prefork workers (0: Odoo's threaded server)."""
        self.workers = workers
        self.stderr_path = self.workdir / f"odoo-stderr-workers-{workers}.log"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([*self.base, f"--http-port={self.port}", "--http-interface=127.0.0.1",
                                      f"--workers={workers}"],
                                     env=self.env, stdout=self._stderr, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "odoo-bin exited:\n" + self.stderr_path.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/web/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("odoo-bin did not answer /web/health in 120 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its workers and gevent process
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self._stderr.close()

    def lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.fixture(scope="module", params=["18.0", "19.0"], ids=["odoo18", "odoo19"])
def odoo_installed(request, postgres_server, statsd_listener, odoo_databases, tmp_path_factory):
    """A database with `web` installed (once per series for both server modes)."""
    root, python = _odoo(request.param)
    server = OdooServer(root, postgres_server, statsd_listener, tmp_path_factory.mktemp("odoo-observability"),
                        python=python, series=request.param)
    server.install(odoo_databases)
    server.load_with_logfile()
    return server


@dataclass
class Run:
    server: OdooServer
    responses: dict  # by the request id we sent
    lines: list      # odoo-bin's stderr
    packets: list    # metric lines received by the listener while it served


@pytest.fixture(scope="module", params=[0, 2], ids=["threaded", "prefork-2-workers"])
def odoo_run(request, odoo_installed, statsd_listener):
    """Serve, browse, stop: what the server wrote and sent."""
    server = odoo_installed
    statsd_listener.clear()
    server.start(workers=request.param)
    try:
        responses = _browse(server)
        time.sleep(0.5)  # the last access line is written after the response
        packets = statsd_listener.packets(timeout=2, min_count=20)
    finally:
        server.stop()
    return Run(server, responses, server.lines(), packets)


def _browse(server: OdooServer) -> dict[str, dict]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    seen = {}

    def call(request_id, path, payload=None, expect=200, base_url=server.url):
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"X-Request-ID": request_id} if request_id else {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(base_url + path, data=data, headers=headers)
        try:
            response = opener.open(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        body = response.read()
        assert response.status == expect, (path, response.status, body[:500])
        seen[request_id or response.headers["X-Request-ID"]] = {
            "path": path, "status": response.status, "header": response.headers.get("X-Request-ID"),
            "body": json.loads(body) if data is not None else None}
        return seen[request_id or response.headers["X-Request-ID"]]

    call("acc-health", "/web/health")
    if server.workers:  # prefork: the evented process (gevent's pywsgi, logger `longpolling`) serves too
        gevent_url = f"http://127.0.0.1:{server.gevent_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(gevent_url + "/web/health", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the gevent process never answered"
                time.sleep(0.3)
        call("acc-gevent", "/web/health", base_url=gevent_url)
    call("acc-login-page", "/web/login")
    auth = call("acc-authenticate", "/web/session/authenticate",
                {"jsonrpc": "2.0", "method": "call", "params": {"db": server.dbname, "login": "admin",
                                                                 "password": "admin"}})
    assert auth["body"]["result"]["uid"] == 2, auth["body"]
    call("acc-search", "/web/dataset/call_kw/res.partner/search_read",
         {"jsonrpc": "2.0", "method": "call", "params": {
             "model": "res.partner", "method": "search_read", "args": [[]],
             "kwargs": {"fields": ["name"], "limit": 5}}})
    button = call("acc-button", "/web/dataset/call_button",
                  {"jsonrpc": "2.0", "method": "call", "params": {
                      "model": "res.partner", "method": "open_commercial_entity", "args": [[1]],
                      "kwargs": {}}})
    assert "result" in button["body"], button["body"]
    call("bad id with spaces", "/web/health")  # replaced by a generated id
    call("acc-missing", "/definitely/not/here", expect=404)
    common = xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/common")
    uid = common.authenticate(server.dbname, "admin", "admin", {})
    models = xmlrpc.client.ServerProxy(server.url + "/xmlrpc/2/object")
    assert models.execute_kw(server.dbname, uid, "admin", "res.partner", "search_count", [[]]) >= 1
    return seen


ODOO_TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<pid>\d+) [A-Z]+ ")
#: written by odoo/cli/server.py with sys.stderr.write before logging is configured
PRE_LOGGING_LINES = {"Running as user 'root' is a security risk."}


def _json_lines(lines: list[str]) -> list[dict]:
    """Every line a process writes after its post_load must be one JSON object.

    Each process (prefork's master, workers, and the `odoo-bin gevent` process the master spawns, which
    starts Odoo from scratch) writes a few text lines before its own post_load: Odoo configures logging
    before any module is imported. Those are told apart by the pid in Odoo's text format. A child that
    dies in `import odoo` (environment problem, e.g. gevent without `pkg_resources`) prints a raw Python
    traceback: reported as a warning, not as a log line.
    """
    json_pids: set[int] = set()
    parsed, crashes, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"line {i + 1} of odoo-bin's output is not JSON: {line!r}") from None
            assert isinstance(record, dict), line
            json_pids.add(record.get("pid"))
            parsed.append(record)
        elif (match := ODOO_TEXT_LINE.match(line)) is not None:
            assert int(match["pid"]) not in json_pids, (
                f"line {i + 1}: text line from pid {match['pid']} after its post_load: {line!r}")
        elif line in PRE_LOGGING_LINES:
            pass
        elif line == "Traceback (most recent call last):" and "import odoo" in "".join(lines[i + 1:i + 3]):
            end = i + 1
            while end < len(lines) and lines[end][:1] == " ":
                end += 1
            crashes.append(lines[end] if end < len(lines) else "?")
            i = end
        else:
            raise AssertionError(f"line {i + 1} of odoo-bin's output is neither JSON nor a pre-post_load "
                                 f"line of a starting process: {line!r}")
        i += 1
    if crashes:
        warnings.warn(f"{len(crashes)} child odoo-bin process(es) died while importing odoo (raw Python "
                      f"traceback, not a log line): {crashes[0]}", stacklevel=2)
    assert parsed, "no JSON line at all:\n" + "\n".join(lines[:40])
    return parsed


def test_every_line_after_post_load_is_json_with_the_fields(odoo_run):
    records = _json_lines(odoo_run.lines)
    assert len(records) > 10
    for record in records:
        missing = [field for field in REQUIRED if field not in record]
        assert not missing, (missing, record)
    assert any(r["logger"] == "odoo.addons.logging_json" and "JSON log lines" in r["message"]
               for r in records)
    assert any(r["logger"] == "odoo.addons.monitoring_statsd" for r in records)
    assert all(r["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") for r in records)


def test_the_logfile_handler_writes_json_too(odoo_installed):
    server = odoo_installed
    records = _json_lines(server.logfile.read_text(encoding="utf-8").splitlines())
    assert any("Modules loaded" in r["message"] for r in records), [r["message"] for r in records[-5:]]
    assert all(r["dbname"] in (None, server.dbname) for r in records)
    assert not [r for r in records if r["request_id"] is not None]  # no HTTP request while loading


def test_one_request_id_per_request_equal_to_the_response_header(odoo_run):
    server, responses = odoo_run.server, odoo_run.responses
    records = _json_lines(odoo_run.lines)
    access = {r["request_id"]: r for r in records
              if r["logger"] in ("werkzeug", "longpolling") and "http_status" in r}
    for request_id, response in responses.items():
        if request_id != "bad id with spaces":
            assert response["header"] == request_id
        line = access.get(response["header"])
        assert line is not None, (request_id, response, sorted(access))
        assert line["http_path"].split("?")[0] == response["path"]
        assert line["http_status"] == response["status"]
        assert line["dbname"] in (server.dbname, None)
    if server.series == "19.0":  # 19 appends '#<model>.<method>' to the path: kept apart, path unchanged
        assert access["acc-search"]["rpc_model_method"] == "res.partner.search_read"
    generated = responses["bad id with spaces"]["header"]
    assert generated != "bad id with spaces" and len(generated) == 32
    login = access["acc-authenticate"]
    assert login["http_method"] == "POST" and isinstance(login["sql_count"], int) and login["sql_count"] > 0
    assert isinstance(login["http_response_bytes"], int) and login["http_response_bytes"] > 0
    assert isinstance(login["duration_ms"], float) and isinstance(login["sql_time_ms"], float)
    assert login["dbname"] == server.dbname and login["uid"] == 2
    # lines logged inside a request carry its id: the authenticate request logs the login
    inside = [r for r in records if r["request_id"] == "acc-authenticate" and r["logger"] != "werkzeug"]
    assert any("Login successful" in r["message"] for r in inside), inside
    # lines outside requests (server start, shutdown) carry none
    assert any(r["request_id"] is None for r in records)


def test_metrics_reach_the_listener(odoo_run):
    lines = odoo_run.packets
    names = [line.partition(":")[0] for line in lines]
    scope = f"{CUSTOMER}.integration"
    assert f"odoo.http.request.{scope}" in names
    assert f"odoo.http.button.{scope}.res_partner.open_commercial_entity" in names
    assert f"odoo.http.status.{scope}.2xx" in names and f"odoo.http.status.{scope}.4xx" in names
    assert f"odoo.http.sql_count.{scope}" in names and f"odoo.http.sql_time.{scope}" in names
    assert f"odoo.rpc.{scope}.res_partner.search_count" in names
    timers = [line for line in lines if line.startswith(f"odoo.http.request.{scope}:")]
    assert timers and all(line.endswith("|ms") for line in timers)


# ------------------------------------------------------------------ hostile requests, secrets (issue 10)
#: query strings that made the access-line masking backtrack (20 s for the first one on 7 KB)
HOSTILE_QUERIES = {
    "?token?token…=": "token?" * 1200 + "=",
    "a=&a=&…": "a=&" * 2400,
    "%%%…": "%" * 7000,
    "&&&…": "&" * 7000,
    "?token=?token=…": "?token=" * 1000,
    "'a':'a':…": "'a':" * 1750,
    "://:a://:a…": "://:a" * 1400,
}


@dataclass
class HostileRun:
    lines: list       # odoo-bin's output
    seconds: dict     # shape -> seconds to the answer
    statuses: dict    # name -> HTTP status
    planted: list     # secrets sent in requests or in the configuration
    password: str


def _timed_get(url: str, headers: dict | None = None) -> tuple[int, float]:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=120) as resp:
            resp.read()
            status = resp.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.monotonic() - start


@pytest.fixture(scope="module")
def hostile_run(odoo_installed, redis_server_password, tmp_path_factory):
    """logging_json + session_redis on a Redis whose password is in the URL's query string; hostile
    query strings and headers, secrets in request URLs, then Redis stopped (503) and restarted."""
    import copy

    redis_srv = redis_server_password
    server = copy.copy(odoo_installed)
    server.workdir = tmp_path_factory.mktemp("odoo-hostile")
    server.env = dict(server.env, ODOO_SESSION_REDIS="1", ODOO_SESSION_REDIS_PREFIX="accept-odoo-integration",
                      ODOO_SESSION_REDIS_URL=f"redis://{redis_srv.host}:{redis_srv.port}/0?password="
                                             f"{redis_srv.password}")
    server.base = [arg.replace("monitoring_statsd", "monitoring_statsd,session_redis")
                   if arg.startswith("--load=") else arg for arg in server.base]
    planted = [f"PlantedAccess{uuid.uuid4().hex[:10]}" for _ in range(5)]
    seconds, statuses = {}, {}
    server.start(workers=0)
    try:
        _timed_get(f"{server.url}/web/login")  # warm-up: the first page render builds its assets
        for name, query in HOSTILE_QUERIES.items():
            statuses[name], seconds[name] = _timed_get(f"{server.url}/web/health?{query}")
            statuses[f"{name} (login page)"], seconds[f"{name} (login page)"] = _timed_get(
                f"{server.url}/web/login?{query}")
        hostile_headers = {"X-Request-ID": "token?" * 1200 + "=", "User-Agent": "a=&" * 2400,
                           "Referer": "http://x/?" + "token?" * 1200 + "=",
                           "Cookie": "session_id=" + "%" * 6000}
        statuses["headers"], seconds["headers"] = _timed_get(f"{server.url}/web/health", hostile_headers)
        statuses["portal token"], _ = _timed_get(f"{server.url}/my/orders/1?access_token={planted[0]}"
                                                 f"&report_type=pdf")
        statuses["portal hash"], _ = _timed_get(f"{server.url}/mail/view?model=res.partner&res_id=1"
                                                f"&hash={planted[1]}&pid=3")
        statuses["reset token"], _ = _timed_get(f"{server.url}/web/reset_password?token={planted[2]}")
        statuses["id with a secret"], _ = _timed_get(f"{server.url}/web/health",
                                                     {"X-Request-ID": f"access_token={planted[3]}"})
        statuses["health, password param"], _ = _timed_get(f"{server.url}/web/health?password={planted[4]}")
        redis_srv.stop()
        try:
            # a well-formed session cookie: the store must ask Redis (a visitor without one never does)
            statuses["login page, Redis down"], _ = _timed_get(f"{server.url}/web/login",
                                                               {"Cookie": "session_id=" + "A" * 84})
            statuses["health, Redis down"], _ = _timed_get(f"{server.url}/web/health")
        finally:
            redis_srv.start()
        time.sleep(0.5)  # the last access line is written after the response
    finally:
        server.stop()
    return HostileRun(server.lines(), seconds, statuses, planted, redis_srv.password)


def test_hostile_query_strings_and_headers_are_answered_at_once(hostile_run):
    slow = {name: round(value, 2) for name, value in hostile_run.seconds.items() if value >= 1.0}
    assert not slow, f"answered in >= 1 s with logging_json on: {slow}"
    assert hostile_run.statuses["?token?token…= (login page)"] == 200
    assert hostile_run.statuses["headers"] == 200
    records = _json_lines(hostile_run.lines)
    paths = [r["http_path"] for r in records if r.get("http_path", "").startswith("/web/health?")]
    assert len(paths) >= len(HOSTILE_QUERIES) and all(len(path) <= 8192 + 64 for path in paths), \
        sorted(len(path) for path in paths)


def test_no_secret_from_a_request_or_the_redis_url_reaches_the_log(hostile_run):
    text = "\n".join(hostile_run.lines)
    for secret in (hostile_run.password, *hostile_run.planted):
        assert secret not in text, secret
    records = _json_lines(hostile_run.lines)
    started = [r["message"] for r in records if "HTTP sessions are stored in Redis" in r["message"]]
    assert started and all("?password=****" in message for message in started), started
    assert hostile_run.statuses["login page, Redis down"] == 503
    assert hostile_run.statuses["health, Redis down"] == 200
    unavailable = [r["message"] for r in records if r["level"] == "ERROR"
                   and "Redis session store" in r["message"] and "unavailable" in r["message"]]
    assert unavailable and all("?password=****" in message for message in unavailable), unavailable
    assert any("access_token=****" in r.get("http_path", "") for r in records)
    assert any("hash=****" in r.get("http_path", "") for r in records)


# ---------------------------------------------------------------------------------- unauthenticated abuse
HUGE = 5 * 1024 * 1024
#: 40 huge names kept would be >= 200 MB; what parsing 5 MB bodies leaves in the allocator varies (up to
#: ~45 MB seen on a loaded machine, after the warm-up)
MEMORY_MARGIN_MB = 80


def _worker_pid(server: OdooServer) -> int:
    """The single prefork HTTP worker (a forked child of the master, not the `gevent` process)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(server.proc.pid)], capture_output=True,
                             text=True, check=False).stdout
        workers = [int(line.split()[0]) for line in out.splitlines() if line.strip() and "gevent" not in line]
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.3)
    raise AssertionError(f"expected one HTTP worker under {server.proc.pid}:\n{out}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _post(url: str, body: bytes, content_type: str, headers: dict | None = None,
          opener=None) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type, **(headers or {})}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _xmlrpc(server: OdooServer, password: str, model: str, method: str) -> bytes:
    body = xmlrpc.client.dumps((server.dbname, 2, password, model, method, [[]]), "execute_kw").encode()
    status, answer = _post(server.url + "/xmlrpc/2/object", body, "text/xml")
    assert status == 200, (status, answer[:300])
    return answer


def _jsonrpc(server: OdooServer, path: str, params: dict, opener=None) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}).encode()
    status, answer = _post(server.url + path, body, "application/json", opener=opener)
    assert status == 200, (path[:80], status, answer[:300])
    return json.loads(answer)


#: no password: refused before any hash is computed (a wrong one costs Odoo a pbkdf2 round each time)
NO_PASSWORD = ""


def _anonymous_abuse(server: OdooServer, tag: str, huge_count: int, shapes_count: int,
                     distinct_count: int) -> None:
    """Every shape of model/method name a caller without valid credentials (or with them, but naming
    nothing that exists) controls: the quoted attack (XML-RPC refused authentication, distinct 5 MB model
    names), the other paths with 1 MB names, then more distinct short names than the per-process cache
    holds (anonymous, and logged in but naming models that do not exist)."""
    for i in range(huge_count):
        _xmlrpc(server, NO_PASSWORD, f"{tag}{i}" + "m" * HUGE, "read")
    for i in range(shapes_count):
        name = f"{tag}{i}" + "n" * (1024 * 1024)
        _xmlrpc(server, "wrong password", name, "read")
        _xmlrpc(server, NO_PASSWORD, "res.partner", name)
        _jsonrpc(server, "/jsonrpc", {"service": "object", "method": "execute_kw",
                                      "args": [server.dbname, 2, NO_PASSWORD, name, "read", [[]]]})
        _jsonrpc(server, "/web/dataset/call_kw/x/y", {"model": name, "method": "read", "args": [[]],
                                                      "kwargs": {}})
        _jsonrpc(server, "/web/dataset/call_button", {"model": name, "method": name, "args": [[1]],
                                                      "kwargs": {}})
        # logged in over XML-RPC, but the model or the method does not exist (or is private)
        _xmlrpc(server, "admin", name, "read")
        _xmlrpc(server, "admin", "res.partner", "no_such_method_" + name)
        _xmlrpc(server, "admin", "res.partner", "_private_" + name)
        if server.series == "19.0":
            status, _ = _post(f"{server.url}/json/2/{tag}{i}{'m' * 8000}/{'x' * 8000}", b"{}",
                              "application/json")
            assert status in (401, 404), status
    for i in range(distinct_count):
        _xmlrpc(server, NO_PASSWORD, f"{tag}.model{i}", f"method{i}")
        if i % 3 == 0:
            _xmlrpc(server, "admin", f"{tag}.logged.model{i}", "read")
        if server.series == "19.0" and i % 6 == 0:
            _post(f"{server.url}/json/2/{tag}.model{i}/read", b"{}", "application/json")


def _authenticated_calls(server: OdooServer) -> list[str]:
    """Real models through every RPC path a logged-in user has; returns the metric names they must give."""
    scope = f"{CUSTOMER}.integration"
    assert int(xmlrpc.client.loads(_xmlrpc(server, "admin", "res.partner", "search_count"))[0][0]) >= 1
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    login = _jsonrpc(server, "/web/session/authenticate",
                     {"db": server.dbname, "login": "admin", "password": "admin"}, opener=opener)
    assert login["result"]["uid"] == 2, login
    button = _jsonrpc(server, "/web/dataset/call_button", {"model": "res.partner", "method":
                      "open_commercial_entity", "args": [[1]], "kwargs": {}}, opener=opener)
    assert "result" in button, button
    expected = [f"odoo.rpc.{scope}.res_partner.search_count",
                f"odoo.http.button.{scope}.res_partner.open_commercial_entity"]
    if server.series == "19.0":  # a session user may call /json/2 from a browser tab (Sec-Fetch headers)
        sec_fetch = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
                     "Sec-Fetch-Site": "same-origin", "Sec-Fetch-User": "?1"}
        status, body = _post(server.url + "/json/2/res.users/search_count", b'{"domain": []}',
                             "application/json", headers=sec_fetch, opener=opener)
        assert status == 200, body[:300]
        expected.append(f"odoo.rpc.{scope}.res_users.search_count")
    return expected


def test_anonymous_rpc_names_grow_no_memory_and_no_metric(odoo_installed, statsd_listener):
    server = odoo_installed
    statsd_listener.clear()
    server.start(workers=1)
    try:
        worker = _worker_pid(server)
        _anonymous_abuse(server, "warm", 6, 2, 2)  # allocator arenas for 5 MB bodies, caches, imports
        before = _rss_mb(worker)
        _anonymous_abuse(server, "abuse", huge_count=40, shapes_count=5, distinct_count=600)
        assert _worker_pid(server) == worker, "the worker was replaced: its memory was not measured"
        after = _rss_mb(worker)
        expected = _authenticated_calls(server)
        time.sleep(0.5)
        packets = statsd_listener.packets(timeout=2, min_count=10)
    finally:
        server.stop()
    grown = after - before
    print(f"\n[{server.series}] HTTP worker RSS {before:.0f} -> {after:.0f} MB after the abuse")
    assert grown < MEMORY_MARGIN_MB, f"worker RSS grew {grown:.0f} MB ({before:.0f} -> {after:.0f} MB)"
    names = {line.partition(":")[0] for line in packets}
    assert all(name in names for name in expected), sorted(n for n in names if ".rpc." in n or "button" in n)
    dynamic = {n for n in names if n.startswith(("odoo.rpc.", "odoo.http.button."))}
    assert dynamic == set(expected), sorted(dynamic - set(expected))[:5]
    assert not any(len(name) > 300 for name in names)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
