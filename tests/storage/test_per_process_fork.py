"""A per-process client holder must not hand a forked child a lock held by one of the parent's threads.

Found by the cluster benchmark: with `-d`, Odoo's prefork master loads the registry, whose ownership
registration builds the S3 client in a background thread; a worker forked during that build inherited
the held lock and hung on its first object-store call until Odoo's time limit killed it.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from odoo_cloud.storage.factory import PerProcess


def test_a_child_forked_during_a_build_builds_its_own_value():
    parent = os.getpid()
    building, release = threading.Event(), threading.Event()

    def build() -> int:
        if os.getpid() == parent:
            building.set()
            release.wait(30)  # the parent's build is still running when the child is forked
        return os.getpid()

    holder = PerProcess(build)
    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert building.wait(10)
    child = os.fork()
    if child == 0:
        os._exit(0 if holder() == os.getpid() else 1)
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            raise AssertionError("the forked child hung on the lock its parent's thread held at the fork")
        assert os.waitstatus_to_exitcode(status) == 0, "the child did not build its own value"
    finally:
        release.set()
        thread.join(10)
    assert holder() == parent  # the parent keeps the value its own thread built
