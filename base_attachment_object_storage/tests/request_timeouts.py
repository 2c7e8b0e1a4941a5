"""Odoo's test harness and a (connect, read) timeout: handled here, in the tests, not in the Swift backend.

While a test class runs, Odoo routes every `requests` call through `BaseCase._request_handler`, which
does `timeout < 10` to lengthen short timeouts to 10 s during tests. requests (and so swiftclient, which
the Swift store gives `timeout=(connect, read)`) also accepts a `(connect, read)` tuple, which Python
cannot compare with a number: the handler would raise TypeError on every Swift request of a test.
`install()` wraps the handler once per process so that such a tuple compares by its read timeout (the
one Odoo means to lengthen) and reaches requests unchanged.
"""
from __future__ import annotations

from odoo.tests.common import BaseCase

_MARK = "_accepts_connect_read_timeouts"


class _ComparableTimeout(tuple):
    """A (connect, read) tuple that compares with a number like its read timeout."""

    def __lt__(self, other):
        if isinstance(other, (int, float)):
            return self[1] < other
        return tuple.__lt__(self, other)


def install():
    handler = BaseCase.__dict__["_request_handler"].__func__
    if getattr(handler, _MARK, False):
        return

    def _request_handler(cls, s, r, /, **kw):
        timeout = kw.get("timeout")
        if type(timeout) is tuple and len(timeout) == 2:
            kw["timeout"] = _ComparableTimeout(timeout)
        return handler(cls, s, r, **kw)

    setattr(_request_handler, _MARK, True)
    BaseCase._request_handler = classmethod(_request_handler)


install()
