"""Run a check in a forked child: per-process clients (statsd socket, boto3 client) must be rebuilt in
the children of a prefork Odoo, and only a real fork shows whether they are."""
from __future__ import annotations

import os
from collections.abc import Callable


def passes_in_forked_child(check: Callable[[], bool]) -> bool:
    """True only when `check()` returned a true value in a forked child (an exception there is False)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, b"1" if check() else b"0")
        except BaseException:
            os.write(write, b"E")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    try:
        return os.read(read, 1) == b"1"
    finally:
        os.close(read)
