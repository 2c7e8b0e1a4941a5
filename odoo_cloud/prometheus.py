"""Prometheus metrics of every Odoo process, on a listener of their own (monitoring_prometheus).

Why it is shaped like this:

- Odoo's prefork server runs many processes and recycles them (``limit_request``, memory limits).
  prometheus_client's multiprocess mode gives each process its own memory-mapped files in one directory
  (``PROMETHEUS_MULTIPROC_DIR``); the listener, in the process that owns the directory (the prefork
  master, or the only process of the threaded server), adds them up at scrape time. The variable must
  be set before prometheus_client is first imported: `prepare_directory` does it.
- Counters must not go back when a worker is recycled, and the directory must not grow by a few files
  per recycled worker forever: when the master reaps a worker, `Exporter.process_exited` adds its
  counters and histogram buckets into one ``*_archive.db`` file per type and removes its files, under
  the lock the scrape takes, so a scrape never sees a worker twice or not at all
  (``mark_process_dead`` then drops its live gauges).
- Label values are bounded: the route type comes from a fixed classification of the path
  (`route_type`), the method from a fixed set, the status as a class; no raw path, no model name.
  Store operations are names written in our code, capped anyway (`MAX_OPERATIONS`).
- A request pays for a few mmap writes: label children are cached, the process's CPU and memory are
  sampled at most once per `PROCESS_SAMPLE_SECONDS`. bench/bench_metrics.py measures it.
"""
from __future__ import annotations

import glob
import logging
import os
import re
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from .instrumentation import Operation
from .metrics import RateLimitedLog, metric_part, status_class
from .wsgi import observe_wsgi_call

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

    from .wsgi import WsgiCall

__all__ = [
    "ENV_DIRECTORY", "Exporter", "PrometheusMetrics", "compact_dead_process", "method_label",
    "prepare_directory", "route_type", "wrap_wsgi_call",
]

_logger = logging.getLogger(__name__)

ENV_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
PROCESS_SAMPLE_SECONDS = 1.0
MAX_OPERATIONS = 64
OTHER = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
STORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# first match wins; every value is a constant: the label cannot take a value from the request.
# Prefix tests (str.startswith with a tuple) rather than patterns: this runs on every request.
_WEB_ROUTES = (
    ("health", ("/web/health",)),
    ("static", ("/web/static/",)),
    ("assets", ("/web/assets/",)),
    ("binary", ("/web/image", "/web/content", "/web/binary")),
    ("button", ("/web/dataset/call_button",)),
    ("rpc", ("/web/dataset/", "/web/action/load")),
)
_OTHER_ROUTES = (
    ("rpc", ("/jsonrpc", "/xmlrpc/", "/json/")),
    ("websocket", ("/websocket", "/longpolling")),
)
_MODULE_STATIC = re.compile(r"/[^/]{1,64}/static/")
ROUTE_TYPES = ("health", "static", "assets", "binary", "button", "rpc", "websocket", OTHER)


def route_type(path: str) -> str:
    """A fixed class of the URL path (`ROUTE_TYPES`): bounded whatever the path, and cheap (prefix tests,
    one anchored pattern on at most 70 characters)."""
    if path.startswith("/web/"):
        for name, prefixes in _WEB_ROUTES:
            if path.startswith(prefixes):
                if name == "health" and path[11:12] not in ("", "/", "?"):
                    return OTHER  # /web/healthcheck is not Odoo's health route
                return name
        return OTHER
    for name, prefixes in _OTHER_ROUTES:
        if path.startswith(prefixes):
            return name
    return "static" if "/static/" in path[:72] and _MODULE_STATIC.match(path[:72]) else OTHER


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


# ------------------------------------------------------------------------------------------ directory
def prepare_directory(configured: Optional[str], owner: bool) -> str:
    """The multiprocess directory, exported as ``PROMETHEUS_MULTIPROC_DIR`` for this process and its
    children, before prometheus_client is imported.

    `owner` (the process that serves the metrics: prefork master or threaded server) starts from an
    empty directory (files of a previous run would add old counts). Other processes (Odoo's gevent
    process, which inherits the variable from the master; a ``--stop-after-init`` run) only join, never
    wipe. Without `configured` a fresh directory is created under the system temp directory.
    """
    directory = configured or os.environ.get(ENV_DIRECTORY)
    if not directory:
        directory = tempfile.mkdtemp(prefix="odoo-prometheus-")
    os.makedirs(directory, exist_ok=True)
    if owner:
        for stale in glob.glob(os.path.join(directory, "*.db")) + glob.glob(os.path.join(directory, "*.tmp")):
            os.remove(stale)
    os.environ[ENV_DIRECTORY] = directory
    _use_multiprocess_values()
    return directory


def _use_multiprocess_values() -> None:
    """prometheus_client picks its value class when first imported: if something imported it before the
    variable was set, switch to memory-mapped values now (before any of our metric exists)."""
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


def compact_dead_process(directory: str, pid: int) -> int:
    """Add the counters and histogram buckets of the exited process `pid` into ``<type>_archive.db`` and
    remove its files; returns how many files were folded. Callers hold the scrape lock.

    Sums are exact: each key of these files is one monotonic sample (a counter, a bucket, a sum).
    """
    from prometheus_client.mmap_dict import MmapedDict

    folded = 0
    for kind in ("counter", "histogram", "summary"):
        dead = os.path.join(directory, f"{kind}_{pid}.db")
        if not os.path.exists(dead):
            continue
        archive = os.path.join(directory, f"{kind}_archive.db")
        totals: dict[str, float] = defaultdict(float)
        for path in (archive, dead):
            if os.path.exists(path):
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
                    totals[key] += value
        pending = os.path.join(directory, f"{kind}_archive.tmp")  # not *.db: never read half-written
        if os.path.exists(pending):
            os.remove(pending)
        merged = MmapedDict(pending)
        try:
            for key, value in totals.items():
                merged.write_value(key, value, 0.0)
        finally:
            merged.close()
        os.replace(pending, archive)
        os.remove(dead)
        folded += 1
    return folded


# ------------------------------------------------------------------------------------------- metrics
class PrometheusMetrics:
    """The metric families of one Odoo server; create after `prepare_directory`."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.request_seconds = Histogram(
            "odoo_http_request_duration_seconds",
            "Time to answer an HTTP request (until the application returned), by route type, method "
            "and status class. Its _count is the number of requests.",
            ["route_type", "method", "status_class"], buckets=LATENCY_BUCKETS, registry=None)
        # counters, not histograms: a request costs two memory-mapped writes less; the per-request
        # figure is rate(..._total) / rate(odoo_http_request_duration_seconds_count)
        self.sql_queries = Counter(
            "odoo_http_sql_queries", "SQL queries run by HTTP requests.", ["route_type"], registry=None)
        self.sql_seconds = Counter(
            "odoo_http_sql_duration_seconds", "SQL time spent by HTTP requests.", ["route_type"],
            registry=None)
        self.storage_seconds = Histogram(
            "odoo_storage_operation_duration_seconds",
            "Object-store operations (put, get, head, list, delete...), by backend and outcome.",
            ["backend", "operation", "outcome"], buckets=STORE_BUCKETS, registry=None)
        self.storage_bytes = Counter(
            "odoo_storage_transferred_bytes", "Bytes uploaded or downloaded by object-store operations.",
            ["backend", "operation"], registry=None)
        self.session_seconds = Histogram(
            "odoo_session_store_operation_duration_seconds",
            "Redis session-store operations (get, save, delete, rotate...), by outcome.",
            ["operation", "outcome"], buckets=STORE_BUCKETS, registry=None)
        self.session_bytes = Counter(
            "odoo_session_store_transferred_bytes", "Bytes read or written by session-store operations.",
            ["operation"], registry=None)
        self.cpu_seconds = Counter(
            "odoo_worker_cpu_seconds", "CPU time (user + system) of the processes that served requests, "
            "including recycled workers.", registry=None)
        self.memory_bytes = Gauge(
            "odoo_worker_resident_memory_bytes", "Resident memory of each live Odoo process (label pid).",
            multiprocess_mode="liveall", registry=None)
        self.errors = RateLimitedLog(_logger)
        self._children: dict[tuple[Any, ...], Any] = {}
        self._operations: dict[str, tuple[str, ...]] = {}
        self._next_sample = 0.0
        self._cpu_pid: Optional[int] = None
        self._cpu_seen = 0.0
        self._page_size = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _child(self, family: Any, *labels: str) -> Any:
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def request_finished(self, route: str, method: str, status: Optional[int], seconds: float, *,
                         sql_count: Optional[int] = None, sql_seconds: Optional[float] = None) -> None:
        self._child(self.request_seconds, route, method, status_class(status)).observe(seconds)
        if sql_count:
            self._child(self.sql_queries, route).inc(sql_count)
        if sql_seconds:
            self._child(self.sql_seconds, route).inc(sql_seconds)
        now = time.monotonic()
        if now >= self._next_sample:
            self._next_sample = now + PROCESS_SAMPLE_SECONDS
            self.sample_process()

    def sample_process(self, cpu: bool = True) -> None:
        """Add this process's CPU time since the last sample (unless not `cpu`: the master's start-up is
        not request work); set its resident memory."""
        pid = os.getpid()
        if self._cpu_pid != pid:  # forked: a child's CPU time starts from zero
            self._cpu_pid, self._cpu_seen = pid, 0.0 if cpu else time.process_time()
        now = time.process_time()
        if now > self._cpu_seen:
            if cpu:
                self.cpu_seconds.inc(now - self._cpu_seen)
            self._cpu_seen = now
        try:
            with open("/proc/self/statm", "rb") as statm:
                resident_pages = int(statm.read().split()[1])
            self.memory_bytes.set(resident_pages * self._page_size)
        except (OSError, ValueError, IndexError):
            pass  # not Linux: no memory figure

    def _operation_labels(self, name: str) -> tuple[str, ...]:
        labels = self._operations.get(name)
        if labels is None:
            family, _, rest = name.partition(".")
            parts = rest.split(".") if rest else [OTHER]
            if len(self._operations) >= MAX_OPERATIONS:
                labels = (family, OTHER, OTHER)
            elif family == "storage":
                labels = (family, metric_part(parts[0]), metric_part(parts[-1] if len(parts) > 1 else OTHER))
            else:
                labels = (family, metric_part(parts[0]))
            self._operations[name] = labels
        return labels

    def observe(self, op: Operation) -> None:
        """`odoo_cloud.instrumentation` listener: store and session operations."""
        labels = self._operation_labels(op.name)
        outcome = "ok" if op.ok else "error"
        if labels[0] == "storage":
            _, backend, operation = labels
            self._child(self.storage_seconds, backend, operation, outcome).observe(op.seconds)
            if op.nbytes:
                self._child(self.storage_bytes, backend, operation).inc(op.nbytes)
        elif labels[0] == "sessions":
            operation = labels[1]
            self._child(self.session_seconds, operation, outcome).observe(op.seconds)
            if op.nbytes:
                self._child(self.session_bytes, operation).inc(op.nbytes)


def wrap_wsgi_call(call: WsgiCall, metrics: Callable[[], Optional[PrometheusMetrics]],
                   sql_figures: Optional[Callable[[], tuple[Optional[int], Optional[float]]]] = None,
                   clock: Callable[[], float] = time.perf_counter) -> WsgiCall:
    """Time an unbound WSGI ``__call__(self, environ, start_response)`` into `metrics`.

    A metrics failure is logged (rate-limited) and never reaches the request.
    """

    def observer_for(environ: WSGIEnvironment) -> Optional[_TimedRequest]:
        current = metrics()
        return None if current is None else _TimedRequest(current, environ, sql_figures)

    return observe_wsgi_call(call, observer_for, clock)


class _TimedRequest:
    """One request timed into the Prometheus histograms (a `odoo_cloud.wsgi.RequestObserver`)."""

    def __init__(self, metrics: PrometheusMetrics, environ: WSGIEnvironment,
                 sql_figures: Optional[Callable[[], tuple[Optional[int], Optional[float]]]]) -> None:
        self.metrics = metrics
        self.environ = environ  # read once the application returned, as it left it
        self.sql_figures = sql_figures
        self.code: Optional[int] = None

    def status(self, code: int) -> None:
        self.code = code

    def finished(self, seconds: float) -> None:
        try:
            sql_count, sql_seconds = self.sql_figures() if self.sql_figures is not None else (None, None)
            self.metrics.request_finished(route_type(self.environ.get("PATH_INFO") or "/"),
                                          method_label(self.environ.get("REQUEST_METHOD", "")), self.code,
                                          seconds, sql_count=sql_count, sql_seconds=sql_seconds)
        except Exception as exc:
            self.metrics.errors.warning("prometheus: request metrics failed: %s: %s", type(exc).__name__, exc)


# ------------------------------------------------------------------------------------------- exporter
def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Exporter:
    """The HTTP listener serving the sum over every process's files, in the owner process."""

    def __init__(self, directory: str, port: int, interface: str = "0.0.0.0") -> None:
        self.directory = directory
        self.port = port
        self.interface = interface
        self.lock = threading.Lock()
        self.server: Any = None
        self._owner_pid = os.getpid()

    def registry(self) -> Any:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        lock = self.lock

        class LockedCollector(MultiProcessCollector):
            """Reads the files under the lock `process_exited` takes: never half a compaction."""

            def collect(self) -> list[Any]:
                with lock:
                    # a file a starting process is creating is empty for a moment (prometheus_client
                    # truncates it to its initial size right after) and holds no value yet: skip it
                    files = [path for path in glob.glob(os.path.join(self._path, "*.db"))
                             if _size(path) >= 8]
                    return list(self.merge(files, accumulate=True))  # type: ignore[no-untyped-call]

        registry = CollectorRegistry()
        LockedCollector(registry, self.directory)  # type: ignore[no-untyped-call]
        return registry

    def start(self) -> None:
        """Listen (a daemon thread); a forked child closes its copy of the listening socket."""
        from prometheus_client import start_http_server

        self.server, _thread = start_http_server(self.port, self.interface, self.registry())
        os.register_at_fork(after_in_child=self._close_in_child)

    def _close_in_child(self) -> None:
        server = self.server
        if server is not None and os.getpid() != self._owner_pid:
            try:
                server.socket.close()
            except OSError:
                pass
            self.server = None

    def stop(self) -> None:
        if self.server is not None and os.getpid() == self._owner_pid:
            self.server.shutdown()
            self.server.server_close()
        self.server = None

    def process_exited(self, pid: int) -> None:
        """A worker (or Odoo's gevent process) exited: fold its counters, drop its live gauges."""
        from prometheus_client import multiprocess

        with self.lock:
            try:
                compact_dead_process(self.directory, pid)
            except (OSError, ValueError) as exc:
                _logger.warning("prometheus: cannot fold the metrics of exited process %s: %s", pid, exc)
            multiprocess.mark_process_dead(pid, self.directory)
