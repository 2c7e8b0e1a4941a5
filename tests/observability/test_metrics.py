"""statsd metrics against a real UDP listener (`statsd_listener`): names, datagrams, fork, failures."""
from __future__ import annotations

import logging
import re
import socket
import time
import uuid

import pytest

from odoo_cloud import instrumentation
from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.metrics import Metrics, metric_part, status_class, wrap_wsgi_call
from tests.forking import passes_in_forked_child


@pytest.fixture
def customer() -> str:
    """A customer name unique to the test: the listener is shared by the session."""
    return "c" + uuid.uuid4().hex[:10]


@pytest.fixture
def metrics(statsd_listener, customer):
    m = Metrics(customer, "prod", host=statsd_listener.host, port=statsd_listener.port)
    yield m
    m.close()


def received(listener, customer: str, count: int, timeout: float = 2.0) -> list[str]:
    """This test's metric lines, waiting until `count` of them arrived."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [line for line in listener.packets(timeout=0.05) if f".{customer}." in line]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine


def split(line: str) -> tuple[str, float, str]:
    name, _, rest = line.partition(":")
    value, _, kind = rest.partition("|")
    return name, float(value), kind


# ------------------------------------------------------------------------------------------------ naming
@pytest.mark.parametrize(("value", "expected"), [
    ("res.partner", "res_partner"), ("action_confirm", "action_confirm"), ("a b/c:d|e@f", "a_b_c_d_e_f"),
    ("", "other"), ("...", "other"), ("x" * 100, "x" * 64), ("sale-order", "sale-order"),
])
def test_metric_part(value, expected):
    assert metric_part(value) == expected


@pytest.mark.parametrize(("status", "expected"), [
    (200, "2xx"), (204, "2xx"), (301, "3xx"), (304, "3xx"), (404, "4xx"), (500, "5xx"), (503, "5xx"),
    (101, "1xx"), (None, "other"), (999, "other"),
])
def test_status_class(status, expected):
    assert status_class(status) == expected


def test_names_follow_the_original_suite(customer):
    m = Metrics(customer, "prod")
    assert m.request_name == f"http.request.{customer}.prod"
    assert m.button_name("sale.order", "action_confirm") == (
        f"http.button.{customer}.prod.sale_order.action_confirm")
    assert m.rpc_name("res.partner", "search_read") == f"rpc.{customer}.prod.res_partner.search_read"
    assert m.operation_name("storage.s3.get") == f"storage.{customer}.prod.s3.get"
    assert m.operation_name("sessions.save") == f"sessions.{customer}.prod.save"


def test_request_driven_names_are_bounded(customer):
    m = Metrics(customer, "prod", max_dynamic_names=3)
    names = {m.button_name(f"model.{i}", "run") for i in range(10)}
    assert len(names) == 4 and f"http.button.{customer}.prod.other.other" in names
    assert m.button_name("model.0", "run") == f"http.button.{customer}.prod.model_0.run"  # known names stay
    hostile = Metrics(customer, "prod").button_name("res.partner\nfoo:1|c", "x" * 500)
    assert hostile == f"http.button.{customer}.prod.res_partner_foo_1_c." + "x" * 64
    assert "\n" not in hostile and ":" not in hostile and "|" not in hostile


def test_the_name_cache_keys_on_sanitised_truncated_parts(customer):
    """40 distinct 5 MB names must not keep 200 MB: the cache holds sanitised parts of <= 64 chars."""
    m = Metrics(customer, "prod")
    huge = [f"{i:02d}" + "m" * (5 * 1024 * 1024) for i in range(40)]
    names = {m.rpc_name(model, "x" * (5 * 1024 * 1024)) for model in huge}
    assert len(names) == 40 and m.dynamic_name_count() == 40
    cached = sum(len(part) for family in m._dynamic.values() for key in family for part in key)
    assert cached <= 40 * 2 * 64
    # raw names differing only past the cut or in unsafe characters are one entry, not one each
    m.rpc_name("res.partner" + "y" * 100, "read")
    m.rpc_name("res.partner" + "y" * 100 + "z", "read")
    m.rpc_name("res partner", "read")
    m.rpc_name("res_partner", "read")
    assert m.dynamic_name_count() == 42


def test_a_flood_in_one_family_never_collapses_another(customer):
    m = Metrics(customer, "prod", max_dynamic_names=5)
    for i in range(20):
        m.rpc_name(f"model.{i}", "run")
    assert m.rpc_name("res.partner", "read") == f"rpc.{customer}.prod.other.other"
    assert m.operation_name("storage.s3.get") == f"storage.{customer}.prod.s3.get"
    assert m.button_name("sale.order", "action_confirm") == (
        f"http.button.{customer}.prod.sale_order.action_confirm")
    assert m.dynamic_name_count() <= 3 * 5


# ------------------------------------------------------------------------------------------- datagrams
def test_request_metrics_reach_a_real_listener(statsd_listener, metrics, customer):
    metrics.request_finished(0.0421, 200, sql_count=17, sql_seconds=0.0123)
    metrics.request_finished(0.5, 503)
    metrics.request_finished(0.01, 200, button=("sale.order", "action_confirm"))
    lines = received(statsd_listener, customer, 8)
    parsed = [split(line) for line in lines]
    assert parsed[:4] == [
        (f"odoo.http.request.{customer}.prod", 42.1, "ms"),
        (f"odoo.http.status.{customer}.prod.2xx", 1, "c"),
        (f"odoo.http.sql_count.{customer}.prod", 17, "ms"),
        (f"odoo.http.sql_time.{customer}.prod", 12.3, "ms"),
    ]
    assert parsed[4:6] == [(f"odoo.http.request.{customer}.prod", 500.0, "ms"),
                           (f"odoo.http.status.{customer}.prod.5xx", 1, "c")]
    assert parsed[6:8] == [(f"odoo.http.button.{customer}.prod.sale_order.action_confirm", 10.0, "ms"),
                           (f"odoo.http.status.{customer}.prod.2xx", 1, "c")]


def test_store_and_session_operations_become_timers_and_counters(statsd_listener, metrics, customer):
    instrumentation.subscribe(metrics.observe)
    try:
        with instrumentation.operation("storage.s3.put") as op:
            op.nbytes = 4096
        with pytest.raises(ConnectionError), instrumentation.operation("sessions.get"):
            raise ConnectionError("redis down")
    finally:
        instrumentation.unsubscribe(metrics.observe)
    lines = received(statsd_listener, customer, 4)
    names = [(split(line)[0], split(line)[2]) for line in lines]
    assert names == [(f"odoo.storage.{customer}.prod.s3.put", "ms"),
                     (f"odoo.storage.{customer}.prod.s3.put.bytes", "c"),
                     (f"odoo.sessions.{customer}.prod.get", "ms"),
                     (f"odoo.sessions.{customer}.prod.get.errors", "c")]
    assert split(lines[1])[1] == 4096


def test_rpc_timer(statsd_listener, metrics, customer):
    metrics.rpc_finished("res.partner", "search_read", 0.002)
    assert [split(line)[:2] for line in received(statsd_listener, customer, 1)] == [
        (f"odoo.rpc.{customer}.prod.res_partner.search_read", 2.0)]


# --------------------------------------------------------------------------------------------- WSGI glue
class App:
    def __init__(self, status="200 OK", fail=False):
        self.status, self.fail = status, fail

    def __call__(self, environ, start_response):
        if self.fail:
            raise RuntimeError("application bug")
        start_response(self.status, [("Content-Type", "text/plain")])
        return [b"ok"]


def _wrapped(metrics, **kwargs):
    class Timed(App):
        pass

    Timed.__call__ = wrap_wsgi_call(App.__call__, lambda: metrics, **kwargs)
    return Timed


def test_wsgi_wrapper_times_requests_and_asks_button_params_only_for_buttons(statsd_listener, metrics,
                                                                            customer):
    asked = []

    def button_params():
        asked.append(1)
        return ("account.move", "action_post")

    Timed = _wrapped(metrics, button_params=button_params, sql_figures=lambda: (3, 0.001))
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    assert Timed()({"PATH_INFO": "/web/login"}, start_response) == [b"ok"]
    Timed("404 NOT FOUND")({"PATH_INFO": "/nope"}, start_response)
    Timed()({"PATH_INFO": "/web/dataset/call_button/account.move/action_post"}, start_response)
    with pytest.raises(RuntimeError, match="application bug"):
        Timed(fail=True)({"PATH_INFO": "/boom"}, start_response)
    assert statuses == ["200 OK", "404 NOT FOUND", "200 OK"] and len(asked) == 1
    names = [split(line)[0] for line in received(statsd_listener, customer, 16)]
    assert names.count(f"odoo.http.request.{customer}.prod") == 3
    assert names.count(f"odoo.http.button.{customer}.prod.account_move.action_post") == 1
    assert names.count(f"odoo.http.status.{customer}.prod.2xx") == 2
    assert names.count(f"odoo.http.status.{customer}.prod.4xx") == 1
    assert names.count(f"odoo.http.status.{customer}.prod.other") == 1  # the app raised: no status
    assert names.count(f"odoo.http.sql_count.{customer}.prod") == 4


def test_json2_calls_get_an_rpc_timer_only_when_the_glue_vouches_for_them(statsd_listener, metrics,
                                                                           customer):
    statuses = []

    def json2_params(status):
        statuses.append(status)
        return ("res.partner", "search_count") if status == 200 else None

    Timed = _wrapped(metrics, json2_params=json2_params)
    Timed()({"PATH_INFO": "/json/2/res.partner/search_count"}, lambda status, headers: None)
    Timed("401 UNAUTHORIZED")({"PATH_INFO": "/json/2/" + "a" * 5000 + "/b"}, lambda status, headers: None)
    Timed()({"PATH_INFO": "/web/dataset/call_kw/res.partner/read"}, lambda status, headers: None)
    assert statuses == [200, 401]  # asked only for /json/2/ paths, with the response status
    names = [split(line)[0] for line in received(statsd_listener, customer, 7)]
    assert names.count(f"odoo.http.request.{customer}.prod") == 3
    assert [n for n in names if ".rpc." in n] == [f"odoo.rpc.{customer}.prod.res_partner.search_count"]
    assert metrics.dynamic_name_count() == 1


def test_wsgi_wrapper_without_metrics_is_a_passthrough():
    Timed = _wrapped(None)
    assert Timed()({"PATH_INFO": "/"}, lambda status, headers: None) == [b"ok"]


def test_a_failing_button_lookup_never_fails_the_request(statsd_listener, metrics, customer):
    def broken():
        raise RuntimeError("request unbound")

    Timed = _wrapped(metrics, button_params=broken)
    assert Timed()({"PATH_INFO": "/web/dataset/call_button"}, lambda status, headers: None) == [b"ok"]
    lines = received(statsd_listener, customer, 1)
    assert any(f"odoo.http.request.{customer}.prod" in line for line in lines)


# ------------------------------------------------------------------------------------ process, failures
def test_the_client_is_built_lazily_and_again_after_fork(statsd_listener, metrics, customer):
    assert metrics._client is None  # nothing opened at construction (post_load runs before the fork)
    parent_client = metrics.client()
    assert metrics.client() is parent_client

    def child():  # must not reuse the parent's socket
        child_client = metrics.client()
        ok = child_client is not None and child_client is not parent_client
        metrics.request_finished(0.001, 200)
        return ok

    assert passes_in_forked_child(child)
    lines = received(statsd_listener, customer, 1)
    assert any(f"odoo.http.request.{customer}.prod" in line for line in lines)
    assert metrics.client() is parent_client


def test_no_daemon_listening_never_delays_nor_fails_a_request(customer):
    """Never blocks by construction: a non-blocking socket, errors swallowed and counted. (The cost per
    request, daemon or not, is measured by bench/bench_metrics.py, which fails when it misses its target.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on that port any more
    m = Metrics(customer, "prod", host="127.0.0.1", port=port)
    for _ in range(200):
        m.request_finished(0.01, 200, sql_count=1, sql_seconds=0.001)
    client = m.client()
    assert client is not None and client._sock.getblocking() is False and client._sock.gettimeout() == 0.0
    m.close()


def test_send_errors_are_logged_at_most_once_per_minute(customer, caplog):
    m = Metrics(customer, "prod", host="127.0.0.1", port=0)  # the kernel refuses datagrams to port 0
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.metrics"):
        for _ in range(50):
            m.request_finished(0.01, 200)
    warnings = [r for r in caplog.records if r.name == "odoo_cloud.metrics"]
    assert len(warnings) == 1 and "cannot send metrics to 127.0.0.1:0" in warnings[0].getMessage()
    assert m.client().sent_errors == 50 and m.errors.suppressed == 49


def test_unresolvable_host_is_retried_at_most_once_per_minute(customer, caplog):
    m = Metrics(customer, "prod", host="bad host name", port=8125)  # rejected by getaddrinfo, no DNS query
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.metrics"):
        for _ in range(20):
            m.request_finished(0.01, 200)
    assert m._client is None
    messages = [r.getMessage() for r in caplog.records if r.name == "odoo_cloud.metrics"]
    assert len(messages) == 1
    assert re.search(r"cannot reach bad host name:8125 .* retrying in 60 s", messages[0])


# ------------------------------------------------------------------------------------------ settings
def test_settings_require_the_customer_when_enabled():
    with pytest.raises(ConfigError) as error:
        load_settings({"ODOO_STATSD": "1"})
    assert "STATSD_CUSTOMER" in error.value.variables
    with pytest.raises(ConfigError) as error:
        load_settings({"ODOO_STATSD": "maybe", "STATSD_CUSTOMER": "acme"})
    assert error.value.variables == ["ODOO_STATSD"]


def test_environment_defaults_to_running_env():
    settings = load_settings({"ODOO_STATSD": "yes", "STATSD_CUSTOMER": "acme", "STATSD_PORT": "9125"}).statsd
    assert Metrics.from_settings(settings, "integration").request_name == "http.request.acme.integration"
    assert Metrics.from_settings(settings, None).request_name == "http.request.acme.test"
    explicit = load_settings({"ODOO_STATSD": "on", "STATSD_CUSTOMER": "acme",
                              "STATSD_ENVIRONMENT": "prod"}).statsd
    assert Metrics.from_settings(explicit, "integration").request_name == "http.request.acme.prod"
    assert Metrics.from_settings(load_settings({}).statsd, "prod") is None
