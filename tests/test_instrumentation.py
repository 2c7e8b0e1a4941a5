import time

import pytest

from odoo_cloud import instrumentation


def test_listeners_see_success_failure_and_bytes():
    seen = []
    instrumentation.subscribe(seen.append)
    try:
        with instrumentation.operation("storage.s3.get") as op:
            op.nbytes = 42
            time.sleep(0.02)
        with pytest.raises(KeyError), instrumentation.operation("sessions.get"):
            raise KeyError("x")
    finally:
        instrumentation.unsubscribe(seen.append)
    assert [(o.name, o.ok, o.nbytes, o.error) for o in seen] == [
        ("storage.s3.get", True, 42, None), ("sessions.get", False, 0, "KeyError")]
    # the duration covers the block it timed (sleep guarantees the lower bound on any machine)
    assert seen[0].seconds >= 0.02


def test_a_failing_listener_never_breaks_the_operation():
    calls, seen = [], []

    def broken(op):
        calls.append(op.name)
        raise RuntimeError("observer bug")

    instrumentation.subscribe(broken)
    instrumentation.subscribe(seen.append)
    try:
        with instrumentation.operation("storage.s3.put") as op:
            op.nbytes = 1
            result = "stored"
    finally:
        instrumentation.unsubscribe(broken)
        instrumentation.unsubscribe(seen.append)
    assert result == "stored" and calls == ["storage.s3.put"]  # the block ran, the broken listener too
    # the next listener still saw it
    assert [(o.name, o.ok, o.nbytes) for o in seen] == [("storage.s3.put", True, 1)]


def test_an_exception_inside_the_block_propagates_even_with_a_failing_listener():
    def broken(op):
        raise RuntimeError("observer bug")

    instrumentation.subscribe(broken)
    try:
        with pytest.raises(ValueError, match="store error"), instrumentation.operation("storage.s3.get"):
            raise ValueError("store error")
    finally:
        instrumentation.unsubscribe(broken)
