"""Wrapping Odoo's WSGI entry point: what the request-id, statsd and Prometheus wrappers share.

A wrapper watches the response's status line through ``start_response`` and acts once the application
returned. The plumbing lives here once: the ``start_response`` shim that never fails a response for a
metric, the original's name, doc and ``__wrapped__`` kept on the wrapper, and the mark that keeps a
second ``post_load`` (Odoo's gevent process, a test calling ``install`` again) from wrapping twice.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional, Protocol, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: an unbound WSGI ``__call__(self, environ, start_response)``
WsgiCall = Callable[[Any, "WSGIEnvironment", "StartResponse"], Iterable[bytes]]
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["RequestObserver", "WsgiCall", "observe_wsgi_call", "patch_once", "thread_sql_figures", "wraps"]


class RequestObserver(Protocol):
    """One request seen by a metrics wrapper; each method keeps its own failures to itself."""

    def status(self, code: int) -> None:
        """The response's status code, inside ``start_response`` (the framework's request is still bound)."""

    def finished(self, seconds: float) -> None:
        """The application returned (or raised) after `seconds`."""


def wraps(original: Any, wrapper: F) -> F:
    """`wrapper` presented as `original`: its name, doc and ``__wrapped__`` (what the next wrapper or
    a test unwrapping it reads)."""
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(original, "__name__", "__call__")
    wrapper.__doc__ = getattr(original, "__doc__", None)
    return wrapper


def observe_wsgi_call(call: WsgiCall, observer_for: Callable[[WSGIEnvironment], Optional[RequestObserver]],
                      clock: Callable[[], float] = time.perf_counter) -> WsgiCall:
    """Wrap an unbound WSGI ``__call__``: `observer_for(environ)` (None: not observed) is told the
    status code and, once the application returned, the seconds it took."""

    def __call__(self: Any, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        observer = observer_for(environ)
        if observer is None:
            return call(self, environ, start_response)
        t0 = clock()

        def start_response_observed(status: str, headers: list[tuple[str, str]],
                                    exc_info: Optional[OptExcInfo] = None) -> Callable[[bytes], object]:
            try:
                observer.status(int(status[:3]))
            except Exception:  # a metric never fails the response
                pass
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return call(self, environ, start_response_observed)
        finally:
            observer.finished(clock() - t0)

    return wraps(call, __call__)


def thread_sql_figures() -> tuple[Optional[int], Optional[float]]:
    """The request's (query count, query seconds): Odoo counts them on the thread (reset at the start of
    ``Application.__call__``); None outside Odoo."""
    thread = threading.current_thread()
    return getattr(thread, "query_count", None), getattr(thread, "query_time", None)


def patch_once(owner: Any, name: str, mark: str, wrap: Callable[[Any], Any]) -> bool:
    """Replace ``owner.name`` by ``wrap(owner.name)`` marked with `mark`, unless the attribute already
    carries that mark; True when it was replaced."""
    original = getattr(owner, name)
    if getattr(original, mark, False):
        return False
    wrapped = wrap(original)
    setattr(wrapped, mark, True)
    setattr(owner, name, wrapped)
    return True
