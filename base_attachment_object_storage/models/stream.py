"""An Odoo `Stream` whose body comes from the object store in bounded chunks.

Odoo 18 and 19 have no "iterator" stream type: `data` means bytes in memory, `path`
a local file. This subclass stays `type='data'` for Odoo's own code (mimetype
guessing and image resizing read `stream.data`, fetched lazily then), but its
`get_response` streams the object: Odoo/werkzeug build the headers and decide
304/206/416 from the attachment's size and checksum, then the body is a
(ranged) GET read chunk by chunk. Reads go through `reading` (one translation
of store failures into a 503).

Caching: a response for a non-public attachment is `Cache-Control: private` on
every path (presigned 302, streamed 200, 206, 304, HEAD, resized image) so no
shared cache (CDN, proxy) can replay it to someone else; public attachments may
be cached by shared caches.
"""
from __future__ import annotations

import logging

from odoo.http import Stream, request

from .reading import open_body, read_bytes

_logger = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024


def set_cache_scope(response, public: bool) -> None:
    """`private` unless the attachment is public; `public` only when something may be cached at all."""
    cache_control = response.cache_control
    if public:
        if (cache_control.max_age or 0) > 0:
            cache_control.pop("private", None)
            cache_control.public = True
    else:
        cache_control.pop("public", None)
        cache_control.private = True


class ObjectStoreStream(Stream):
    store = None
    uri = None
    attachment_ref = ""
    _data = None

    @property
    def data(self):
        if self._data is None and self.type == "data":
            self._data = read_bytes(self.store, self.uri, self.attachment_ref)
        return self._data

    @data.setter
    def data(self, value):
        self._data = value

    def read(self):  # pylint: disable=method-required-super
        # Odoo's Stream.read opens `self.path`: an object has none, its bytes come from the store
        return self.data

    def get_response(self, as_attachment=None, immutable=None, content_security_policy="default-src 'none'",
                     **send_file_kwargs):
        if self.type != "data" or self._data is not None:
            # a redirect, or bytes already loaded (e.g. a resized image): Odoo's own path
            response = super().get_response(as_attachment, immutable, content_security_policy,
                                            **send_file_kwargs)
            set_cache_scope(response, self.public)  # Odoo's redirect carries max-age only
            return response
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
        set_cache_scope(raw, self.public)
        if raw.status_code not in (200, 206) or environ.get("REQUEST_METHOD") == "HEAD":
            return response
        start = end = None
        if raw.status_code == 206:
            start, end = raw.content_range.start, raw.content_range.stop - 1
        raw.response = open_body(self.store, self.uri, self.attachment_ref, start=start, end=end,
                                 chunk_size=CHUNK_SIZE)
        raw.direct_passthrough = True
        return response
