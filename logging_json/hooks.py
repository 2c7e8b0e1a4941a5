# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where logging_json plugs into Odoo 18 (see docs/ODOO_HOOKS.md §3)."""
import functools
import logging

import odoo.http
import odoo.netsvc
import werkzeug.serving

from odoo_cloud import logs

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
            access_logger.addFilter(logs.AccessLineFilter())
    werkzeug.serving._log_add_style = False  # no ANSI colours inside JSON strings
    _wrap_application()
    _wrap_request_handler()


def _wrap_application():
    """Request id for every HTTP request, database or not (class attribute: `odoo.http.root` uses it)."""
    application = odoo.http.Application
    if getattr(application.__call__, MARK, False):
        return
    wrapped = logs.wrap_wsgi_call(application.__call__)
    setattr(wrapped, MARK, True)
    application.__call__ = wrapped


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
