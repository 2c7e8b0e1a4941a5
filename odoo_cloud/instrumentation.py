"""Operation events from the stores, for whoever listens (statsd metrics).

The stores must not know about statsd, and metrics must not know about the
stores' internals: stores announce `operation("storage.s3.get")`, the metrics
layer subscribes. With no listener an operation costs two clock reads.
A listener that raises is dropped from that event and never breaks the
operation it observes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Optional

_logger = logging.getLogger(__name__)


@dataclass
class Operation:
    """What a store reports about one call; `nbytes` is filled in by the store."""

    name: str
    seconds: float = 0.0
    ok: bool = True
    nbytes: int = 0
    error: Optional[str] = None


Listener = Callable[[Operation], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def publish(op: Operation) -> None:
    for listener in tuple(_listeners):
        try:
            listener(op)
        except Exception:  # a broken observer must not break storage or sessions
            _logger.debug("instrumentation listener %r failed", listener, exc_info=True)


class _Timed:
    """Context manager of one operation: a class, not a generator, since it wraps every store call."""

    __slots__ = ("op", "start")

    def __init__(self, name: str) -> None:
        self.op = Operation(name)
        self.start = 0.0

    def __enter__(self) -> Operation:
        self.start = time.perf_counter()
        return self.op

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> Literal[False]:
        op = self.op
        op.seconds = time.perf_counter() - self.start
        if exc_type is not None:
            op.ok = False
            op.error = exc_type.__name__
        if _listeners:
            publish(op)
        return False  # an exception propagates


def operation(name: str) -> _Timed:
    """Time the enclosed block; an exception marks the operation failed and propagates."""
    return _Timed(name)
