import pytest

from odoo_cloud import instrumentation


def test_listeners_see_success_failure_and_bytes():
    seen = []
    instrumentation.subscribe(seen.append)
    try:
        with instrumentation.operation("storage.s3.get") as op:
            op.nbytes = 42
        with pytest.raises(KeyError), instrumentation.operation("sessions.get"):
            raise KeyError("x")
    finally:
        instrumentation.unsubscribe(seen.append)
    assert [(o.name, o.ok, o.nbytes, o.error) for o in seen] == [
        ("storage.s3.get", True, 42, None), ("sessions.get", False, 0, "KeyError")]
    assert all(o.seconds >= 0 for o in seen)


def test_a_failing_listener_never_breaks_the_operation():
    def broken(op):
        raise RuntimeError("observer bug")

    instrumentation.subscribe(broken)
    try:
        with instrumentation.operation("storage.s3.put") as op:
            op.nbytes = 1
    finally:
        instrumentation.unsubscribe(broken)
