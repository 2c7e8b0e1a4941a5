"""JSON log lines: fields, never raising, never recursing, request ids, access lines — no Odoo needed.

Records go through real `logging` loggers and handlers (a StreamHandler on a StringIO), as in a server.
"""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import warnings

import pytest

from odoo_cloud import logs
from odoo_cloud.logs import AccessLineFilter, JsonFormatter
from odoo_cloud.masking import mask_secrets

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def capture(request):
    """A logger with one JSON handler; returns (logger, lines()) — lines() parses every line written."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    # a Logger outside logging's registry: pytest's capture handler (whose own formatter would choke on
    # the hostile records below) is attached to every registered non-propagating logger
    logger = logging.Logger(f"test.observability.{request.node.name}", logging.DEBUG)
    logger.addHandler(handler)

    def lines() -> list[dict]:
        text = stream.getvalue()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]  # every line must be one JSON object

    yield logger, lines
    logs.end_request()


@pytest.fixture
def odoo_thread():
    """The thread attributes Odoo sets during a request (dbname, uid), removed afterwards."""
    thread = threading.current_thread()
    thread.dbname, thread.uid = "prod_db", 7
    yield thread
    del thread.dbname, thread.uid


def test_a_line_has_every_field(capture, odoo_thread):
    logger, lines = capture
    logs.begin_request("req-abc.123")
    logger.info("hello %s, %d items", "world", 3)
    (line,) = lines()
    assert list(line)[:9] == ["timestamp", "level", "logger", "message", "pid", "thread", "dbname", "uid",
                              "request_id"]
    assert ISO_UTC.fullmatch(line["timestamp"])
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["message"] == "hello world, 3 items"
    assert line["pid"] > 0 and line["thread"] == threading.current_thread().name
    assert (line["dbname"], line["uid"], line["request_id"]) == ("prod_db", 7, "req-abc.123")


def test_timestamp_is_utc_with_milliseconds():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.created, record.msecs = 1764146400.25, 250.0  # 2025-11-26 08:40:00.250 UTC
    assert json.loads(JsonFormatter().format(record))["timestamp"] == "2025-11-26T08:40:00.250Z"


def test_extras_are_kept_and_unserialisable_values_become_strings(capture):
    logger, lines = capture

    class Opaque:
        def __str__(self):
            return "opaque-object"

    circular: list = []
    circular.append(circular)
    logger.info("with extras", extra={"job_uuid": "j-1", "attempt": 2, "tags": {"a"}, "blob": b"\xffx",
                                      "thing": Opaque(), "nested": {"when": Opaque()}, "loop": circular})
    logger.info("only circular", extra={"loop": circular})
    first, second = lines()
    assert first["job_uuid"] == "j-1" and first["attempt"] == 2
    assert first["tags"] == ["a"] and first["thing"] == "opaque-object"
    assert first["blob"] == "\ufffdx"
    assert first["nested"] == {"when": "opaque-object"}
    assert first["loop"] == "[[...]]"  # only the circular value is stringified; the line is kept
    assert second["message"] == "only circular" and second["loop"] == "[[...]]"


def test_an_extra_that_cannot_even_be_printed(capture):
    logger, lines = capture

    class Hostile:
        def __str__(self):
            raise RuntimeError("no str for you")

        __repr__ = __str__

    logger.warning("hostile extra", extra={"thing": Hostile()})
    (line,) = lines()
    assert line["message"] == "hostile extra" and line["thing"] == "<unprintable Hostile>"


def test_secrets_are_masked(capture):
    logger, lines = capture
    try:
        raise ConnectionError("cannot reach redis://odoo:s3cr3t@redis.internal:6379/0")
    except ConnectionError:
        logger.exception("session store at %s is down", "redis://odoo:s3cr3t@redis.internal:6379/0",
                         extra={"password": "hunter2", "aws_secret_access_key": "AKIA/xyz", "api_key": "k",
                                "bucket": "acme-odoo-prod"})
    (line,) = lines()
    assert "s3cr3t" not in json.dumps(line) and "hunter2" not in json.dumps(line)
    assert line["message"] == "session store at redis://odoo:****@redis.internal:6379/0 is down"
    assert line["password"] == line["aws_secret_access_key"] == line["api_key"] == "****"
    assert line["bucket"] == "acme-odoo-prod"
    assert "redis://odoo:****@" in line["traceback"] and "redis://odoo:****@" in line["exc_message"]


@pytest.mark.parametrize(("key", "masked"), [
    ("password", True), ("db_password", True), ("PASSWD", True), ("session_token", True),
    ("aws_secret_access_key", True), ("x-api-key", True), ("Authorization", True), ("cookie", True),
    ("tests_passed", False), ("bypass_cache", False), ("passenger_count", False), ("tokenizer", False),
    ("job_uuid", False), ("bucket", False),
])
def test_which_extra_keys_are_secrets(capture, key, masked):
    logger, lines = capture
    logger.info("extra", extra={key: "value-42"})
    (line,) = lines()
    assert line[key] == ("****" if masked else "value-42")


def test_errors_carry_type_message_and_traceback(capture):
    logger, lines = capture
    try:
        {}["missing"]
    except KeyError:
        logger.error("lookup failed", exc_info=True)
    logger.info("no exception here", stack_info=True)
    error, with_stack = lines()
    assert error["level"] == "ERROR"
    assert error["exc_type"] == "KeyError" and error["exc_message"] == "'missing'"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert error["traceback"].rstrip().endswith("KeyError: 'missing'")
    assert "exc_type" not in with_stack and "Stack (most recent call last)" in with_stack["stack_info"]


def test_bad_format_arguments_keep_the_line(capture):
    logger, lines = capture
    logger.info("two placeholders %s %s", "only-one")  # noqa: PLE1206 - on purpose
    (line,) = lines()
    assert line["message"].startswith("two placeholders %s %s (log arguments did not format: TypeError")


def test_a_dict_message_is_merged(capture):
    logger, lines = capture
    logger.info({"event": "migrated", "count": 3})
    (line,) = lines()
    assert (line["event"], line["count"], line["message"]) == ("migrated", 3, "")


def test_a_warning_raised_while_formatting_neither_raises_nor_recurses(capture):
    """Odoo routes warnings into logging (captureWarnings): a warning emitted inside format() re-enters it."""
    logger, lines = capture
    py_warnings = logging.getLogger("py.warnings")
    saved = py_warnings.handlers[:], py_warnings.propagate
    py_warnings.handlers[:] = logger.handlers
    py_warnings.propagate = False

    class Deprecated:
        def __str__(self):
            warnings.warn("Deprecated.__str__ is deprecated", DeprecationWarning, stacklevel=1)
            return "deprecated-object"

    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logger.info("value: %s", Deprecated())
    finally:
        logging.captureWarnings(False)
        py_warnings.handlers[:], py_warnings.propagate = saved
    inner, outer = lines()  # the warning's line is written while the outer one is being formatted
    assert inner["logger"] == "py.warnings"
    assert "re-entered" in inner["format_error"] and "Deprecated.__str__ is deprecated" in inner["message"]
    assert outer["message"] == "value: deprecated-object" and "format_error" not in outer


def test_a_warning_turned_into_an_error_while_formatting(capture):
    logger, lines = capture

    class Deprecated:
        def __str__(self):
            warnings.warn("no", DeprecationWarning, stacklevel=1)
            return "never"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger.info("value: %s", Deprecated())
    (line,) = lines()
    assert "DeprecationWarning" in line["message"] and line["level"] == "INFO"


def test_a_log_call_and_a_recursion_error_inside_str(capture):
    logger, lines = capture

    class Chatty:
        def __str__(self):
            logger.info("logged from inside __str__")
            return "chatty"

    class Bottomless:
        def __str__(self):
            return str(self)

    logger.info("chatty: %s", Chatty())
    logger.info("bottomless: %s", Bottomless())
    inner, chatty, bottomless = lines()
    assert inner["message"] == "logged from inside __str__" and "re-entered" in inner["format_error"]
    assert chatty["message"] == "chatty: chatty"
    assert bottomless["message"].startswith("bottomless: %s (log arguments did not format: RecursionError")


def test_the_formatter_survives_a_failing_context_provider():
    def broken_context():
        raise RuntimeError("context unavailable")

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "still logged", (), None)
    line = json.loads(JsonFormatter(context=broken_context).format(record))
    assert line["message"] == "still logged" and line["format_error"] == "formatting failed: RuntimeError"


# --------------------------------------------------------------------------------------------- request id
@pytest.mark.parametrize("value", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "req.1:2+3=4/5_6",
                                   "a" * 128])
def test_well_formed_request_ids_are_honoured(value):
    assert logs.is_valid_request_id(value)
    assert logs.begin_request(value) == value == logs.current_request_id()
    logs.end_request()


@pytest.mark.parametrize("value", ["", " ", "a" * 129, "bad id", "x\r\nSet-Cookie: a=b", "-leading", "é",
                                   '"q"'])
def test_hostile_request_ids_are_replaced(value):
    assert not logs.is_valid_request_id(value)
    generated = logs.begin_request(value)
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and generated != value
    logs.end_request()
    assert logs.current_request_id() is None


def _wsgi_app(logger):
    class App:
        def __call__(self, environ, start_response):
            logger.info("inside the request")
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]

    App.__call__ = logs.wrap_wsgi_call(App.__call__)
    return App()


def test_wsgi_wrapper_echoes_the_id_and_puts_it_on_every_line(capture):
    logger, lines = capture
    app = _wsgi_app(logger)
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen.update(headers)

    app({"HTTP_X_REQUEST_ID": "incoming-42", "PATH_INFO": "/"}, start_response)
    assert seen["X-Request-ID"] == "incoming-42"
    logger.info("access line, after the application returned")
    # the access line's size comes from the response's Content-Length when werkzeug logs "-"
    assert json.loads(JsonFormatter().format(_access_record(size="-")))["http_response_bytes"] == 2
    logs.end_request()
    logger.info("between requests")
    app({"HTTP_X_REQUEST_ID": "bad id\r\n", "PATH_INFO": "/"}, start_response)
    generated = seen["X-Request-ID"]
    inside, after, between, inside_2 = lines()
    assert inside["request_id"] == after["request_id"] == "incoming-42"
    assert between["request_id"] is None
    assert inside_2["request_id"] == generated and re.fullmatch(r"[0-9a-f]{32}", generated)


def test_a_thread_outside_any_request_never_carries_an_id(capture):
    """A cron thread logging while a request runs in another thread gets no (stale or foreign) id."""
    logger, lines = capture
    logs.begin_request("request-in-main-thread")
    cron = threading.Thread(target=lambda: logger.info("cron job done"), name="odoo.service.cron.cron0")
    cron.start()
    cron.join()
    logger.info("request line")
    cron_line, request_line = lines()
    assert cron_line["thread"] == "odoo.service.cron.cron0" and cron_line["request_id"] is None
    assert request_line["request_id"] == "request-in-main-thread"


# --------------------------------------------------------------------------------------------- access line
def _access_record(status="200", size="1234", perf="12 0.034 0.120",
                   request_line="GET /web/login?db=x HTTP/1.1"):
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '127.0.0.1 - - [26/Nov/2026 08:30:00] "%s" %s %s',
                               (request_line, status, size), None)
    record.perf_info = perf
    AccessLineFilter().filter(record)
    return record


def test_access_line_numbers(odoo_thread):
    line = json.loads(JsonFormatter().format(_access_record()))
    assert line["message"] == '127.0.0.1 - - [26/Nov/2026 08:30:00] "GET /web/login?db=x HTTP/1.1" 200 1234'
    assert (line["http_method"], line["http_path"], line["http_status"]) == ("GET", "/web/login?db=x", 200)
    assert line["http_response_bytes"] == 1234 and line["remote_addr"] == "127.0.0.1"
    assert line["sql_count"] == 12 and line["sql_time_ms"] == 34.0 and line["duration_ms"] == 154.0
    assert line["dbname"] == "prod_db" and "perf_info" not in line


def test_access_lines_do_not_hand_out_tokens():
    record = _access_record(request_line="GET /my/orders/7?access_token=2f1e-secret&report_type=pdf HTTP/1.1")
    line = json.loads(JsonFormatter().format(record))
    assert line["http_path"] == "/my/orders/7?access_token=****&report_type=pdf"
    assert "2f1e-secret" not in line["message"] and "access_token=****&report_type=pdf" in line["message"]
    reset = _access_record(request_line="GET /web/reset_password?db=x&token=abc123 HTTP/1.1")
    assert json.loads(JsonFormatter().format(reset))["http_path"] == "/web/reset_password?db=x&token=****"
    gevent = logging.LogRecord("longpolling", logging.INFO, __file__, 1,
                               '1.2.3.4 - - [2026-11-26 08:56:12] "GET /websocket?token=t0k HTTP/1.1" '
                               "101 0 0.1", (), None)
    AccessLineFilter().filter(gevent)
    assert "t0k" not in JsonFormatter().format(gevent)
    assert mask_secrets("/web?db=prod&debug=1") == "/web?db=prod&debug=1"


def test_access_line_coloured_and_without_perf_figures():
    coloured = _access_record(status="\x1b[33m404\x1b[0m", size="-",
                              perf="\x1b[1;31;49m1200\x1b[0m 0.002 \x1b[1;33;49m1.500\x1b[0m",
                              request_line="\x1b[33mGET /missing HTTP/1.1\x1b[0m")
    line = json.loads(JsonFormatter().format(coloured))
    assert (line["http_method"], line["http_path"], line["http_status"]) == ("GET", "/missing", 404)
    assert line["http_response_bytes"] is None and line["sql_count"] == 1200 and line["duration_ms"] == 1502.0
    plain = json.loads(JsonFormatter().format(_access_record(perf="- - -")))
    assert plain["http_status"] == 200 and "sql_count" not in plain and "duration_ms" not in plain


def test_gevent_access_line():
    """Odoo's evented (long-polling/websocket) process logs gevent's pywsgi line on `longpolling`."""
    record = logging.LogRecord("longpolling", logging.INFO, __file__, 1,
                               '10.0.0.7 - - [2026-11-26 08:56:12] "GET /websocket?version=18.0-1 HTTP/1.1" '
                               "101 0 12.345678", (), None)
    AccessLineFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["http_method"], line["http_path"]) == ("GET", "/websocket?version=18.0-1")
    assert line["http_status"] == 101
    assert line["http_response_bytes"] == 0 and line["remote_addr"] == "10.0.0.7"
    assert line["duration_ms"] == 12345.678
    unfinished = logging.LogRecord("longpolling", logging.INFO, __file__, 1,
                                   '- - - [2026-11-26 08:56:12] "GET / HTTP/1.1" 500 - -', (), None)
    AccessLineFilter().filter(unfinished)
    line = json.loads(JsonFormatter().format(unfinished))
    assert line["http_status"] == 500 and line["http_response_bytes"] is None and "duration_ms" not in line
    other = logging.LogRecord("longpolling", logging.INFO, __file__, 1, "Evented Service running on 8072", (),
                              None)
    AccessLineFilter().filter(other)
    assert "http_status" not in json.loads(JsonFormatter().format(other))


def test_secret_objects_never_show(capture):
    from odoo_cloud.config import Secret

    logger, lines = capture
    logger.info("connecting with %s", Secret("p4ssw0rd"), extra={"settings": {"password": Secret("p4ssw0rd")},
                                                                  "key": Secret("p4ssw0rd")})
    (line,) = lines()
    assert "p4ssw0rd" not in json.dumps(line)
    assert line["message"] == "connecting with ****" and line["settings"] == {"password": "****"}


def test_other_werkzeug_lines_are_left_alone():
    record = logging.LogRecord("werkzeug", logging.ERROR, __file__, 1, "code 400, message %s",
                               ("Bad request",), None)
    assert AccessLineFilter().filter(record) is True
    assert "http_status" not in json.loads(JsonFormatter().format(record))


def test_install_formatter_skips_what_it_is_told_to():
    class DatabaseHandler(logging.Handler):
        def emit(self, record):
            pass

    stream_handler, db_handler = logging.StreamHandler(sys.stderr), DatabaseHandler()
    formatter = JsonFormatter()
    changed = logs.install_formatter([stream_handler, db_handler], formatter,
                                     skip=lambda handler: isinstance(handler, DatabaseHandler))
    assert changed == [stream_handler] and stream_handler.formatter is formatter
    assert db_handler.formatter is None


def test_a_syslog_handler_carries_one_json_object_per_datagram():
    """Odoo's --syslog handler (SysLogHandler) with our formatter, to a real UDP socket."""
    import logging.handlers
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    handler = logging.handlers.SysLogHandler(address=receiver.getsockname())
    handler.setFormatter(JsonFormatter())
    logger = logging.Logger("test.observability.syslog", logging.INFO)
    logger.addHandler(handler)
    try:
        logger.warning("disk %s is %d%% full", "/var", 93)
        datagram = receiver.recv(65536).decode()
    finally:
        handler.close()
        receiver.close()
    priority, _, payload = datagram.partition(">")
    assert priority == "<12" and payload.endswith("\x00")  # user.warning, NUL-terminated by the handler
    line = json.loads(payload[:-1])
    assert line["message"] == "disk /var is 93% full" and line["level"] == "WARNING"
