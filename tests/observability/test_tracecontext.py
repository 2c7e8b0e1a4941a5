"""W3C traceparent: strict parsing on bounded input, its ids on every JSON line of the request (no Odoo)."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import types

import pytest

from odoo_cloud import logs, tracecontext
from odoo_cloud.logs import JsonFormatter
from odoo_cloud.tracecontext import MAX_HEADER_LENGTH, parse_traceparent, request_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"


def test_a_valid_header_is_parsed():
    parsed = parse_traceparent(VALID)
    assert (parsed.trace_id, parsed.span_id, parsed.sampled) == (TRACE, PARENT, True)
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-00").sampled is False
    # a later version may append fields: the first four are used
    assert parse_traceparent(f"01-{TRACE}-{PARENT}-01-what-ever").trace_id == TRACE


@pytest.mark.parametrize("value", [
    None, "", "garbage", VALID.upper(),                       # hex must be lowercase
    f"ff-{TRACE}-{PARENT}-01",                                # version ff is forbidden
    f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01",  # all-zero ids are invalid
    f"00-{TRACE}-{PARENT}-01-extra",                          # version 00 has exactly four fields
    f"00-{TRACE[:-1]}-{PARENT}-01", f"00-{TRACE}-{PARENT}-1", f"00_{TRACE}_{PARENT}_01",
    VALID + "\r\nX-Injected: 1", "00-" + "a" * 5000,
    f"01-{TRACE}-{PARENT}-01-" + "x" * MAX_HEADER_LENGTH,     # over the length bound
])
def test_invalid_headers_are_rejected(value):
    assert parse_traceparent(value) is None


def test_the_pattern_never_sees_more_than_the_bound():
    """Linear time by construction: the length is checked before any matching, so even a valid-looking
    header of a later version is refused once it is over the bound."""
    longest = f"01-{TRACE}-{PARENT}-01-" + "x" * (MAX_HEADER_LENGTH - 56)
    assert len(longest) == MAX_HEADER_LENGTH and parse_traceparent(longest) is not None
    assert parse_traceparent(longest + "x") is None


def test_a_request_continues_the_callers_trace_with_its_own_span():
    trace = request_trace(VALID)
    assert trace.trace_id == TRACE and trace.parent_id == PARENT
    assert re.fullmatch(r"[0-9a-f]{16}", trace.span_id) and trace.span_id != PARENT
    assert trace.traceparent == f"00-{TRACE}-{trace.span_id}-01"


@pytest.mark.parametrize("value", [None, "garbage", f"00-{'0' * 32}-{PARENT}-01"])
def test_absent_or_invalid_starts_a_new_trace(value):
    first, second = request_trace(value), request_trace(value)
    assert re.fullmatch(r"[0-9a-f]{32}", first.trace_id) and first.trace_id != second.trace_id
    assert first.parent_id is None and re.fullmatch(r"[0-9a-f]{16}", first.span_id)


def test_opentelemetry_current_span_wins(monkeypatch):
    """With the OpenTelemetry API installed and a span active, its ids are used (a minimal stand-in
    module with the API's shape: the real API is not a dependency of this project)."""
    context = types.SimpleNamespace(is_valid=True, trace_id=int(TRACE, 16) + 1, span_id=0xABC,
                                    trace_flags=1)
    span = types.SimpleNamespace(get_span_context=lambda: context)
    trace_module = types.ModuleType("opentelemetry.trace")
    trace_module.get_current_span = lambda: span
    package = types.ModuleType("opentelemetry")
    package.trace = trace_module
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", trace_module)
    monkeypatch.setattr(tracecontext, "_OPENTELEMETRY", True)
    chosen = request_trace(VALID)
    assert chosen.trace_id == format(int(TRACE, 16) + 1, "032x") and chosen.span_id == format(0xABC, "016x")
    context.is_valid = False  # no active span: the header decides again
    assert request_trace(VALID).trace_id == TRACE


def test_every_line_of_the_request_carries_the_trace_and_lines_outside_none():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.Logger("test.tracecontext", logging.DEBUG)
    logger.addHandler(handler)

    class App:
        def __call__(self, environ, start_response):
            logger.info("inside the request")
            logger.warning("another line")
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]

    App.__call__ = logs.wrap_wsgi_call(App.__call__)
    App()({"PATH_INFO": "/", "HTTP_TRACEPARENT": VALID}, lambda *a: None)
    logger.info("access line, after the application returned")
    logs.end_request()
    logger.info("between requests")
    App()({"PATH_INFO": "/", "HTTP_TRACEPARENT": "00-bad"}, lambda *a: None)
    logs.end_request()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    first, second, access, between, other, _other_access = [*records, None][:6]
    span = first["span_id"]
    assert {r["trace_id"] for r in (first, second, access)} == {TRACE}
    assert second["span_id"] == access["span_id"] == span and span != PARENT
    assert between["trace_id"] is None and between["span_id"] is None
    assert other["trace_id"] not in (None, TRACE) and re.fullmatch(r"[0-9a-f]{32}", other["trace_id"])
