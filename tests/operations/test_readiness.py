"""Readiness checks against real servers: PostgreSQL, Redis, SeaweedFS S3 (no Odoo needed).

Failures are provoked for real: servers stopped, wrong passwords and keys, a port that accepts and never
answers. The Odoo route itself is tested in test_odoo_operations.py.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
import uuid

import psycopg2
import pytest
import redis

from devstack.odoo_env import s3_variables, session_redis_variables
from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.readiness import Readiness, classify, readiness_checks, run_checks

TIMEOUT = 1.0


@pytest.fixture
def bucket(s3_server):
    name = "ready-" + uuid.uuid4().hex[:10]
    s3_server.create_bucket(name)
    return name


def environment(redis_server, s3_server, bucket, **extra):
    return {**session_redis_variables(redis_server, "ready"), **s3_variables(s3_server, bucket),
            "ODOO_READINESS_TIMEOUT": str(TIMEOUT), **extra}


def postgres_select(postgres_server, port=None):
    def select_one():
        connection = psycopg2.connect(host=postgres_server.host, port=port or postgres_server.port,
                                      user=postgres_server.user, dbname="postgres", connect_timeout=2)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connection.close()

    return select_one


def ready(environ, postgres=None, cache_seconds=0.0):
    settings = load_settings(environ)
    return Readiness(readiness_checks(settings, postgres), settings.readiness.timeout, cache_seconds)


def test_all_up_is_200_with_every_configured_check(redis_server, s3_server, bucket, postgres_server):
    readiness = ready(environment(redis_server, s3_server, bucket), postgres_select(postgres_server))
    status, body = readiness.answer()
    assert status == 200, body
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"postgresql", "redis", "object_store"}
    assert all(check["status"] == "pass" for check in body["checks"].values())


def test_check_connect_shows_the_readiness_checks(redis_server, s3_server, bucket, postgres_server,
                                                  tmp_path):
    """`odoo-cloud check --connect`: the same checks, PostgreSQL from -c FILE's db_* options. (Before the
    outage tests: right after a restart SeaweedFS may refuse the write probe of `connect s3 store`.)"""
    import subprocess

    config = tmp_path / "odoo.conf"
    config.write_text(f"[options]\ndb_host = {postgres_server.host}\ndb_port = {postgres_server.port}\n"
                      f"db_user = {postgres_server.user}\nrunning_env = dev\n")
    environ = {"PATH": "/usr/bin:/bin", **environment(redis_server, s3_server, bucket)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "odoo_cloud.cli", "check", "-c", str(config),
                               "--connect", "--timeout", "2", *args], env=environ, capture_output=True,
                              text=True, timeout=60, check=False)

    result = run()
    assert result.returncode == 0, result.stdout
    for name in ("postgresql", "redis", "object_store"):
        assert f"ready {name}: pass" in result.stdout
    with redis_server.outage():
        result = run("--json")
    assert result.returncode == 3
    import json

    data = json.loads(result.stdout)
    failing = {r["name"]: r["reason"] for r in data["readiness"] if r["status"] == "fail"}
    assert failing == {"redis": "refused"}


def test_only_what_is_configured_is_checked(redis_server, s3_server, bucket):
    environ = environment(redis_server, s3_server, bucket, ODOO_SESSION_REDIS="0",
                          DISABLE_ATTACHMENT_STORAGE="1")
    status, body = ready(environ).answer()
    assert (status, body) == (200, {"status": "pass", "checks": {}})


@pytest.mark.parametrize("server", ["redis", "s3", "postgresql"])
def test_a_stopped_server_is_503_refused_and_names_the_check(server, redis_server, s3_server, bucket,
                                                             postgres_server):
    target = {"redis": redis_server, "s3": s3_server, "postgresql": postgres_server}[server]
    name = {"redis": "redis", "s3": "object_store", "postgresql": "postgresql"}[server]
    readiness = ready(environment(redis_server, s3_server, bucket), postgres_select(postgres_server))
    assert readiness.answer()[0] == 200
    with target.outage():
        start = time.monotonic()
        status, body = readiness.answer()
        elapsed = time.monotonic() - start
    assert status == 503 and body["status"] == "fail"
    assert body["checks"][name] == {"status": "fail", "reason": "refused",
                                    "seconds": body["checks"][name]["seconds"]}
    assert [n for n, c in body["checks"].items() if c["status"] == "fail"] == [name]
    assert elapsed < TIMEOUT + 1
    assert readiness.answer()[0] == 200  # back: the next round passes again


def test_wrong_credentials_are_auth(redis_server_password, s3_server, bucket):
    environ = {**session_redis_variables(redis_server_password, "ready"), **s3_variables(s3_server, bucket),
               "ODOO_SESSION_REDIS_PASSWORD": "wrong-" + uuid.uuid4().hex,
               "AWS_SECRET_ACCESS_KEY": "wrong-" + uuid.uuid4().hex}
    status, body = ready(environ).answer()
    assert status == 503
    assert body["checks"]["redis"]["reason"] == "auth"
    assert body["checks"]["object_store"]["reason"] == "auth"
    assert "wrong-" not in str(body)


def test_a_server_that_never_answers_times_out_and_never_piles_up_calls(redis_server, s3_server, bucket):
    """Accepts connections, never answers: each answer comes within the timeout, and while the first
    PING still hangs no second one is started."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                pass

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        environ = environment(redis_server, s3_server, bucket,
                              ODOO_SESSION_REDIS_PORT=str(silent.getsockname()[1]),
                              ODOO_READINESS_TIMEOUT="0.5")
        settings = load_settings(environ)
        # a check whose own client waits longer than the deadline: only the hard deadline stops it
        hang = threading.Event()
        checks = readiness_checks(settings)
        slow = next(check for check in checks if check.name == "redis")
        original = slow.probe
        slow.probe = lambda: (hang.wait(5), original())[1]
        store = next(check for check in checks if check.name == "object_store")
        assert run_checks([store], 10)[0].ok  # the process's first boto3 client is slow to build
        readiness = Readiness(checks, 0.5, 0.0)
        for _ in range(3):
            start = time.monotonic()
            status, body = readiness.answer()
            assert time.monotonic() - start < 0.5 + 1
            assert status == 503 and body["checks"]["redis"]["reason"] == "timeout"
            assert body["checks"]["object_store"]["status"] == "pass"
        alive = [t for t in threading.enumerate() if t.name == "odoo-cloud-ready-redis"]
        assert len(alive) == 1  # one call in flight, not one per answer
        hang.set()
        # the real client against the silent port: its own socket timeout, still a timeout
        slow.probe = original
        deadline = time.monotonic() + 10
        while alive[0].is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body = readiness.answer()
        assert status == 503 and body["checks"]["redis"]["reason"] == "timeout"
    finally:
        stop.set()
        acceptor.join()
        for connection in accepted:
            connection.close()
        silent.close()


def test_results_are_reused_within_the_interval_by_concurrent_callers(redis_server, s3_server, bucket):
    """50 threads asking at once, then more asking for 1 s: Redis sees one PING per interval
    (INFO commandstats, counted by the server)."""
    readiness = ready(environment(redis_server, s3_server, bucket), cache_seconds=0.5)
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)

    def pings():
        return admin.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)

    before = pings()
    barrier = threading.Barrier(50)
    answers = []

    def ask():
        barrier.wait()
        answers.append(readiness.answer()[0])

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 50
    assert readiness.rounds == 1 and pings() - before == 1
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        assert readiness.answer()[0] == 200
    # 1 s at 0.5 s per interval: 2 or 3 more rounds, whatever the number of calls
    assert 2 <= readiness.rounds <= 4 and pings() - before == readiness.rounds


def test_a_missing_bucket_passes_only_when_it_may_be_created(redis_server, s3_server):
    missing = "ready-missing-" + uuid.uuid4().hex[:8]
    status, body = ready(environment(redis_server, s3_server, missing)).answer()
    assert status == 200, body
    environ = environment(redis_server, s3_server, missing, AWS_CREATE_BUCKET="0")
    status, body = ready(environ).answer()
    assert status == 503 and body["checks"]["object_store"]["reason"] == "missing"
    assert missing not in [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]  # never a write


@pytest.mark.parametrize(("variable", "value"), [("ODOO_READINESS_TIMEOUT", "0"),
                                                 ("ODOO_READINESS_TIMEOUT", "fast"),
                                                 ("ODOO_READINESS_TIMEOUT", "61"),
                                                 ("ODOO_READINESS_CACHE_SECONDS", "-1"),
                                                 ("ODOO_READINESS_CACHE_SECONDS", "nan")])
def test_a_bad_variable_is_named(variable, value):
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value})
    assert error.value.variables == [variable]


def test_classify_reads_the_chain():
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError:
            raise RuntimeError("wrapped") from None
    except RuntimeError as error:
        assert classify(error) == "refused"
    assert classify(TimeoutError()) == "timeout"
    assert classify(ValueError("something else")) == "error"


def test_run_checks_reports_each_check_on_its_own():
    from odoo_cloud.readiness import Check

    def boom():
        raise PermissionError("password authentication failed for user odoo")

    results = run_checks([Check("a", lambda: "fine"), Check("b", boom)], 1.0)
    assert [(r.name, r.ok, r.reason) for r in results] == [("a", True, None), ("b", False, "auth")]
