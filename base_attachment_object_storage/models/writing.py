"""Every write of attachment bytes to an object store fails the same way when the store cannot answer.

An upload during an outage must look like a read during one (`reading.py`): a 503 with `Retry-After`,
whatever the path — JSON-RPC `create`/`write` of `datas`/`raw`, an image field resized on write, the
upload routes (`/web/binary/upload_attachment`, `/mail/attachment/upload`, the editors' `add_data`),
a migration started from Odoo — on every store (S3, Swift) and both series. The store's own message
(scheme, bucket, key, masked endpoint) goes to the log; the client gets a fixed text, no traceback.

Only the *unavailable* meaning becomes a 503 (unreachable, timeout, refused credentials, 5xx after
retries): a refused write (another environment's bucket, an invalid key) stays a `UserError`, because
retrying will not help.

Some routes catch every exception of an upload and answer 200 anyway (`/web/binary/upload_attachment`
answers "Something horrible happened"), which would commit whatever else the request did and tell the
client nothing useful. So each outage met by a write is also recorded for the running request, and
`ir.http._dispatch` (ir_http.py) raises it after the route returned: the request's transaction rolls
back and the client gets the 503 even from a route that swallowed it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Optional, TypeVar

from odoo_cloud.errors import Unavailable
from odoo_cloud.masking import mask_secrets

from .reading import AttachmentStorageUnavailable

_logger = logging.getLogger(__name__)

#: what a client is told when its upload met an outage
WRITE_UNAVAILABLE_MESSAGE = ("The file could not be stored: the attachment storage is unavailable, "
                             "please retry later. Nothing was saved.")

#: the outage the running request's writes met (None: none, or outside a request)
_met: ContextVar[Optional[AttachmentStorageUnavailable]] = ContextVar("object_storage_write_outage",
                                                                       default=None)

T = TypeVar("T")


@contextmanager
def unavailable_as_503(what: str, message: str = WRITE_UNAVAILABLE_MESSAGE) -> Iterator[None]:
    """Turn an `Unavailable` error of the core (store or client) met while writing `what` into
    `AttachmentStorageUnavailable`, logged once (masked) and recorded for the running request."""
    try:
        yield
    except Unavailable as exc:
        detail = mask_secrets(str(exc))
        _logger.warning("%s failed, the attachment storage is unavailable: %s; answering 503 "
                        "(nothing stored, the transaction is rolled back)", what, detail)
        error = AttachmentStorageUnavailable(detail, message)
        _met.set(error)
        raise error from None


def raising_outages_met(call: Callable[[], T]) -> T:
    """`call()` (a route), but when a write inside it met an outage, that outage is raised, whatever
    the route answered or raised instead: the request rolls back and answers 503."""
    token = _met.set(None)
    try:
        try:
            result = call()
        except AttachmentStorageUnavailable:
            raise
        except Exception as exc:
            met = _met.get()
            if met is None:
                raise
            raise met from exc
        met = _met.get()
        if met is not None:
            _logger.warning("an upload of this request met the outage above and the route answered anyway: "
                            "answering 503 instead (the transaction is rolled back)")
            raise met
        return result
    finally:
        _met.reset(token)
