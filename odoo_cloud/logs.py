"""JSON log lines for log shippers (Elasticsearch/Kibana), and the request id that ties them together.

Why it is shaped like this:

- A log formatter runs inside every ``logger.x()`` call of the process. Odoo routes Python warnings into
  logging, so a formatter that triggers a warning (``str()`` of an odd object, a deprecated API) is
  re-entered from inside itself; the formatter of the original suite died of ``RecursionError`` there and
  took job queues down. Here a per-thread guard makes a re-entered call emit a minimal line built
  without calling any foreign code, and every failure falls back to a smaller, still valid, JSON line:
  `JsonFormatter.format` never raises.
- The request context (database, user, request id) lives in thread attributes and a thread-local, read
  at format time, so no Odoo import is needed here and a cron thread never sees a request's id.
- The werkzeug access line is written after the application returned (Odoo's request is gone by then);
  `AccessLineFilter` turns its text and Odoo's ``perf_info`` into numbers while the thread still holds
  them.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from threading import current_thread
from typing import TYPE_CHECKING, Any, Optional, cast

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _PythonJsonFormatter

from .masking import MASK, bounded, is_secret_name, mask_data, mask_secrets
from .tracecontext import request_trace_ids
from .wsgi import WsgiCall, wraps

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


__all__ = [
    "REQUEST_ID_HEADER", "AccessLineFilter", "JsonFormatter", "begin_request", "current_request_id",
    "end_request", "install_formatter", "is_valid_request_id", "new_request_id",
    "parse_access_line", "parse_gevent_access_line", "thread_context", "wrap_wsgi_call",
]

REQUEST_ID_HEADER = "X-Request-ID"
_ENVIRON_REQUEST_ID = "HTTP_X_REQUEST_ID"
_ENVIRON_TRACEPARENT = "HTTP_TRACEPARENT"
#: bounded, header-safe and log-safe: no spaces, quotes, CR/LF or separators that could forge a line
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
REQUEST_ID_MAX_LENGTH = 128
#: request-derived text is cut to these lengths before it is parsed or masked (a proxy's URL limit is
#: 8 KiB by default; werkzeug reads request lines of up to 64 KiB)
MAX_REQUEST_LINE = 8192
MAX_REMOTE_ADDR = 256
#: messages and exception texts are cut before masking: masking is linear, but a line has to end somewhere
MAX_MESSAGE = 65536
MAX_TRACEBACK = 262144

# --------------------------------------------------------------------------------------------- request id
class _RequestState(threading.local):
    # class defaults: reading them when unset raises no AttributeError
    id: Optional[str] = None
    #: W3C trace context of the request (odoo_cloud.tracecontext)
    trace_id: Optional[str] = None
    span_id: Optional[str] = None
    #: Content-Length of the response, for the access line (werkzeug logs "-" for Odoo's responses)
    response_bytes: Optional[int] = None


_request = _RequestState()


def is_valid_request_id(value: Optional[str]) -> bool:
    """An incoming X-Request-ID we can echo and log as-is (1-128 chars of letters, digits, ``._:+=/-``,
    and nothing `mask_secrets` would hide, such as ``access_token=…``: a log must not carry it)."""
    return (value is not None and 0 < len(value) <= REQUEST_ID_MAX_LENGTH
            and REQUEST_ID_PATTERN.fullmatch(value) is not None and mask_secrets(value) == value)


def new_request_id() -> str:
    """32 hex characters of OS randomness (the shape of a uuid4 hex, at a third of its cost)."""
    return os.urandom(16).hex()


def begin_request(incoming: Optional[str] = None, traceparent: Optional[str] = None) -> str:
    """Make `incoming` (when well-formed) or a fresh id the current thread's request id, and return it;
    the trace ids come from `traceparent` (or a new trace, see `odoo_cloud.tracecontext`)."""
    request_id = incoming if incoming and is_valid_request_id(incoming) else new_request_id()
    _request.id = request_id
    _request.trace_id, _request.span_id = request_trace_ids(traceparent)
    _request.response_bytes = None
    return request_id


def end_request() -> None:
    """Forget the current thread's request id: lines logged from now on carry none."""
    _request.id = None
    _request.trace_id = _request.span_id = None
    _request.response_bytes = None


def current_request_id() -> Optional[str]:
    return _request.id


def wrap_wsgi_call(call: WsgiCall) -> WsgiCall:
    """Wrap an unbound WSGI ``__call__(self, environ, start_response)`` with request-id handling.

    The id is set before the application runs and echoed as a response header. It is *not* cleared when
    the application returns: the access line is written later, in the same thread. The server glue calls
    `end_request` once the HTTP exchange is over (and the next request replaces it anyway).
    """

    def __call__(self: Any, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = begin_request(environ.get(_ENVIRON_REQUEST_ID), environ.get(_ENVIRON_TRACEPARENT))

        def start_response_with_id(status: str, headers: list[tuple[str, str]],
                                   exc_info: Optional[OptExcInfo] = None) -> Callable[[bytes], object]:
            try:
                echoed = False
                for name, value in headers:
                    lowered = name.lower()
                    if lowered == "x-request-id":
                        echoed = True
                    elif lowered == "content-length" and value.isdigit():
                        _request.response_bytes = int(value)
                if not echoed:
                    headers = [*headers, (REQUEST_ID_HEADER, request_id)]
            except Exception:  # odd header containers: never fail the response for an id
                pass
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return call(self, environ, start_response_with_id)

    return wraps(call, __call__)


# ---------------------------------------------------------------------------------------------- access line
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(r"(?P<method>[A-Z]+) (?P<path>\S+)(?: (?P<version>HTTP/[\d.]+))?")
ACCESS_ATTRIBUTE = "_odoo_cloud_http"


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None


_GEVENT_ACCESS = re.compile(r'(?P<remote>\S+) - - \[[^\]]*\] "(?P<line>[^"]*)" (?P<status>\S+) (?P<size>\S+) '
                            r"(?P<seconds>\d+\.\d+|-)")


def parse_gevent_access_line(message: str) -> Optional[dict[str, Any]]:
    """HTTP fields of gevent's pywsgi access line (Odoo's long-polling/websocket process, logger
    ``longpolling``): ``<addr> - - [<date>] "<request line>" <status> <size> <seconds>``."""
    match = _GEVENT_ACCESS.fullmatch(message)
    if match is None:
        return None
    fields: dict[str, Any] = {}
    request = _REQUEST_LINE.match(match["line"])
    if request:
        fields["http_method"] = request["method"]
        fields["http_path"] = request["path"]
    fields["http_status"] = _number(match["status"], int)
    fields["http_response_bytes"] = _number(match["size"], int)
    fields["remote_addr"] = match["remote"][:MAX_REMOTE_ADDR]
    seconds = _number(match["seconds"], float)
    if seconds is not None:
        fields["duration_ms"] = round(seconds * 1000, 3)
    return fields


def clean_request_line(value: Any) -> str:
    """A request line fit for a log: cut to `MAX_REQUEST_LINE`, ANSI colours removed, secrets masked
    (``/my/orders/7?access_token=…``, ``/web/reset_password?token=…``, portal ``hash=``)."""
    # cut again after masking: a mask can be longer than what it hides
    return bounded(mask_secrets(_ANSI.sub("", bounded(_safe_str(value), MAX_REQUEST_LINE))), MAX_REQUEST_LINE)


def clean_gevent_access_line(message: str) -> str:
    """Gevent's whole access line (its request line is inside), cut and masked like a request line."""
    return bounded(mask_secrets(bounded(message, MAX_REQUEST_LINE + 512)), MAX_REQUEST_LINE + 512)


def _is_werkzeug_access(record: logging.LogRecord) -> bool:
    args = record.args
    return (isinstance(args, tuple) and len(args) == 3 and isinstance(record.msg, str)
            and record.msg.endswith('"%s" %s %s'))


def _is_gevent_access(record: logging.LogRecord) -> bool:
    return not record.args and isinstance(record.msg, str) and " - - [" in record.msg


def parse_access_line(record: logging.LogRecord) -> Optional[dict[str, Any]]:
    """HTTP fields of a werkzeug access record (``'"%s" %s %s'`` with request line, status, size).

    Also turns Odoo's ``perf_info`` ("<query count> <query time s> <remaining time s>", possibly
    colourised) into numbers. Gevent's access line (no arguments, one string) is parsed too.
    Returns None for any other record. Every text is cut and masked before it is parsed.
    """
    if _is_gevent_access(record):
        return parse_gevent_access_line(clean_gevent_access_line(record.msg))
    if not _is_werkzeug_access(record):
        return None
    return _werkzeug_fields(record, clean_request_line(_access_args(record)[0]))


def _access_args(record: logging.LogRecord) -> tuple[Any, ...]:
    """The (request line, status, size) of a record `_is_werkzeug_access` accepted."""
    return cast(tuple[Any, ...], record.args)


def _werkzeug_fields(record: logging.LogRecord, request_line: str) -> dict[str, Any]:
    _line, status, size = _access_args(record)
    fields: dict[str, Any] = {}
    match = _REQUEST_LINE.match(request_line)
    if match:
        fields["http_method"] = match["method"]
        fields["http_path"] = match["path"]
    fields["http_status"] = _number(_ANSI.sub("", bounded(_safe_str(status), 64)), int)
    fields["http_response_bytes"] = _number(_ANSI.sub("", bounded(_safe_str(size), 64)), int)
    if fields["http_response_bytes"] is None:
        fields["http_response_bytes"] = _request.response_bytes  # from the Content-Length we saw
    # the client address (X-Forwarded-For behind a proxy_mode Odoo): whatever the client sent
    remote = record.msg[:MAX_REMOTE_ADDR].split(" ", 1)[0]
    if remote:
        fields["remote_addr"] = remote
    perf = getattr(record, "perf_info", "")
    if perf:
        parts = _ANSI.sub("", bounded(str(perf), 256)).split()
        if len(parts) >= 3:
            count = _number(parts[0], int)
            sql_time, other_time = _number(parts[1], float), _number(parts[2], float)
            if count is not None:
                fields["sql_count"] = count
            if sql_time is not None:
                fields["sql_time_ms"] = round(sql_time * 1000, 3)
                if other_time is not None:
                    fields["duration_ms"] = round((sql_time + other_time) * 1000, 3)
    return fields


class AccessLineFilter(logging.Filter):
    """On the ``werkzeug`` logger, after Odoo's PerfFilter (and on gevent's ``longpolling`` logger): store
    the access line's HTTP fields on the record, and replace its request line by the cut, masked one.

    A logger filter runs once per record, before any handler, so every handler (text, JSON, database)
    sees the same numbers and the same masked tokens; it never drops a record and never raises.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if _is_werkzeug_access(record):
                request_line = clean_request_line(_access_args(record)[0])
                setattr(record, ACCESS_ATTRIBUTE, _werkzeug_fields(record, request_line))
                record.args = (request_line, *_access_args(record)[1:])
            elif _is_gevent_access(record):
                message = clean_gevent_access_line(record.msg)
                fields = parse_gevent_access_line(message)
                record.msg = message
                if fields is not None:
                    setattr(record, ACCESS_ATTRIBUTE, fields)
        except Exception:  # a filter that raises would lose the line
            pass
        return True


# ---------------------------------------------------------------------------------------------- formatter
#: LogRecord attributes that are not "extra" data (plus Odoo's: perf_info, pid, dbname set by its formatter)
STANDARD_ATTRIBUTES = frozenset(RESERVED_ATTRS) | {
    "taskName", "perf_info", "pid", "dbname", "message", "asctime"}
_JSON_SCALARS = (str, int, float, bool, type(None))
#: extra values that cannot hold a secret: kept as they are, without a call
_UNMASKED = frozenset({int, float, bool, type(None)})
#: extra keys seen -> whether they name a secret: the formatter's lookup of `is_secret_name` (extra keys
#: are a small set written in code; the size bound keeps odd callers from growing it)
_secret_extra_keys: dict[str, bool] = {}


def _remember_extra_key(key: str) -> bool:
    secret = is_secret_name(key)
    if len(_secret_extra_keys) < 4096 and len(key) <= 128:
        _secret_extra_keys[key] = secret
    return secret
_LEVEL_NAMES = {level: logging.getLevelName(level) for level in (10, 20, 30, 40, 50)}
_MILLISECONDS = [f".{ms:03d}Z" for ms in range(1000)]  # string concatenation beats %-formatting per record


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return f"<unprintable {type(value).__name__}>"
        except Exception:
            return "<unprintable>"


def _json_default(value: Any) -> Any:
    """Anything json cannot encode becomes its masked str() (sets become lists): never an exception."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return mask_secrets(value.decode("utf-8", "replace"))
    return mask_secrets(_safe_str(value))


def thread_context() -> tuple[Optional[str], Any]:
    """(dbname, uid) of the current thread, as Odoo stores them on ``threading.current_thread()``."""
    attrs = threading.current_thread().__dict__
    return attrs.get("dbname"), attrs.get("uid")


def _fast_encoder() -> Optional[Callable[[Any], str]]:
    """CPython's C encoder built once (json.dumps builds one per call: 60% of a record's encoding cost).

    No circular-reference markers: a circular extra ends in RecursionError, which `jsonify_log_record`
    answers by stringifying the extras. None when the C accelerator is missing (json.JSONEncoder then).
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return None
    encoder = make_encoder(None, _json_default, json.encoder.encode_basestring_ascii, None, ":", ",",
                           False, False, True)

    def encode(data: Any) -> str:
        return "".join(encoder(data, 0))

    return encode


class _Guard(threading.local):
    depth = 0


class JsonFormatter(_PythonJsonFormatter):
    """One JSON object per record, on python-json-logger 4's formatter (``pythonjsonlogger.json``).

    Fields: ``timestamp`` (ISO 8601 UTC, ms), ``level``, ``logger``, ``message``, ``pid``, ``thread``,
    ``dbname``, ``uid``, ``request_id``; on access lines ``http_method``, ``http_path``, ``http_status``,
    ``http_response_bytes``, ``remote_addr``, ``duration_ms``, ``sql_count``, ``sql_time_ms``; with an
    exception ``exc_type``, ``exc_message``, ``traceback``; then the caller's ``extra`` attributes
    (masked by `odoo_cloud.masking` at any depth; values json cannot encode become masked strings).
    Messages are cut to `MAX_MESSAGE` characters before masking; access lines come masked from
    `AccessLineFilter`.
    ``trace_id`` and ``span_id`` (W3C trace context) follow ``request_id``.
    """

    def __init__(self, context: Callable[[], tuple[Optional[str], Any]] = thread_context,
                 static_fields: Optional[dict[str, Any]] = None) -> None:
        super().__init__(reserved_attrs=sorted(STANDARD_ATTRIBUTES), static_fields=static_fields,
                         json_default=_json_default, json_ensure_ascii=True)
        self.context = context
        self._thread_context = context is thread_context
        self._encoder = json.JSONEncoder(default=_json_default, ensure_ascii=True, check_circular=True,
                                         separators=(",", ":"))
        self._encode = _fast_encoder() or self._encoder.encode
        self._guard = _Guard()
        self._second: tuple[int, str] = (-1, "")
        # subclasses overriding python-json-logger's hooks get the full pipeline; we skip two calls
        cls = type(self)
        self._plain_pipeline = (cls.process_log_record is _PythonJsonFormatter.process_log_record
                                and cls.serialize_log_record is _PythonJsonFormatter.serialize_log_record
                                and cls.jsonify_log_record is JsonFormatter.jsonify_log_record)

    # -- python-json-logger hooks -----------------------------------------------------------------------
    def format(self, record: logging.LogRecord) -> str:
        guard = self._guard
        if guard.depth:
            return self._minimal(record, "re-entered while formatting (a warning or log call from inside "
                                         "the formatter)")
        guard.depth += 1
        try:
            data = self._fields(record)
            if self._plain_pipeline:
                try:
                    return self.prefix + self._encode(data)
                except (TypeError, ValueError, RecursionError):
                    return self.prefix + self.jsonify_log_record(data)
            return self.serialize_log_record(self.process_log_record(data))
        except BaseException as exc:  # RecursionError, MemoryError in a __str__... never propagate
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return self._minimal(record, f"formatting failed: {type(exc).__name__}")
        finally:
            guard.depth -= 1

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_data.update(self._fields(record))
        for key, value in message_dict.items():
            log_data[key] = value

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        try:
            return self._encode(log_data)
        except (TypeError, ValueError, RecursionError):  # a circular or exotic extra: stringify only it
            return self._encoder.encode({key: self._encodable(value) for key, value in log_data.items()})

    def _encodable(self, value: Any) -> Any:
        if isinstance(value, _JSON_SCALARS):
            return value
        try:
            self._encoder.encode(value)  # with circular checks: a ValueError, not a deep recursion
        except Exception:
            return mask_secrets(_safe_str(value))
        return value

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:
        """ISO 8601 UTC with milliseconds; the seconds part is cached (most records share a second)."""
        second = int(record.created)
        cached_second, prefix = self._second
        if second != cached_second:
            prefix = self._new_second(second)
        return prefix + _MILLISECONDS[int(record.msecs) % 1000]

    # -- ours -------------------------------------------------------------------------------------------
    def _new_second(self, second: int) -> str:
        """Date-time prefix of a second not seen just before; callers inline the (usual) cache hit."""
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._second = (second, prefix)
        return prefix

    def _fields(self, record: logging.LogRecord) -> dict[str, Any]:  # noqa: C901, PLR0912, PLR0915  # hot path, flat on purpose
        # one flat function with a dict display: this runs for every log line of the server, and each
        # avoided call or store is measurable against the text formatter (bench/bench_logs.py)
        if self._thread_context:
            attrs = current_thread().__dict__  # getattr(default) on a missing attribute costs an exception
            dbname, uid = attrs.get("dbname"), attrs.get("uid")
        else:
            dbname, uid = self.context()
        second = int(record.created)
        cached_second, prefix = self._second
        if second != cached_second:
            prefix = self._new_second(second)
        msg = record.msg
        attributes = record.__dict__
        if msg.__class__ is dict:
            message = ""
        else:
            try:
                args = record.args
                if args.__class__ is dict:  # logger.info("%(password)s", {...}): mask by key first
                    message = str(msg) % mask_data(args)
                else:
                    message = record.getMessage()
            except Exception as exc:  # bad %-args: keep what the caller wrote instead of losing the line
                message = f"{_safe_str(msg)} (log arguments did not format: {type(exc).__name__})"
            if len(message) > MAX_MESSAGE:
                message = bounded(message, MAX_MESSAGE)
            # access lines were masked by AccessLineFilter; mask_secrets's own fast path, inlined (hot)
            if ("=" in message or "://" in message or "':" in message or '":' in message) \
                    and ACCESS_ATTRIBUTE not in attributes:
                message = mask_secrets(message)
        data = {
            "timestamp": prefix + _MILLISECONDS[int(record.msecs) % 1000],
            "level": _LEVEL_NAMES.get(record.levelno) or logging.getLevelName(record.levelno),
            "logger": record.name,
            "message": message,
            "pid": record.process,
            "thread": record.threadName,
            "dbname": dbname,
            "uid": uid,
            "request_id": _request.id,
            "trace_id": _request.trace_id,
            "span_id": _request.span_id,
        }
        extra = attributes.keys() - STANDARD_ATTRIBUTES  # C-level set difference: most records have none
        if extra and ACCESS_ATTRIBUTE in extra:
            data.update(attributes[ACCESS_ATTRIBUTE])
            extra.discard(ACCESS_ATTRIBUTE)
        if record.exc_info or record.exc_text or record.stack_info:
            self._add_exception(data, record)
        if self.static_fields:
            for key, value in self.static_fields.items():
                data.setdefault(key, value)
        if extra:
            for key in sorted(extra):
                if key[:1] == "_" or key in data:
                    continue
                secret = _secret_extra_keys.get(key)
                if secret is None:
                    secret = _remember_extra_key(key)
                if secret:
                    data[key] = MASK
                else:
                    value = attributes[key]
                    cls = value.__class__
                    if cls is str:
                        data[key] = mask_secrets(value) if ("=" in value or ":" in value) else value
                    else:
                        data[key] = value if cls in _UNMASKED else mask_data(value)
        if msg.__class__ is dict:  # python-json-logger's "log a dict" convention
            for key, value in mask_data(msg).items():
                data.setdefault(_safe_str(key), value)
        return data

    def _add_exception(self, data: dict[str, Any], record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, _tb = record.exc_info
            data["exc_type"] = getattr(exc_type, "__name__", None) or _safe_str(exc_type)
            data["exc_message"] = mask_secrets(bounded(_safe_str(exc), MAX_MESSAGE))
            if not record.exc_text:
                record.exc_text = _text(self.formatException(record.exc_info))
        if record.exc_text:
            data["traceback"] = mask_secrets(bounded(record.exc_text, MAX_TRACEBACK, keep="tail"))
        if record.stack_info:
            stack = _text(self.formatStack(record.stack_info))
            data["stack_info"] = mask_secrets(bounded(stack, MAX_TRACEBACK, keep="tail"))

    def _minimal(self, record: logging.LogRecord, problem: str) -> str:
        """A line built only from plain attributes: no __str__ of foreign objects, no context lookups."""
        msg = record.msg if isinstance(record.msg, str) else f"<{type(record.msg).__name__} message>"
        data = {
            "timestamp": self.formatTime(record),
            "level": logging.getLevelName(record.levelno),
            "logger": record.name if isinstance(record.name, str) else "?",
            "message": mask_secrets(bounded(msg, MAX_MESSAGE)),
            "pid": record.process,
            "format_error": problem,
        }
        try:
            return json.dumps(data, ensure_ascii=True, separators=(",", ":"))
        except Exception:
            return '{"format_error": "unencodable record"}'


def install_formatter(handlers: Iterable[logging.Handler], formatter: logging.Formatter,
                      skip: Callable[[logging.Handler], bool] = lambda handler: False,
                      ) -> list[logging.Handler]:
    """Give `formatter` to every handler not `skip`ped; returns the handlers changed."""
    changed = []
    for handler in handlers:
        if skip(handler):
            continue
        handler.setFormatter(formatter)
        changed.append(handler)
    return changed


def _text(formatted: str | list[str]) -> str:
    """python-json-logger formats a traceback as a list of lines only when asked to (we never do)."""
    return formatted if isinstance(formatted, str) else "\n".join(formatted)
