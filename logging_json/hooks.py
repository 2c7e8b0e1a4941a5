# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where logging_json plugs into Odoo 18 and 19 (docs/ODOO_HOOKS.md §3 and "Odoo 19: logs and metrics").

The one series difference is `RpcFragmentFilter` (Odoo 19 appends ``#<model>.<method>`` to the access
line's path); it is inert on 18, where ``odoo.service.server`` has no ``thread_local``.
"""
import functools
import logging

import odoo.http
import odoo.netsvc
import odoo.service.server
import werkzeug.serving

from odoo_cloud import logs
from odoo_cloud.wsgi import patch_once

MARK = "_odoo_cloud_logging_json"


def _is_database_handler(handler):
    """Odoo's --log-db handler writes rows, not lines: it keeps its own (absent) formatter."""
    return isinstance(handler, odoo.netsvc.PostgreSQLHandler)


def install():
    """Swap the formatter of every root handler and set up the request context.

    Returns the handlers that now write JSON. Calling it again changes nothing more.
    """
    changed = logs.install_formatter(logging.getLogger().handlers, logs.JsonFormatter(),
                                     skip=_is_database_handler)
    install_request_context()
    return changed


def install_request_context():
    """Request ids (header in, header out, on every line) and the access line's numbers."""
    # werkzeug: threaded and prefork servers; longpolling: gevent's access line in the evented process.
    # Added after Odoo's PerfFilter (init_logger ran before post_load): perf_info is set by then.
    for name in ("werkzeug", "longpolling"):
        access_logger = logging.getLogger(name)
        if not any(isinstance(f, logs.AccessLineFilter) for f in access_logger.filters):
            if name == "werkzeug" and _odoo19_thread_local() is not None:
                access_logger.addFilter(RpcFragmentFilter())  # before the parser: it sees the plain path
            access_logger.addFilter(logs.AccessLineFilter())
    werkzeug.serving._log_add_style = False  # no ANSI colours inside JSON strings
    _wrap_application()
    _wrap_request_handler()


def _odoo19_thread_local():
    """Odoo 19's ``odoo.service.server.thread_local`` (holds ``rpc_model_method``); None on Odoo 18."""
    return getattr(odoo.service.server, "thread_local", None)


class RpcFragmentFilter(logging.Filter):
    """Odoo 19's access line reads ``"POST /web/dataset/call_kw/x#res.partner.read HTTP/1.1"``
    (``service/server.py:139-146``: ``thread_local.rpc_model_method`` appended as a fragment). Take exactly
    that suffix off the request line, so ``http_path`` is the path on both series, and keep it as the
    record's ``rpc_model_method``. Never raises, never drops a record."""

    def filter(self, record):
        try:
            fragment = getattr(_odoo19_thread_local(), "rpc_model_method", "")
            args = record.args
            if fragment and isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], str):
                head, sep, version = args[0].rpartition(" ")
                suffix = "#" + fragment
                if sep and head.endswith(suffix):
                    record.args = (head[:-len(suffix)] + sep + version, *args[1:])
                    record.rpc_model_method = fragment
        except Exception:  # pylint: disable=except-pass  # a log filter must never drop or break a line
            pass
        return True


def _wrap_application():
    """Request id for every HTTP request, database or not (class attribute: `odoo.http.root` uses it)."""
    patch_once(odoo.http.Application, "__call__", MARK, logs.wrap_wsgi_call)


def _wrap_request_handler():
    """Forget the request id once the HTTP exchange (response and access line) is over.

    Covers Odoo's threaded server (its RequestHandler subclasses werkzeug's) and prefork workers
    (werkzeug's handler), so a line logged between two requests of a worker carries no stale id.
    """
    handler_class = werkzeug.serving.WSGIRequestHandler
    original = handler_class.handle_one_request
    if getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def handle_one_request(self):
        try:
            return original(self)
        finally:
            logs.end_request()

    setattr(handle_one_request, MARK, True)
    handler_class.handle_one_request = handle_one_request
