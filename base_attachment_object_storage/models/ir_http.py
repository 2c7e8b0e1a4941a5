"""An attachment-storage outage answers 503 on every kind of route, JSON-RPC included (Odoo 18.0, 19.0).

HTTP routes already return a werkzeug `HTTPException` as it is (`AttachmentStorageUnavailable` is a
503 with `Retry-After`). JSON-RPC (`type='json'` on 18.0, `'jsonrpc'` on 19.0) would answer any
exception with a 200 whose error carries the Python traceback in `data.debug`, and 19.0's `/json/2/`
puts the traceback in its body too. Here those become a 503 with `Retry-After`, `Cache-Control:
no-store` and the protocol's error shape holding only the fixed message: the web client shows it in
a plain warning dialog (the error is named like a UserError for that reason; status 503 and error
code 503 say what it is), a script sees a 5xx it may retry.

`_dispatch` raises an outage an upload met even when the route swallowed it (writing.py). The XML-RPC
routes (`/xmlrpc/2/<service>`, `/xmlrpc/<service>`) attach their own answer to the exception before
raising it (a fault carrying the traceback, status 200): `_dispatch` replaces it with a 503 whose fault
holds the fixed message only. An XML-RPC client sees an HTTP error 503 it may retry.
"""
from __future__ import annotations

import xmlrpc.client

from odoo import models
from odoo.http import Response, request

from . import writing
from .reading import AttachmentStorageUnavailable

#: the web client (18.0 and 19.0) shows errors of this name as a warning with their message only
CLIENT_ERROR_NAME = "odoo.exceptions.UserError"
JSONRPC_ROUTING = ("json", "jsonrpc")  # 18.0, 19.0
JSON2_ROUTING = "json2"  # 19.0


def error_data(exc: AttachmentStorageUnavailable) -> dict:
    """The error object of Odoo's JSON protocols (`serialize_exception`'s keys) without a traceback."""
    message = exc.description
    return {"name": CLIENT_ERROR_NAME, "message": message, "arguments": [message], "context": {},
            "debug": ""}


def outage_response(exc: AttachmentStorageUnavailable):
    """The 503 for a JSON route of this request, or None (an HTTP route returns `exc` itself)."""
    dispatcher = request.dispatcher
    routing = getattr(dispatcher, "routing_type", None)
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    if routing in JSONRPC_ROUTING:
        body = {"jsonrpc": "2.0", "id": getattr(dispatcher, "request_id", None),
                "error": {"code": exc.code, "message": exc.description, "data": error_data(exc)}}
    elif routing == JSON2_ROUTING:
        body = error_data(exc)
    else:
        return None
    return request.make_json_response(body, headers=headers, status=exc.code)


def xmlrpc_outage_response(exc: AttachmentStorageUnavailable) -> Response:
    """The 503 of an XML-RPC route: a fault with the fixed message (int code on /xmlrpc/2/, the legacy
    string code on /xmlrpc/), no traceback."""
    path = request.httprequest.path
    code: int | str = exc.code if path.startswith("/xmlrpc/2/") else f"warning -- {exc.name}"
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, exc.description), methodresponse=True)
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    return Response(response=body, status=exc.code, headers=headers, mimetype="text/xml")


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _dispatch(cls, endpoint):
        try:
            return writing.raising_outages_met(lambda: super(IrHttp, cls)._dispatch(endpoint))
        except AttachmentStorageUnavailable as exc:
            if getattr(exc, "error_response", None) is not None and \
                    request.httprequest.path.startswith("/xmlrpc/"):
                exc.error_response = xmlrpc_outage_response(exc)
            raise

    @classmethod
    def _handle_error(cls, exception):
        if isinstance(exception, AttachmentStorageUnavailable):
            response = outage_response(exception)
            if response is not None:
                return response
        return super()._handle_error(exception)
