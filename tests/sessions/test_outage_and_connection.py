"""Redis down, wrong password, TLS and Sentinel — all against real servers."""
import time
import urllib.parse

import pytest

from devstack._process import spawn, terminate, wait_ready
from devstack.paths import system_bin
from odoo_cloud.config import load_settings
from odoo_cloud.sessions import RedisSessionStore, SessionStoreUnavailable
from odoo_cloud.sessions.connection import failure_deadline

from .conftest import settings_for


def test_redis_stopped_and_restarted_during_a_sequence_of_requests(store, redis_server):
    session = store.new()
    session["uid"] = 2
    store.save(session)
    outcomes = []
    for step in range(9):
        if step == 3:
            redis_server.stop()
        if step == 6:
            redis_server.start()  # same port, no data (no persistence): sessions are gone, service is back
        started = time.monotonic()
        try:
            loaded = store.get(session.sid)
            loaded["step"] = step
            store.save(loaded)
            outcomes.append("ok")
        except SessionStoreUnavailable as exc:
            # fails fast: within the configured timeouts (a behaviour bound, not a speed figure)
            assert time.monotonic() - started < failure_deadline(store.connection.settings) + 0.5
            assert "unavailable during get" in str(exc)
            assert f"{redis_server.host}:{redis_server.port}" in str(exc)
            outcomes.append("down")
    assert outcomes == ["ok"] * 3 + ["down"] * 3 + ["ok"] * 3


def test_the_same_store_object_recovers_after_an_outage_without_being_rebuilt(store, redis_server):
    session = store.new()
    session["uid"] = 9
    store.save(session)
    with redis_server.outage():
        session["uid"] = 10  # changed: the save must reach Redis
        with pytest.raises(SessionStoreUnavailable):
            store.save(session)
        with pytest.raises(SessionStoreUnavailable):
            store.delete(session)
        with pytest.raises(SessionStoreUnavailable):
            store.rotate(session)
        with pytest.raises(SessionStoreUnavailable):
            store.delete_from_identifiers([session.sid[:42]])
        with pytest.raises(SessionStoreUnavailable):
            store.vacuum(60)
    session["uid"] = 11
    store.save(session)  # stale pooled connections are retried transparently
    assert store.get(session.sid)["uid"] == 11


def test_an_unreachable_host_fails_within_the_configured_timeouts(make_store):
    # 192.0.2.0/24 is TEST-NET-1: packets go nowhere, so only the connect timeout ends the wait
    store = make_store(url="redis://192.0.2.1:6379/0", ODOO_SESSION_REDIS_CONNECT_TIMEOUT="0.2",
                       ODOO_SESSION_REDIS_RETRIES="1")
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable):
        store.get(store.generate_key())
    # two attempts of the 0.2 s connect timeout plus the backoff; a hang would exceed it by far
    assert time.monotonic() - started < failure_deadline(store.connection.settings) + 0.5


def test_password_protected_redis(redis_server_password, unique_prefix):
    good = RedisSessionStore.from_settings(settings_for(redis_server_password.url, unique_prefix))
    session = good.new()
    session["uid"] = 2
    good.save(session)
    assert good.get(session.sid)["uid"] == 2

    by_host = RedisSessionStore.from_settings(load_settings({
        "ODOO_SESSION_REDIS_HOST": redis_server_password.host,
        "ODOO_SESSION_REDIS_PORT": str(redis_server_password.port),
        "ODOO_SESSION_REDIS_PASSWORD": redis_server_password.password,
        "ODOO_SESSION_REDIS_PREFIX": unique_prefix,
    }).sessions)
    assert by_host.get(session.sid)["uid"] == 2


def test_a_wrong_password_is_a_clear_failure_that_never_shows_a_password(redis_server_password,
                                                                          unique_prefix):
    wrong = "wr0ng-Secret-" + unique_prefix
    url = f"redis://:{urllib.parse.quote(wrong)}@{redis_server_password.host}:{redis_server_password.port}/0"
    store = RedisSessionStore.from_settings(settings_for(url, unique_prefix))
    with pytest.raises(SessionStoreUnavailable) as info:
        store.get(store.generate_key())
    text = str(info.value) + repr(info.value) + repr(store)
    assert "AuthenticationError" in text or "ResponseError" in text
    assert wrong not in text and redis_server_password.password not in text
    assert ":****@" in str(info.value)

    missing = RedisSessionStore.from_settings(load_settings({
        "ODOO_SESSION_REDIS_HOST": redis_server_password.host,
        "ODOO_SESSION_REDIS_PORT": str(redis_server_password.port),
        "ODOO_SESSION_REDIS_PREFIX": unique_prefix,
    }).sessions)
    with pytest.raises(SessionStoreUnavailable, match=r"(?i)auth"):
        missing.get(missing.generate_key())


def test_tls_url_with_a_self_signed_ca(redis_tls_server, unique_prefix):
    url, ca = redis_tls_server
    query = urllib.parse.urlencode({"ssl_ca_certs": str(ca)})
    store = RedisSessionStore.from_settings(settings_for(f"{url}?{query}", unique_prefix))
    session = store.new()
    session["uid"] = 2
    store.save(session)
    assert store.get(session.sid)["uid"] == 2
    assert store.connection.client.connection_pool.connection_class.__name__ == "SSLConnection"

    # without the CA the server's certificate is not trusted: refused, clearly
    untrusted = RedisSessionStore.from_settings(settings_for(url, unique_prefix))
    with pytest.raises(SessionStoreUnavailable, match=r"(?i)certificate"):
        untrusted.get(session.sid)


def test_sentinel_finds_the_master(redis_sentinel, unique_prefix, raw):
    host, port = redis_sentinel
    store = RedisSessionStore.from_settings(load_settings({
        "ODOO_SESSION_REDIS_SENTINEL_HOST": f"{host}:{port}",
        "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "sessions-master",
        "ODOO_SESSION_REDIS_PREFIX": unique_prefix,
    }).sessions)
    session = store.new()
    session["uid"] = 4
    store.save(session)
    assert store.get(session.sid)["uid"] == 4
    assert raw.exists(store.keys.session(session.sid)) == 1  # written on the monitored master


def test_client_is_built_lazily_and_again_after_fork(store, monkeypatch):
    connection = store.connection
    assert connection._client is None  # nothing connects before the first request
    first = connection.client
    assert connection.client is first
    monkeypatch.setattr("os.getpid", lambda: -1)  # what a forked worker sees: another pid
    assert connection.client is not first


def test_unix_socket_url(tmp_path, unique_prefix):
    socket_path = tmp_path / "redis.sock"
    log = tmp_path / "redis-unix.log"
    proc = spawn([system_bin("redis-server"), "--port", "0", "--unixsocket", str(socket_path),
                  "--save", "", "--appendonly", "no", "--dir", str(tmp_path)], log)
    try:
        wait_ready("redis-unix", socket_path.exists, procs=[proc], log_path=log, timeout=15)
        store = RedisSessionStore.from_settings(settings_for(f"unix://{socket_path}?db=2", unique_prefix))
        session = store.new()
        session["uid"] = 2
        store.save(session)
        assert store.get(session.sid)["uid"] == 2
        assert store.connection.client.connection_pool.connection_kwargs["db"] == 2
        store.connection.close()
    finally:
        terminate(proc)
