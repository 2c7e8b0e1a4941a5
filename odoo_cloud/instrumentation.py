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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

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


@contextmanager
def operation(name: str) -> Iterator[Operation]:
    """Time the enclosed block; an exception marks the operation failed and propagates."""
    op = Operation(name)
    start = time.perf_counter()
    try:
        yield op
    except BaseException as exc:
        op.ok = False
        op.error = type(exc).__name__
        raise
    finally:
        op.seconds = time.perf_counter() - start
        if _listeners:
            publish(op)
