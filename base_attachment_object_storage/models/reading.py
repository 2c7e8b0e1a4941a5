"""Every read of attachment bytes from an object store goes through here: one translation of failures.

A missing object answers like a missing local file does in core Odoo (empty, or 404 for a download),
but never silently. A store that cannot answer is `AttachmentStorageUnavailable`: a werkzeug 503 that
Odoo's HTTP layer returns as it is, and a clear exception for ORM callers (crons, RPC, scripts).

It is deliberately *not* a `UserError`: `ir.binary._get_image_stream_from` turns a UserError into the
placeholder image (a 200 the browser caches), and `/web/content` turns it into a 400. An outage must
look the same on every download path: `/web/content` (with or without `download`, ranges, HEAD),
`/web/image` (original, resized, cropped), and any route that reads `raw`/`datas`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from werkzeug.exceptions import NotFound, ServiceUnavailable

from odoo_cloud.instrumentation import Operation, publish
from odoo_cloud.storage import ObjectNotFound, ObjectStore, ObjectStream, StorageError, StoreUri

_logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


#: what a client is told (the 503's body, the JSON-RPC error's message): no endpoint, bucket or key
UNAVAILABLE_MESSAGE = "The attachment storage is unavailable, please retry later."


class AttachmentStorageUnavailable(ServiceUnavailable):
    """The object store holding an attachment cannot answer now: 503, never cached, retry later.

    `description` (what the client gets) is a fixed text; `detail` (the store's own message: scheme,
    bucket, key, masked endpoint) is for the log and for ORM callers, who see it in str(exc)."""

    def __init__(self, detail: str, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message, retry_after=RETRY_AFTER_SECONDS)
        self.detail = detail

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.detail})"

    def get_headers(self, environ=None, scope=None):
        # an error page of an outage must not be replayed by a cache once the store is back
        return [*super().get_headers(environ, scope), ("Cache-Control", "no-store")]


def report_missing(uri: StoreUri, attachment_ref: str) -> None:
    """Missing objects answer like a missing local file (empty), but never silently."""
    _logger.warning("attachment %s: object %s is missing from the store", attachment_ref, uri)
    publish(Operation(f"storage.{uri.scheme}.missing", ok=False, error="ObjectNotFound"))


@contextmanager
def unavailable_as_503(uri: StoreUri, attachment_ref: str, action: str) -> Iterator[None]:
    """The one translation of a store failure (not a missing object) into AttachmentStorageUnavailable."""
    try:
        yield
    except ObjectNotFound:
        raise
    except StorageError as exc:
        _logger.warning("attachment %s: %s %s failed: %s", attachment_ref, action, uri, exc)
        raise AttachmentStorageUnavailable(str(exc)) from None


def read_bytes(store: ObjectStore, uri: StoreUri, attachment_ref: str, size: Optional[int] = None) -> bytes:
    """The object's bytes (the first `size` only when given); b'' with a warning when it is missing."""
    try:
        with unavailable_as_503(uri, attachment_ref, "reading"):
            if size is None:
                return store.get(uri.key, bucket=uri.bucket)
            if size <= 0:
                return b""
            with store.open(uri.key, bucket=uri.bucket, start=0, end=size - 1) as stream:
                return stream.read()
    except ObjectNotFound:
        report_missing(uri, attachment_ref)
        return b""


def object_size(store: ObjectStore, uri: StoreUri, attachment_ref: str) -> int:
    """The object's size from the store (rows written by other tools may lack file_size); 0 when missing."""
    try:
        with unavailable_as_503(uri, attachment_ref, "inspecting"):
            return store.head(uri.key, bucket=uri.bucket).size
    except ObjectNotFound:
        report_missing(uri, attachment_ref)
        return 0


def open_body(store: ObjectStore, uri: StoreUri, attachment_ref: str, *, start: Optional[int],
              end: Optional[int], chunk_size: int) -> ObjectStream:
    """A (ranged) stream of the object for a response body; 404 when it is missing."""
    try:
        with unavailable_as_503(uri, attachment_ref, "downloading"):
            return store.open(uri.key, bucket=uri.bucket, start=start, end=end, chunk_size=chunk_size)
    except ObjectNotFound:
        report_missing(uri, attachment_ref)
        raise NotFound() from None
