"""No secret reaches a JSON log line, whatever field it was planted in.

Each case logs one record through `JsonFormatter` (and, for access lines, `AccessLineFilter`, as in
Odoo) with a unique secret planted in one place: the message, %-arguments (tuple and mapping), a dict
message, nested and listed extras, objects whose str() shows a URL, exception messages and chained
tracebacks, access-line request lines (werkzeug and gevent), the request id, and a line the formatter
writes while re-entered. Every case asserts the line is still one JSON object and that the secret
does not appear in it, raw or percent-decoded.
"""
from __future__ import annotations

import io
import itertools
import json
import logging
import sys
import urllib.parse
import warnings

import pytest

from odoo_cloud import logs
from odoo_cloud.logs import AccessLineFilter, JsonFormatter

_counter = itertools.count()


def secret() -> str:
    return f"Pl4nted{next(_counter):03d}Secret"


class _Shows:
    """An object whose str() is `text` (a connection, a settings object...)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class _LogsWhilePrinted:
    """str() logs a line itself: the formatter is re-entered and writes its minimal line."""

    def __init__(self, logger: logging.Logger, text: str) -> None:
        self.logger, self.text = logger, text

    def __str__(self) -> str:
        self.logger.warning(self.text)
        warnings.warn(self.text, stacklevel=1)
        return "printed"


def _raise(error: BaseException):
    raise error


def _exc_info(error: BaseException, cause: BaseException | None = None):
    try:
        try:
            _raise(cause) if cause is not None else None
        except BaseException as caught:
            raise error from caught
        raise error
    except BaseException:
        return sys.exc_info()


def _cases():
    """(name, callable(logger, s)) pairs: each logs one record carrying the secret `s`."""
    return [
        ("message: URL userinfo", lambda log, s: log.warning(f"redis at redis://odoo:{s}@r:6379/0 is down")),
        ("message: '@' in password", lambda log, s: log.warning(f"redis://:p@ss{s}@r:6379/0")),
        ("message: ?password=", lambda log, s: log.warning(f"store redis://r:6379/0?password={s} down")),
        ("message: unix socket", lambda log, s: log.warning(f"unix:///run/redis.sock?db=1&password={s}")),
        ("message: rediss", lambda log, s: log.warning(f"rediss://u:{s}@r:6380/0")),
        ("message: portal hash", lambda log, s: log.info(f"GET /mail/view?model=x&res_id=1&hash={s}")),
        ("message: access_token", lambda log, s: log.info(f"redirect to /my/orders/3?access_token={s}")),
        ("message: DSN", lambda log, s: log.error(f"cannot connect: dbname=x user=odoo password={s}")),
        ("message: dict repr", lambda log, s: log.info(f"params {{'login': 'a', 'password': '{s}'}}")),
        ("message: JSON", lambda log, s: log.info(f'body {{"params": {{"token": "{s}"}}}}')),
        ("dict message", lambda log, s: log.warning({"password": s})),
        ("dict message nested", lambda log, s: log.warning({"event": "x", "params": {"db": "d", "pwd": s}})),
        ("dict message list", lambda log, s: log.warning({"users": [{"login": "a", "api_key": s}]})),
        ("args: URL", lambda log, s: log.warning("store %s down", f"redis://:{s}@r/0")),
        ("args: dict", lambda log, s: log.warning("params %s", {"password": s})),
        ("args: nested dict", lambda log, s: log.warning("params %s", {"params": {"secret": s}})),
        ("args: mapping format", lambda log, s: log.warning("pw %(password)s", {"password": s})),
        ("args: list of dicts", lambda log, s: log.warning("rows %s %s", [{"token": s}], 1)),
        ("args: object", lambda log, s: log.warning("conn %s", _Shows(f"redis://u:{s}@h/0"))),
        ("extra: secret key", lambda log, s: log.info("x", extra={"password": s})),
        ("extra: nested", lambda log, s: log.info("x", extra={"params": {"password": s}})),
        ("extra: deeply nested", lambda log, s: log.info("x", extra={"a": {"b": [{"c": {"hash": s}}]}})),
        ("extra: list", lambda log, s: log.info("x", extra={"items": [{"signature": s}, "ok"]})),
        ("extra: tuple and set", lambda log, s: log.info("x", extra={"t": ({"sig": s},),
                                                                     "u": {f"/x?key={s}"}})),
        ("extra: URL value", lambda log, s: log.info("x", extra={"url": f"redis://:{s}@h/0"})),
        ("extra: query value", lambda log, s: log.info("x", extra={"path": f"/web?access_token={s}"})),
        ("extra: header dict", lambda log, s: log.info("x", extra={"headers": {"Authorization": f"Bearer {s}",
                                                                              "Cookie": f"session_id={s}"}})),
        ("extra: object", lambda log, s: log.info("x", extra={"conn": _Shows(f"redis://u:{s}@h/0")})),
        ("extra: bytes", lambda log, s: log.info("x", extra={"raw": f"password={s}".encode()})),
        ("exception message", lambda log, s: log.error(
            "failed", exc_info=_exc_info(ConnectionError(f"cannot reach redis://:{s}@r:6379/0")))),
        ("exception dict", lambda log, s: log.error("failed", exc_info=_exc_info(KeyError({"password": s})))),
        ("chained traceback", lambda log, s: log.error("failed", exc_info=_exc_info(
            RuntimeError("wrapped"), cause=ValueError(f"https://h/?X-Amz-Signature={s}")))),
        ("log.exception", lambda log, s: _exception(log, f"unix:///s.sock?password={s}")),
        ("re-entered formatter", lambda log, s: log.warning("%s", _LogsWhilePrinted(log, f"redis://:{s}@h"))),
        ("bad %-args", lambda log, s: log.warning(f"redis://:{s}@h %d", "not a number")),
    ]


def _exception(logger: logging.Logger, text: str) -> None:
    try:
        raise OSError(text)
    except OSError:
        logger.exception("store failed")


def _access_cases():
    def werkzeug(request_line: str) -> logging.LogRecord:
        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                                   '127.0.0.1 - - [26/Nov/2026 08:30:00] "%s" %s %s',
                                   (request_line, "200", "-"), None)
        record.perf_info = "1 0.001 0.002"
        return record

    def gevent(request_line: str) -> logging.LogRecord:
        return logging.LogRecord("longpolling", logging.INFO, __file__, 1,
                                 f'1.2.3.4 - - [2026-11-26 08:56:12] "{request_line}" 101 0 0.1', (), None)

    return [
        ("access: access_token",
         lambda s: werkzeug(f"GET /my/orders/7?access_token={s}&report_type=pdf HTTP/1.1")),
        ("access: reset token", lambda s: werkzeug(f"GET /web/reset_password?db=x&token={s} HTTP/1.1")),
        ("access: portal hash",
         lambda s: werkzeug(f"GET /mail/view?model=x&res_id=3&hash={s}&pid=4 HTTP/1.1")),
        ("access: password param", lambda s: werkzeug(f"POST /web/login?login=a&password={s} HTTP/1.1")),
        ("access: percent-encoded name", lambda s: werkzeug(f"GET /x?pass%77ord={s} HTTP/1.1")),
        ("access: signature", lambda s: werkzeug(f"GET /web/image/1?X-Amz-Signature={s} HTTP/1.1")),
        ("access: fragment", lambda s: werkzeug(f"GET /x#access_token={s} HTTP/1.1")),
        ("access: cut long line", lambda s: werkzeug(f"GET /x?{'a' * 8180}&token={s}{'b' * 100} HTTP/1.1")),
        ("access: coloured", lambda s: werkzeug(f"\x1b[1mGET /x?token={s} HTTP/1.1\x1b[0m")),
        ("gevent: websocket token", lambda s: gevent(f"GET /websocket?token={s} HTTP/1.1")),
        ("gevent: unparsable line", lambda s: gevent(f'GET /x?token={s}&q=" HTTP/1.1')),
    ]


@pytest.fixture
def capture(request):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.Logger(f"test.sweep.{request.node.name}", logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logs.end_request()


def _assert_hidden(output: str, planted: str) -> None:
    lines = output.splitlines()
    assert lines, "nothing was logged"
    for line in lines:
        json.loads(line)
    for shape in (planted, urllib.parse.quote(planted), planted[:12]):
        assert shape not in output, output


@pytest.mark.parametrize(("name", "log"), _cases(), ids=[name for name, _ in _cases()])
def test_a_secret_planted_in_a_record_never_reaches_the_line(capture, name, log):
    logger, stream = capture
    planted = secret()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log(logger, planted)
    _assert_hidden(stream.getvalue(), planted)


@pytest.mark.parametrize(("name", "make"), _access_cases(), ids=[name for name, _ in _access_cases()])
def test_a_secret_planted_in_an_access_line_never_reaches_the_line(name, make):
    planted = secret()
    record = make(planted)
    AccessLineFilter().filter(record)
    line = JsonFormatter().format(record)
    _assert_hidden(line, planted)
    assert planted not in record.getMessage()  # the filter masks for every handler, text ones too


def test_a_request_id_carrying_a_secret_is_replaced():
    """A client-chosen X-Request-ID is echoed and logged as-is only when masking would not change it."""
    for planted in (f"access_token={secret()}", f"a://u:{secret()}", f"x?password={secret()}"):
        assert not logs.is_valid_request_id(planted)
        assert logs.begin_request(planted) != planted
        line = JsonFormatter().format(logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None))
        _assert_hidden(line, planted.rpartition("=")[2].rpartition(":")[2])
    assert logs.begin_request("req-42.abc") == "req-42.abc"
    logs.end_request()
