"""Store and session operations of the real stores (SeaweedFS S3, Redis) reach statsd as timers and
counters once the metrics listener is subscribed, as monitoring_statsd's post_load does."""
from __future__ import annotations

import time
import uuid

import pytest

from odoo_cloud import instrumentation
from odoo_cloud.config import load_settings
from odoo_cloud.metrics import Metrics
from odoo_cloud.sessions import RedisSessionStore, SessionStoreUnavailable
from odoo_cloud.storage.errors import ObjectNotFound
from odoo_cloud.storage.factory import build_store


@pytest.fixture
def metrics(statsd_listener):
    customer = "s" + uuid.uuid4().hex[:10]
    m = Metrics(customer, "prod", host=statsd_listener.host, port=statsd_listener.port)
    instrumentation.subscribe(m.observe)
    yield m
    instrumentation.unsubscribe(m.observe)
    m.close()


def _names(listener, metrics, wanted: set[str], timeout: float = 3.0) -> dict[str, list[str]]:
    """name -> values received for this test's customer, once every `wanted` name arrived."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, list[str]] = {}
        for line in listener.packets(timeout=0.05):
            name, _, value = line.partition(":")
            if f".{metrics.customer}." in name:
                seen.setdefault(name, []).append(value)
        if wanted <= set(seen) or time.monotonic() > deadline:
            return seen


def test_s3_operations(statsd_listener, s3_server, metrics, unique_prefix):
    s3_server.create_bucket(unique_prefix)
    store = build_store("s3", load_settings({
        "AWS_HOST": s3_server.endpoint_url, "AWS_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_BUCKETNAME": unique_prefix}))
    data = b"x" * 3000
    key = "ab" * 20
    store.put(key, data)
    assert store.get(key) == data
    with pytest.raises(ObjectNotFound):
        store.get("cd" * 20)
    base = f"odoo.storage.{metrics.customer}.prod.s3"
    seen = _names(statsd_listener, metrics, {f"{base}.put", f"{base}.put.bytes", f"{base}.get",
                                             f"{base}.get.bytes", f"{base}.get.errors"})
    assert all(value.endswith("|ms") for value in seen[f"{base}.put"] + seen[f"{base}.get"])
    assert seen[f"{base}.put.bytes"] == ["3000|c"] and seen[f"{base}.get.bytes"] == ["3000|c"]
    assert seen[f"{base}.get.errors"] == ["1|c"] and len(seen[f"{base}.get"]) == 2


def test_session_operations_and_an_outage(statsd_listener, redis_server, metrics, unique_prefix):
    store = RedisSessionStore.from_settings(load_settings({
        "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": redis_server.url,
        "ODOO_SESSION_REDIS_PREFIX": unique_prefix}).sessions)
    try:
        session = store.new()
        session["uid"] = 2
        store.save(session)
        assert store.get(session.sid)["uid"] == 2
        with redis_server.outage(), pytest.raises(SessionStoreUnavailable):
            store.get(session.sid)
    finally:
        store.connection.close()
    base = f"odoo.sessions.{metrics.customer}.prod"
    seen = _names(statsd_listener, metrics, {f"{base}.save", f"{base}.get", f"{base}.get.errors"})
    assert len(seen[f"{base}.get"]) == 2 and seen[f"{base}.get.errors"] == ["1|c"]
    assert f"{base}.save" in seen
