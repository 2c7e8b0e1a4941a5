# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where monitoring_statsd plugs into Odoo 18 (see docs/ODOO_HOOKS.md §5)."""
import functools
import threading
import time

import odoo.http
import odoo.service.model
from odoo.tools import config

from odoo_cloud import instrumentation
from odoo_cloud.metrics import Metrics, wrap_wsgi_call

MARK = "_odoo_cloud_monitoring_statsd"
#: the Metrics of this process, once install() ran (tests read it)
metrics = None


def running_environment(from_environment):
    """OCA server_environment's order: the `running_env` option of the Odoo config, then the variables."""
    return config.get("running_env") or from_environment


def install(settings, running_env_variable):
    global metrics
    if metrics is None:
        metrics = Metrics.from_settings(settings, running_environment(running_env_variable))
    _wrap_application()
    _wrap_rpc_dispatch()
    instrumentation.subscribe(metrics.observe)
    return metrics


def _current_metrics():
    return metrics


def _button_params():
    """(model, method) of a /web/dataset/call_button request; asked while the request is still bound."""
    params = odoo.http.request.params
    return params.get("model"), params.get("method")


def _sql_figures():
    """Odoo counts the request's queries on the thread (reset at the start of Application.__call__)."""
    thread = threading.current_thread()
    return getattr(thread, "query_count", None), getattr(thread, "query_time", None)


def _wrap_application():
    application = odoo.http.Application
    if getattr(application.__call__, MARK, False):
        return
    wrapped = wrap_wsgi_call(application.__call__, _current_metrics, button_params=_button_params,
                             sql_figures=_sql_figures)
    setattr(wrapped, MARK, True)
    application.__call__ = wrapped


def _wrap_rpc_dispatch():
    """XML-RPC / JSON-RPC ``execute(_kw)``: a timer per model and method (bounded, see Metrics)."""
    original = odoo.service.model.dispatch
    if getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def dispatch(method, params):
        start = time.perf_counter()
        try:
            return original(method, params)
        finally:
            current = metrics
            if current is not None and method in ("execute", "execute_kw") and len(params) > 4:
                try:
                    current.rpc_finished(params[3], params[4], time.perf_counter() - start)
                except Exception as exc:
                    current.errors.warning("statsd: rpc metrics failed: %s: %s", type(exc).__name__, exc)

    setattr(dispatch, MARK, True)
    odoo.service.model.dispatch = dispatch
