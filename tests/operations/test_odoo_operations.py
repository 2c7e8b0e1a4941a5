"""Acceptance of issue 11 in a real Odoo 18 (odoo-bin subprocesses) with real servers.

``--load=base,web,session_redis,logging_json,monitoring_readiness,monitoring_prometheus`` against the
session's PostgreSQL, Redis (sessions) and SeaweedFS (attachments' bucket):

- prefork, 2 workers: ``/web/health/ready`` is 200 with every check; a probe storm (200/s for 10 s) costs
  a bounded number of PINGs and LISTs (counted by Redis and SeaweedFS themselves) and never a cookie or
  a session; stopping Redis, then the S3 server, turns it 503 naming that check, and 200 again after;
  a ``traceparent`` header's trace id is on every JSON line of its request;
- prefork, 2 workers recycled every 25 requests, scraped by a real Prometheus (Debian's package) every
  second: PromQL over its HTTP API sees every request once, counts never go back, a latency quantile;
- threaded: the same route and the metrics listener work without workers.

Skipped, with the reason, where no Odoo 18 or no ``prometheus`` binary exists.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

from devstack._process import free_port
from devstack.odoo_env import s3_variables, session_redis_variables
from tests.observability.test_odoo_server import OdooServer, _json_lines, _odoo_root

pytestmark = pytest.mark.slow

LOAD = "--load=base,web,session_redis,logging_json,monitoring_readiness,monitoring_prometheus"
READY = "/web/health/ready"
CHECK_TIMEOUT = 1.0
CACHE_SECONDS = 1.0
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


# ------------------------------------------------------------------------------------------- helpers
def get(url: str, headers: dict | None = None, data: bytes | None = None, timeout: float = 30):
    """(status, headers, body) without following redirects or keeping cookies."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def ready(server) -> tuple[int, dict, float, object]:
    start = time.monotonic()
    status, headers, body = get(server.url + READY, timeout=CHECK_TIMEOUT + 10)
    return status, json.loads(body), time.monotonic() - start, headers


def session_keys(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=1000))


def pings(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))


@pytest.fixture(scope="module")
def stack(postgres_server, statsd_listener, redis_server, s3_server, odoo_databases, tmp_path_factory):
    """An Odoo database with `web` installed and the variables of every run."""
    root = _odoo_root()
    workdir = tmp_path_factory.mktemp("odoo-operations")
    server = OdooServer(root, postgres_server, statsd_listener, workdir)
    prefix = "ops-" + uuid.uuid4().hex[:8]
    bucket = "ops-" + uuid.uuid4().hex[:10]
    s3_server.create_bucket(bucket)
    server.env.update(session_redis_variables(redis_server, prefix))
    server.env.update(s3_variables(s3_server, bucket))
    server.env.update(ODOO_READINESS_TIMEOUT=str(CHECK_TIMEOUT),
                      ODOO_READINESS_CACHE_SECONDS=str(CACHE_SECONDS), ODOO_PROMETHEUS="1",
                      ODOO_PROMETHEUS_INTERFACE="127.0.0.1",
                      ODOO_PROMETHEUS_PORT=str(free_port()), RUNNING_ENV="dev")
    server.base = [LOAD if arg.startswith("--load=") else arg for arg in server.base]
    server.install(odoo_databases)
    server.prefix, server.bucket = prefix, bucket
    server.redis = redis.Redis(host=redis_server.host, port=redis_server.port)
    return server


def serve(server, workers: int, *args: str, **extra: str):
    server.env.update(extra)
    base = server.base
    server.base = [*base, *args]
    try:
        server.start(workers=workers)
    finally:
        server.base = base
    if workers:  # /web/health answered by one worker: wait for the other one too
        for _ in range(4):
            get(server.url + "/web/health")


# ------------------------------------------------------------------------------ readiness, prefork
@pytest.fixture(scope="class")
def prefork(stack):
    serve(stack, 2)
    yield stack
    stack.stop()


@pytest.mark.usefixtures("prefork")
class TestReadinessPrefork:
    def test_ready_with_every_check_and_no_cookie_no_session(self, stack):
        keys = session_keys(stack.redis, stack.prefix)
        for _ in range(6):
            status, body, _, headers = ready(stack)
            assert status == 200, body
            assert set(body["checks"]) == {"postgresql", "redis", "object_store"}
            assert body["status"] == "pass" and all(c["status"] == "pass" for c in body["checks"].values())
            assert headers.get("Set-Cookie") is None and headers["Cache-Control"] == "no-store"
        assert session_keys(stack.redis, stack.prefix) == keys
        # liveness stays Odoo's own answer
        assert json.loads(get(stack.url + "/web/health")[2]) == {"status": "pass"}

    @pytest.mark.parametrize("dependency", ["redis", "object_store"])
    def test_an_outage_is_503_naming_the_check_then_200_again(self, stack, dependency, redis_server,
                                                              s3_server):
        target = redis_server if dependency == "redis" else s3_server
        assert ready(stack)[0] == 200
        target.stop()
        try:
            stopped = time.monotonic()
            while True:
                status, body, took, _ = ready(stack)
                assert took < CHECK_TIMEOUT + 1, took
                if status == 503:
                    break
                assert time.monotonic() - stopped < CACHE_SECONDS + CHECK_TIMEOUT + 1, body
                time.sleep(0.1)
            failing = {name: check["reason"] for name, check in body["checks"].items()
                       if check["status"] == "fail"}
            assert body["status"] == "fail" and failing == {dependency: "refused"}, body
        finally:
            target.start()
        back = time.monotonic()
        # every worker must have seen it back: several 200 in a row
        passes = 0
        while passes < 4:
            status, body, _, _ = ready(stack)
            passes = passes + 1 if status == 200 else 0
            assert time.monotonic() - back < CACHE_SECONDS + CHECK_TIMEOUT + 5, body
            time.sleep(0.1)

    def test_the_trace_id_is_on_every_line_of_the_request(self, stack):
        payload = json.dumps({"jsonrpc": "2.0", "method": "call", "params": {
            "db": stack.dbname, "login": "admin", "password": "admin"}}).encode()
        headers = {"Content-Type": "application/json", "X-Request-ID": "ops-traced",
                   "traceparent": f"00-{TRACE}-{PARENT}-01"}
        status, _, body = get(stack.url + "/web/session/authenticate", headers, payload)
        assert status == 200 and json.loads(body)["result"]["uid"] == 2
        untraced = {"Content-Type": "application/json", "X-Request-ID": "ops-untraced",
                    "traceparent": f"00-{TRACE.upper()}-{PARENT}-01"}  # invalid: uppercase
        assert get(stack.url + "/web/session/authenticate", untraced, payload)[0] == 200
        time.sleep(0.5)  # the access line is written after the response
        records = _json_lines(stack.lines())
        traced = [r for r in records if r["request_id"] == "ops-traced"]
        assert any("Login successful" in r["message"] for r in traced), traced
        assert any(r["logger"] == "werkzeug" and r.get("http_status") == 200 for r in traced), traced
        assert {r["trace_id"] for r in traced} == {TRACE}
        spans = {r["span_id"] for r in traced}
        assert len(spans) == 1 and PARENT not in spans
        other = {r["trace_id"] for r in records if r["request_id"] == "ops-untraced"}
        assert len(other) == 1 and other != {TRACE} and len(next(iter(other))) == 32

    def test_a_probe_storm_costs_a_few_calls_per_process_per_interval(self, stack, s3_server):
        """Last of the class: its 2000 connections leave as many local ports in TIME_WAIT, where a
        restarted server (the outage tests) could not bind again."""
        rate, seconds = 200, 10.0
        keys, pings_before = session_keys(stack.redis, stack.prefix), pings(stack.redis)
        lists_before = s3_server.s3_requests(stack.bucket, "LIST")
        start = time.monotonic()

        def probe(i):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status, headers, _ = get(stack.url + READY)
            return status, headers.get("Set-Cookie")

        # 12 clients: below the prefork listen backlog (8 per worker), no SYN retransmit delays
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(probe, range(int(rate * seconds))))
        elapsed = time.monotonic() - start
        assert answers == [(200, None)] * len(answers)
        calls_redis = pings(stack.redis) - pings_before
        calls_s3 = s3_server.s3_requests(stack.bucket, "LIST") - lists_before
        # 2 worker processes, one round per CACHE_SECONDS each, +1 for a round in flight at each edge
        bound = 2 * (elapsed / CACHE_SECONDS + 2)
        assert 1 <= calls_redis <= bound, (calls_redis, bound, elapsed)
        assert 1 <= calls_s3 <= bound, (calls_s3, bound, elapsed)
        assert session_keys(stack.redis, stack.prefix) == keys


# ----------------------------------------------------------------------- Prometheus, real scraper
class Prometheus:
    """Debian's prometheus binary on a free port, scraping `target` every second (not the service)."""

    def __init__(self, workdir: Path, target: str):
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.skip("no prometheus binary (apt-get install -y prometheus)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                          f"  - job_name: odoo\n    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(workdir / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._ready():
            assert self.proc.poll() is None, (workdir / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus did not get ready in 30 s"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return get(self.url + "/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def query(self, promql: str) -> list:
        status, _, body = get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", data
        return data["data"]["result"]

    def scalar(self, promql: str):
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="class")
def scraped(stack, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus-multiproc")
    serve(stack, 2, "--limit-request=25", PROMETHEUS_MULTIPROC_DIR=str(directory))
    stack.env.pop("PROMETHEUS_MULTIPROC_DIR")
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"),
                            f"127.0.0.1:{stack.env['ODOO_PROMETHEUS_PORT']}")
    try:
        yield stack, prometheus, directory
    finally:
        prometheus.stop()
        stack.stop()


def test_prometheus_sees_every_request_of_recycled_workers(stack, scraped):
    """One scrape session: 2 workers recycled every 25 requests (Odoo's --limit-request)."""
    _, prometheus, directory = scraped
    # the public port does not serve the metrics; the listener of their own does
    assert get(stack.url + "/metrics")[0] == 404
    metrics_url = f"http://127.0.0.1:{stack.env['ODOO_PROMETHEUS_PORT']}/metrics"
    assert b"odoo_http_request_duration_seconds" in get(metrics_url)[2]
    health = 'odoo_http_request_duration_seconds_count{route_type="health",method="GET",status_class="2xx"}'
    # the warm-up requests of serve() and the ones below, all /web/health* answered 200
    # what serve() sent before Prometheus started: wait until two scrapes agree
    deadline = time.monotonic() + 30
    seen = [None, None]
    while seen[-1] is None or seen[-1] != seen[-2]:
        assert time.monotonic() < deadline, f"prometheus never scraped the Odoo listener: {seen}"
        time.sleep(1.1)
        seen.append(prometheus.scalar(f"sum({health})"))
    sent = int(seen[-1])
    for i in range(150):
        status = get(stack.url + ("/web/health" if i % 10 else READY))[0]
        assert status == 200
        sent += 1
        if i % 30 == 0:
            time.sleep(1.2)  # scrapes while workers are being recycled
    deadline = time.monotonic() + 20
    while prometheus.scalar(f"sum({health})") != sent:
        assert time.monotonic() < deadline, (prometheus.scalar(f"sum({health})"), sent)
        time.sleep(0.5)
    time.sleep(1.5)  # at least one more scrape
    records = _json_lines(stack.lines())
    recycled = {r["pid"] for r in records if "max request" in r["message"]}
    served = {r["pid"] for r in records if r["logger"] == "werkzeug" and r.get("http_path") == "/web/health"}
    assert len(recycled) >= 3 and len(served) >= 4, (recycled, served)
    # counts never went back while workers came and went, and add up over every process
    assert prometheus.scalar(f"sum(resets({health}[5m]))") == 0
    assert prometheus.scalar(f"sum({health})") == sent
    assert prometheus.scalar(f"max_over_time(sum({health})[5m:1s])") == sent
    quantile = prometheus.scalar('histogram_quantile(0.9, sum by (le) '
                                 '(odoo_http_request_duration_seconds_bucket{route_type="health"}))')
    assert quantile is not None and 0 < quantile <= 60
    # the readiness checks' store calls and the workers' figures
    assert prometheus.scalar('sum(odoo_storage_operation_duration_seconds_count'
                             '{backend="s3",operation="list",outcome="ok"})') >= 1
    assert prometheus.scalar("sum(odoo_worker_cpu_seconds_total)") > 0
    memory = prometheus.query("odoo_worker_resident_memory_bytes")
    assert memory and all(float(sample["value"][1]) > 10 * 2**20 for sample in memory)
    assert {sample["metric"]["pid"] for sample in memory}.isdisjoint({str(pid) for pid in recycled})
    # exited workers were folded into the archive: no file of theirs is left
    files = os.listdir(directory)
    assert any(name.endswith("_archive.db") for name in files), files
    assert not [name for name in files if any(name.endswith(f"_{pid}.db") for pid in recycled)], files


# ----------------------------------------------------------------------------------------- threaded
def test_threaded_server_serves_readiness_and_metrics(stack):
    serve(stack, 0)
    try:
        status, body, _, headers = ready(stack)
        assert status == 200 and set(body["checks"]) == {"postgresql", "redis", "object_store"}, body
        assert headers.get("Set-Cookie") is None
        assert get(stack.url + READY, data=b"x")[0] == 405
        text = get(f"http://127.0.0.1:{stack.env['ODOO_PROMETHEUS_PORT']}/metrics")[2].decode()
        # labels of the multiprocess exposition come sorted by name
        assert ('odoo_http_request_duration_seconds_count{method="GET",route_type="health",'
                'status_class="2xx"}') in text, text[:3000]
    finally:
        stack.stop()


# ------------------------------------------------------------------------------------------- Odoo 19
ODOO19 = Path(os.environ.get("ODOO19_SRC", "/opt/odoo19"))
ODOO19_PYTHON = Path(__file__).resolve().parents[2] / ".venvs" / "odoo19" / "bin" / "python"


def _odoo19_root() -> Path:
    from devstack.odoo import odoo_series

    if odoo_series(ODOO19) != "19.0" or not ODOO19_PYTHON.exists():
        pytest.skip(f"no Odoo 19 to run ({ODOO19} with {ODOO19_PYTHON})")
    return ODOO19


def _json_records(lines: list[str]) -> list[dict]:
    """The JSON lines (logging_json's 19.0 support is another module's work: not every line is checked)."""
    records = []
    for line in lines:
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def test_odoo19_prefork_readiness_metrics_and_trace(postgres_server, statsd_listener, s3_server,
                                                    tmp_path_factory):
    """The same glue on Odoo 19.0 (prefork, 2 workers): readiness with an outage, metrics, trace ids."""
    root = _odoo19_root()
    server = OdooServer(root, postgres_server, statsd_listener, tmp_path_factory.mktemp("odoo19-operations"))
    server.base[0] = str(ODOO19_PYTHON)
    bucket = "ops19-" + uuid.uuid4().hex[:10]
    s3_server.create_bucket(bucket)
    server.env.update(s3_variables(s3_server, bucket))
    server.env.update(ODOO_READINESS_TIMEOUT=str(CHECK_TIMEOUT),
                      ODOO_READINESS_CACHE_SECONDS=str(CACHE_SECONDS), ODOO_PROMETHEUS="1",
                      ODOO_PROMETHEUS_INTERFACE="127.0.0.1", ODOO_PROMETHEUS_PORT=str(free_port()),
                      RUNNING_ENV="dev")
    # no database at all (installing one costs minutes): readiness, metrics and trace ids need none
    base = [arg for arg in server.base
            if arg not in ("-d", server.dbname) and not arg.startswith("--db-filter")]
    server.base = ["--load=base,web,logging_json,monitoring_readiness,monitoring_prometheus"
                   if arg.startswith("--load=") else arg for arg in base]
    serve(server, 2)
    try:
        status, body, _, headers = ready(server)
        assert status == 200 and set(body["checks"]) == {"postgresql", "object_store"}, body
        assert headers.get("Set-Cookie") is None
        with s3_server.outage():
            deadline = time.monotonic() + CACHE_SECONDS + CHECK_TIMEOUT + 1
            while (answer := ready(server))[0] != 503:
                assert time.monotonic() < deadline, answer[1]
                time.sleep(0.1)
            assert answer[1]["checks"]["object_store"]["reason"] == "refused"
        deadline = time.monotonic() + CACHE_SECONDS + CHECK_TIMEOUT + 5
        while ready(server)[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        traced = {"X-Request-ID": "ops19-traced", "traceparent": f"00-{TRACE}-{PARENT}-01"}
        assert get(server.url + "/web/health", traced)[0] == 200
        metrics = get(f"http://127.0.0.1:{server.env['ODOO_PROMETHEUS_PORT']}/metrics")[2].decode()
        assert 'odoo_http_request_duration_seconds_count{method="GET",route_type="health",' \
               'status_class="2xx"}' in metrics
        time.sleep(0.5)
        lines = [r for r in _json_records(server.lines()) if r.get("request_id") == "ops19-traced"]
        assert any(r.get("http_status") == 200 for r in lines), lines  # the access line at least
        assert {r["trace_id"] for r in lines} == {TRACE}, lines
    finally:
        server.stop()
