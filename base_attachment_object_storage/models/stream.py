"""An Odoo `Stream` whose body comes from the object store in bounded chunks.

Odoo 18 has no "iterator" stream type: `data` means bytes in memory, `path`
a local file. This subclass stays `type='data'` for Odoo's own code (mimetype
guessing and image resizing read `stream.data`, fetched lazily then), but its
`get_response` streams the object: Odoo/werkzeug build the headers and decide
304/206/416 from the attachment's size and checksum, then the body is a
(ranged) GET read chunk by chunk.
"""
from __future__ import annotations

import logging

from odoo.http import Stream, request
from werkzeug.exceptions import NotFound, ServiceUnavailable

from odoo_cloud.instrumentation import Operation, publish
from odoo_cloud.storage import ObjectNotFound, StorageError

_logger = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024


def report_missing(uri, attachment_ref: str) -> None:
    """Missing objects answer like a missing local file (empty), but never silently."""
    _logger.warning("attachment %s: object %s is missing from the store", attachment_ref, uri)
    publish(Operation(f"storage.{uri.scheme}.missing", ok=False, error="ObjectNotFound"))


class ObjectStoreStream(Stream):
    store = None
    uri = None
    attachment_ref = ""
    _data = None

    @property
    def data(self):
        if self._data is None and self.type == "data":
            try:
                self._data = self.store.get(self.uri.key, bucket=self.uri.bucket)
            except ObjectNotFound:
                report_missing(self.uri, self.attachment_ref)
                self._data = b""
        return self._data

    @data.setter
    def data(self, value):
        self._data = value

    def read(self):
        return self.data

    def get_response(self, as_attachment=None, immutable=None, content_security_policy="default-src 'none'",
                     **send_file_kwargs):
        if self.type != "data" or self._data is not None:
            # a redirect, or bytes already loaded (e.g. a resized image): Odoo's own path
            return super().get_response(as_attachment, immutable, content_security_policy, **send_file_kwargs)
        # Odoo builds the headers around an empty placeholder; the real size decides ranges and 304s
        self._data = b""
        try:
            send_file_kwargs["conditional"] = False
            response = super().get_response(as_attachment, immutable, content_security_policy,
                                             **send_file_kwargs)
        finally:
            self._data = None
        environ = request.httprequest.environ
        raw = getattr(response, "_wrapped__", response)  # odoo.http.Response is a proxy of werkzeug's
        raw.content_length = self.size
        if self.conditional:
            raw.make_conditional(environ, accept_ranges=True, complete_length=self.size)
        if raw.status_code not in (200, 206) or environ.get("REQUEST_METHOD") == "HEAD":
            return response
        start = end = None
        if raw.status_code == 206:
            start, end = raw.content_range.start, raw.content_range.stop - 1
        try:
            body = self.store.open(self.uri.key, bucket=self.uri.bucket, start=start, end=end,
                                   chunk_size=CHUNK_SIZE)
        except ObjectNotFound:
            report_missing(self.uri, self.attachment_ref)
            raise NotFound() from None
        except StorageError as exc:
            _logger.warning("attachment %s: download failed: %s", self.attachment_ref, exc)
            raise ServiceUnavailable("The attachment storage is unavailable, please retry later.") from None
        raw.response = body
        raw.direct_passthrough = True
        return response
