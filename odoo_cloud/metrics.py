"""statsd metrics: camptocamp-compatible request timers, status and SQL figures, store operations.

Why it is shaped like this:

- Odoo's prefork server forks workers *after* ``post_load``: a socket opened there would be shared by
  every worker. The client is built lazily, per process (pid checked on every use), and a failure to
  build it (DNS) is retried at most once per `RETRY_SECONDS` so a broken resolver never slows requests.
- UDP with a non-blocking socket, one datagram per request: a missing or slow daemon never delays or
  fails a request. Send errors are logged at most once per `RETRY_SECONDS` per process.
- Dashboards built on the original suite keep working: ``odoo.http.request.<customer>.<env>`` and
  ``odoo.http.button.<customer>.<env>.<model_with_underscores>.<method>``. Every name part coming from a
  request is sanitised and truncated *before* it is used as a cache key, and the number of distinct
  names is capped per process and per family (`MAX_DYNAMIC_NAMES`), beyond which they are counted under
  ``other.other``: the cache holds at most that many names of at most `MAX_PART_LENGTH` characters per
  part, whatever callers send, and a flood in one family (say RPC) never collapses another (storage).
- Only the glue knows whether a caller was authenticated and whether a model/method pair exists; it
  hands model/method parts here only then (see monitoring_statsd/hooks.py), so an anonymous caller
  cannot create names at all.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from statsd import StatsClient

from .config.statsd import StatsdSettings
from .instrumentation import Operation
from .wsgi import observe_wsgi_call

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

    from .wsgi import WsgiCall

__all__ = [
    "JSON2_PATH", "MAX_DYNAMIC_NAMES", "PREFIX", "Metrics", "NonBlockingStatsClient", "RateLimitedLog",
    "metric_part", "status_class", "wrap_wsgi_call",
]

_logger = logging.getLogger(__name__)

PREFIX = "odoo"
RETRY_SECONDS = 60.0
MAX_DYNAMIC_NAMES = 500
MAX_PART_LENGTH = 64
OTHER = "other"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
BUTTON_PATH = "/web/dataset/call_button"
#: Odoo 19's external JSON API, ``POST /json/2/<model>/<method>`` (timed as ``rpc.<...>.<model>.<method>``)
JSON2_PATH = "/json/2/"


def metric_part(value: Any) -> str:
    """One dot-free name part: dots become ``_`` (``res.partner`` -> ``res_partner``), other unsafe
    characters ``_``, at most 64 characters; empty -> ``other``.

    The input is cut before it is scanned: a 5 MB name costs as much as a 64-character one."""
    raw = value if isinstance(value, str) else str(value)
    text = _UNSAFE.sub("_", raw[:MAX_PART_LENGTH].replace(".", "_")).strip("_")
    return text or OTHER


def status_class(status: Optional[int]) -> str:
    """``2xx`` for 200..299 and so on; ``other`` for anything else (no status: the app raised)."""
    if status is None:
        return OTHER
    return _STATUS_CLASSES.get(status // 100, OTHER)


class RateLimitedLog:
    """Logs a warning at most once per `interval` seconds; counts what it swallowed in between."""

    def __init__(self, logger: logging.Logger, interval: float = RETRY_SECONDS) -> None:
        self.logger = logger
        self.interval = interval
        self._next = 0.0
        self.suppressed = 0

    def warning(self, message: str, *args: Any) -> bool:
        now = time.monotonic()
        if now < self._next:
            self.suppressed += 1
            return False
        self._next = now + self.interval
        suppressed, self.suppressed = self.suppressed, 0
        if suppressed:
            message += " (%d similar errors not logged in the last %d s)"
            args = (*args, suppressed, int(self.interval))
        self.logger.warning(message, *args)
        return True


class NonBlockingStatsClient(StatsClient):  # type: ignore[misc]  # statsd ships no types
    """statsd's UDP client on a non-blocking socket whose send errors are reported, rate-limited.

    The stock client swallows every error silently; an operator should learn once a minute that
    metrics are being lost (full socket buffer, unreachable network).
    """

    def __init__(self, host: str, port: int, prefix: Optional[str], errors: RateLimitedLog,
                 maxudpsize: int = 1432) -> None:
        super().__init__(host, port, prefix=prefix, maxudpsize=maxudpsize)
        self._sock.setblocking(False)
        self._errors = errors
        self.sent_errors = 0

    def _send(self, data: str) -> None:
        try:
            self._sock.sendto(data.encode("ascii", "replace"), self._addr)
        except (OSError, RuntimeError, AttributeError) as exc:  # AttributeError: closed client
            self.sent_errors += 1
            self._errors.warning("statsd: cannot send metrics to %s:%s: %s",
                                 self._addr[0], self._addr[1], exc)


class Metrics:
    """Metric names for one customer/environment and a lazily built, per-process client."""

    def __init__(self, customer: str, environment: str, *, host: str = "localhost", port: int = 8125,
                 prefix: str = PREFIX, max_dynamic_names: int = MAX_DYNAMIC_NAMES) -> None:
        self.customer = metric_part(customer)
        self.environment = metric_part(environment)
        self.host = host
        self.port = port
        self.prefix = prefix
        self.max_dynamic_names = max_dynamic_names
        self.errors = RateLimitedLog(_logger)
        self._client: Optional[NonBlockingStatsClient] = None
        self._pid: Optional[int] = None
        self._retry_at = 0.0
        self._lock = threading.Lock()
        #: family -> {sanitised parts -> full name}; each family holds at most `max_dynamic_names`
        self._dynamic: dict[str, dict[tuple[str, ...], str]] = {}
        scope = f"{self.customer}.{self.environment}"
        self.request_name = f"http.request.{scope}"
        self.status_names = {cls: f"http.status.{scope}.{cls}" for cls in (*_STATUS_CLASSES.values(), OTHER)}
        self.sql_count_name = f"http.sql_count.{scope}"
        self.sql_time_name = f"http.sql_time.{scope}"
        self._scope = scope

    @classmethod
    def from_settings(cls, settings: StatsdSettings, running_env: Optional[str]) -> Optional[Metrics]:
        """None when ODOO_STATSD is off; the environment defaults to `running_env`, then ``test``
        (what OCA server_environment assumes when nothing is set)."""
        if not settings.enabled:
            return None
        environment = settings.environment or running_env or "test"
        return cls(settings.customer or "", environment, host=settings.host, port=settings.port)

    # -- client -----------------------------------------------------------------------------------------
    def client(self) -> Optional[NonBlockingStatsClient]:
        """This process's client; None while it cannot be built (retried once per minute)."""
        pid = os.getpid()
        client = self._client
        if client is not None and self._pid == pid:
            return client
        with self._lock:
            if self._client is not None and self._pid == pid:
                return self._client
            if self._pid != pid:
                # forked: the parent's socket stays the parent's; build ours
                self._client, self._pid, self._retry_at = None, pid, 0.0
            now = time.monotonic()
            if now < self._retry_at:
                return None
            try:
                self._client = NonBlockingStatsClient(self.host, self.port, self.prefix, self.errors)
            except (OSError, UnicodeError) as exc:
                self._retry_at = now + RETRY_SECONDS
                self.errors.warning("statsd: cannot reach %s:%s (%s); metrics are dropped, retrying in %d s",
                                    self.host, self.port, exc, int(RETRY_SECONDS))
                return None
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    # -- names ------------------------------------------------------------------------------------------
    def _bounded(self, family: str, *parts: Any) -> str:
        """The name of `parts` in `family`, cached on the sanitised parts (never on the raw input)."""
        key = tuple(metric_part(p) for p in parts)
        names = self._dynamic.setdefault(family, {})
        name = names.get(key)
        if name is not None:
            return name
        if len(names) >= self.max_dynamic_names:
            return f"{family}.{self._scope}." + ".".join(OTHER for _ in parts)
        name = f"{family}.{self._scope}." + ".".join(key)
        names[key] = name
        return name

    def dynamic_name_count(self) -> int:
        """How many request-derived names this process caches (bounded: families x max_dynamic_names)."""
        return sum(len(names) for names in self._dynamic.values())

    def button_name(self, model: Any, method: Any) -> str:
        """``http.button.<customer>.<env>.<model_with_underscores>.<method>`` (without the prefix)."""
        return self._bounded("http.button", model, method)

    def rpc_name(self, model: Any, method: Any) -> str:
        """``rpc.<customer>.<env>.<model_with_underscores>.<method>``: XML-RPC / JSON-RPC execute(_kw)."""
        return self._bounded("rpc", model, method)

    def operation_name(self, operation: str) -> str:
        """``storage.<scheme>.<op>`` -> ``storage.<customer>.<env>.<scheme>.<op>`` (same for sessions)."""
        family, _, rest = operation.partition(".")
        return self._bounded(metric_part(family), *(rest.split(".") if rest else (OTHER,)))

    # -- sending ----------------------------------------------------------------------------------------
    def request_finished(self, seconds: float, status: Optional[int], sql_count: Optional[int] = None,
                         sql_seconds: Optional[float] = None,
                         button: Optional[tuple[Any, Any]] = None, *,
                         rpc: Optional[tuple[Any, Any]] = None) -> None:
        """One datagram: the request (or button) timer, the status-class counter and the SQL figures;
        with `rpc` (an authenticated ``/json/2`` call of an existing model/method) also its rpc timer."""
        client = self.client()
        if client is None:
            return
        name = self.button_name(*button) if button else self.request_name
        lines = [f"{self.prefix}.{name}:{seconds * 1000:.3f}|ms",
                 f"{self.prefix}.{self.status_names[status_class(status)]}:1|c"]
        if sql_count is not None:
            lines.append(f"{self.prefix}.{self.sql_count_name}:{sql_count}|ms")
        if sql_seconds is not None:
            lines.append(f"{self.prefix}.{self.sql_time_name}:{sql_seconds * 1000:.3f}|ms")
        if rpc:
            lines.append(f"{self.prefix}.{self.rpc_name(*rpc)}:{seconds * 1000:.3f}|ms")
        client._send("\n".join(lines))

    def rpc_finished(self, model: Any, method: Any, seconds: float) -> None:
        client = self.client()
        if client is not None:
            client.timing(self.rpc_name(model, method), seconds * 1000)

    def observe(self, op: Operation) -> None:
        """`odoo_cloud.instrumentation` listener: a timer per operation, counters for errors and bytes."""
        client = self.client()
        if client is None:
            return
        name = self.operation_name(op.name)
        with client.pipeline() as pipe:
            pipe.timing(name, op.seconds * 1000)
            if not op.ok:
                pipe.incr(name + ".errors")
            if op.nbytes:
                pipe.incr(name + ".bytes", op.nbytes)


# ------------------------------------------------------------------------------------------- WSGI timing
def wrap_wsgi_call(call: WsgiCall, metrics: Callable[[], Optional[Metrics]],
                   button_params: Optional[Callable[[], Optional[tuple[Any, Any]]]] = None,
                   sql_figures: Optional[Callable[[], tuple[Optional[int], Optional[float]]]] = None,
                   clock: Callable[[], float] = time.perf_counter, *,
                   json2_params: Optional[Callable[[int], Optional[tuple[Any, Any]]]] = None) -> WsgiCall:
    """Time an unbound WSGI ``__call__(self, environ, start_response)``.

    `button_params` is asked for ``(model, method)`` while ``start_response`` runs (the framework's
    request is still alive then) and only for ``/web/dataset/call_button``; `json2_params(status)`
    likewise, only for ``/json/2/...``. Both return None unless the caller was authenticated and the
    pair exists (the glue decides; anything else stays in the plain request timer). `sql_figures` gives the
    request's ``(query count, query seconds)`` once the application returned. A metrics failure is
    logged and never reaches the request.
    """

    def observer_for(environ: WSGIEnvironment) -> Optional[_TimedRequest]:
        current = metrics()
        if current is None:
            return None
        path = environ.get("PATH_INFO", "")
        return _TimedRequest(current, button_params if path.startswith(BUTTON_PATH) else None,
                             json2_params if path.startswith(JSON2_PATH) else None, sql_figures)

    return observe_wsgi_call(call, observer_for, clock)


class _TimedRequest:
    """One request timed into statsd (a `odoo_cloud.wsgi.RequestObserver`)."""

    def __init__(self, metrics: Metrics, button_params: Optional[Callable[[], Optional[tuple[Any, Any]]]],
                 json2_params: Optional[Callable[[int], Optional[tuple[Any, Any]]]],
                 sql_figures: Optional[Callable[[], tuple[Optional[int], Optional[float]]]]) -> None:
        self.metrics = metrics
        self.button_params = button_params
        self.json2_params = json2_params
        self.sql_figures = sql_figures
        self.code: Optional[int] = None
        self.button: Optional[tuple[Any, Any]] = None
        self.rpc: Optional[tuple[Any, Any]] = None

    def status(self, code: int) -> None:
        self.code = code
        if self.button_params is not None:
            self.button = self.button_params()
        elif self.json2_params is not None:
            self.rpc = self.json2_params(code)

    def finished(self, seconds: float) -> None:
        try:
            sql_count, sql_seconds = self.sql_figures() if self.sql_figures is not None else (None, None)
            self.metrics.request_finished(seconds, self.code, sql_count, sql_seconds, self.button,
                                          rpc=self.rpc)
        except Exception as exc:
            self.metrics.errors.warning("statsd: request metrics failed: %s: %s", type(exc).__name__, exc)
