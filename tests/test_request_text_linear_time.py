"""Every function that sees request-derived text answers hostile input of up to 64 KB quickly.

`GET /web/health?token?token…` (7 KB) once held a worker for 20 s in the access-log masking: a
backtracking regex. Hypothesis builds adversarial query strings, headers, paths and log messages from
the shapes that make regexes blow up (repeated separators, half-matching keys, unclosed quotes, nested
brackets) and each function must return in well under `LIMIT` seconds. The limit is generous for a
loaded 2-core machine (linear code takes a few ms on 64 KB) and still catches quadratic or worse
behaviour, which takes seconds to hours on the same input. Each input runs in a forked child that is
killed after `HARD_LIMIT`: a regex stuck in C code cannot be interrupted any other way.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from odoo_cloud import logs, metrics
from odoo_cloud.logs import AccessLineFilter, JsonFormatter
from odoo_cloud.sessions import keys

LIMIT = 0.5
HARD_LIMIT = 20.0
MAX_INPUT = 65536

#: fragments whose repetition makes naive regexes backtrack (or naive loops rescan)
FRAGMENTS = [
    "?token", "?token=", "&token", "a=&", "a=", "%", "%2", "&", "=", "?", "#", ";", "/", "\\", ".", "-", "_",
    "://", "://:a", "a://b:c/", "a://b:c@", "@", ":@", ":", "'a':", '"a":', "'password': '", '"token": "',
    "token=\"", "password='", "[{", "{", "[", "}", "\x1b[", "\x1b[1;", " - - [", '"', "'", "%s", "%(x)s",
    "a" * 50 + "_", "password", "Token", "key", "hash=", " ", "\t", "\n", "é", "\x00",
]

fragment_runs = st.lists(
    st.tuples(st.sampled_from(FRAGMENTS), st.integers(min_value=1, max_value=MAX_INPUT)),
    min_size=1, max_size=4,
).map(lambda runs: "".join(fragment * max(1, count // len(fragment)) for fragment, count in runs))
hostile_text = st.one_of(
    fragment_runs,
    st.tuples(st.text(max_size=40), fragment_runs, st.text(max_size=40)).map("".join),
).map(lambda text: text[:MAX_INPUT])

WORST_CASES = [
    "?token" * 1200 + "=",                    # the 7 KB of the report (an empty value at the end)
    "?token" * 1200 + "=&",
    "?token" * (MAX_INPUT // 6),
    "token?" * (MAX_INPUT // 6),
    "a=&" * (MAX_INPUT // 3),
    "%" * MAX_INPUT,
    "&" * MAX_INPUT,
    "=" * MAX_INPUT,
    "/" * MAX_INPUT,
    "://:a" * (MAX_INPUT // 5),
    "'a':" * (MAX_INPUT // 4),
    "password='" + "a" * MAX_INPUT,
    "token " + "a://b:c/" * (MAX_INPUT // 8),
]


def run_in_child(calls: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Seconds each call took, measured in a forked child (killed after HARD_LIMIT: infinity)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: time every call, report as JSON, never return into pytest
        try:
            os.close(read)
            timings = {}
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                timings[name] = time.perf_counter() - start
            os.write(write, json.dumps(timings).encode())
        except BaseException as error:  # report, do not hide: a crash is a failure too
            os.write(write, json.dumps({"error": repr(error)}).encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + HARD_LIMIT
    try:
        while True:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {name: float("inf") for name in calls}
            time.sleep(0.005)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
    finally:
        os.close(read)
    result = json.loads(b"".join(chunks) or b'{"error": "no report"}')
    assert "error" not in result, result["error"]
    return result


def assert_fast(calls: dict[str, Callable[[], object]], text: str) -> None:
    slow = {name: seconds for name, seconds in run_in_child(calls).items() if seconds >= LIMIT}
    assert not slow, f"too slow on {len(text)} chars starting {text[:60]!r}: {slow}"


def _format(record: logging.LogRecord) -> str:
    line = JsonFormatter().format(record)
    json.loads(line)
    return line


def _werkzeug_access(request_line: str, remote: str = "127.0.0.1") -> logging.LogRecord:
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               f'{remote} - - [26/Nov/2026 08:30:00] "%s" %s %s',
                               (request_line, "200", "-"), None)
    record.perf_info = "1 0.001 0.002"
    AccessLineFilter().filter(record)
    return record


def _gevent_access(request_line: str) -> logging.LogRecord:
    record = logging.LogRecord("longpolling", logging.INFO, __file__, 1,
                               f'1.2.3.4 - - [2026-11-26 08:56:12] "{request_line}" 101 0 0.1', (), None)
    AccessLineFilter().filter(record)
    return record


def _message_records(text: str) -> list[logging.LogRecord]:
    def record(msg, args=(), **extra):
        made = logging.LogRecord("odoo.http", logging.WARNING, __file__, 1, msg, args, None)
        made.__dict__.update(extra)
        return made

    with_exc = logging.LogRecord("odoo.http", logging.ERROR, __file__, 1, "boom", (), None)
    try:
        raise ValueError(text)
    except ValueError:
        with_exc.exc_info = sys.exc_info()
    return [record(text), record("path %s", (text,)), record("%(q)s", ({"q": text},)),
            record({"params": {text: text}, "q": text}), record("extra", params={"q": text, "l": [text]}),
            record("extra", query=text), with_exc]


def _wsgi_call(text: str) -> None:
    def app(self, environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    environ = {"HTTP_X_REQUEST_ID": text, "PATH_INFO": text, "QUERY_STRING": text}
    logs.wrap_wsgi_call(app)(None, environ, lambda status, headers, exc_info=None: None)
    logs.end_request()


def _calls(text: str) -> dict[str, Callable[[], object]]:
    from odoo_cloud import masking

    calls: dict[str, Callable[[], object]] = {
        "mask_secrets": lambda: masking.mask_secrets(text),
        "is_secret_name": lambda: masking.is_secret_name(text),
        "mask_data": lambda: masking.mask_data({"params": {text: text, "list": [text]}}),
        "werkzeug access line": lambda: _format(_werkzeug_access(f"GET /web/health?{text} HTTP/1.1")),
        "werkzeug access path": lambda: _format(_werkzeug_access(f"GET {text} HTTP/1.1")),
        "werkzeug raw request line": lambda: _format(_werkzeug_access(text)),
        "X-Forwarded-For as address": lambda: _format(_werkzeug_access("GET / HTTP/1.1", remote=text)),
        "gevent access line": lambda: _format(_gevent_access(f"GET /websocket?{text} HTTP/1.1")),
        "request id": lambda: (logs.is_valid_request_id(text), logs.begin_request(text), logs.end_request()),
        "wsgi wrapper": lambda: _wsgi_call(text),
        "metric name part": lambda: metrics.metric_part(text),
        "session id": lambda: (keys.is_valid_sid(text), keys.is_valid_identifier(text)),
        "session glob": lambda: keys.glob_escape(text[:256]),
    }
    for index, record in enumerate(_message_records(text)):
        calls[f"log record {index}"] = lambda record=record: _format(record)
    return calls


SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("text", WORST_CASES, ids=lambda text: f"{text[:12]!r}x{len(text)}")
def test_worst_case_shapes(text):
    assert_fast(_calls(text), text)


@SETTINGS
@given(hostile_text)
@example("?token" * 1200 + "=")
@example("?token" * 1200 + "=#" + "a=&" * 100)
def test_query_strings_paths_headers_and_messages(text):
    assert_fast(_calls(text), text)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["token", "a", "password", "hash", "x y", "%70wd", ""]),
                          st.sampled_from(["", "x", "a@b", "://", "%", "'", "=", "?"])),
                min_size=1, max_size=6),
       st.integers(min_value=1, max_value=4000))
def test_repeated_query_parameters(pairs, repeat):
    """`a=&a=&…`, `?token?token…` and their mixes: the shapes of a hostile query string."""
    query = "&".join(f"{name}={value}" if value else name for name, value in pairs)
    text = ("?" + query) * repeat
    text = text[:MAX_INPUT]
    assert_fast(_calls(text), text)
