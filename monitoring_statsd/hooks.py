# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where monitoring_statsd plugs into Odoo 18 and 19 (docs/ODOO_HOOKS.md §5 and "Odoo 19: logs and metrics").

Model/method names reach the metrics only for an authenticated caller and a pair that exists in the
registry as a public method (`_public_pair`): everything else an anonymous caller sends stays in the plain
request timer, so no request can grow the name cache or poison the names. The hooks are the same on both
series; the one difference (Odoo 19's ``/json/2`` route type) is `_json2_params`, inert on 18.
"""
import functools
import threading
import time

import odoo.http
import odoo.service.model
from odoo.modules.registry import Registry
from odoo.tools import config

from odoo_cloud import instrumentation
from odoo_cloud.config.platform import resolve_running_env
from odoo_cloud.metrics import Metrics, wrap_wsgi_call
from odoo_cloud.wsgi import patch_once, thread_sql_figures

MARK = "_odoo_cloud_monitoring_statsd"
#: the Metrics of this process, once install() ran (tests read it)
metrics = None


def running_environment(environ):
    """Exactly OCA server_environment's resolution (the `running_env` option of the Odoo config, then
    the variables, then 'test'): post_load runs before server_environment is imported."""
    return str(resolve_running_env(environ, config.get("running_env")).value)


def install(settings, environ):
    global metrics
    if metrics is None:
        metrics = Metrics.from_settings(settings, running_environment(environ))
    _wrap_application()
    _wrap_rpc_dispatch()
    _wrap_rpc_execute()
    instrumentation.subscribe(metrics.observe)
    return metrics


def _current_metrics():
    return metrics


def _public_pair(registry, model, method):
    """(model, method) when `model` is in `registry` and `method` one of its publicly callable methods
    (Odoo's `get_public_method` rules: no leading ``_``, callable, not ``@api.private``), else None."""
    if not (isinstance(model, str) and isinstance(method, str)) or method.startswith("_"):
        return None
    try:
        model_class = registry[model]
    except (KeyError, TypeError):
        return None
    if not callable(getattr(model_class, method, None)):
        return None
    if any(getattr(getattr(cls, method, None), "_api_private", False) for cls in model_class.mro()):
        return None
    return model, method


def _button_params():
    """(model, method) of a logged-in user's /web/dataset/call_button request of an existing pair.

    Asked while the request is still bound (inside start_response, after the cursor closed: nothing here
    queries the database). The route is ``auth='user'``: a logged-in caller has ``session.uid``; an
    anonymous one (SessionExpired answer) has none and gets no name.
    """
    request = odoo.http.request
    if not request or request.registry is None or not request.session.uid:
        return None
    params = request.params or {}
    return _public_pair(request.registry, params.get("model"), params.get("method"))


def _json2_params(status):
    """Odoo 19's ``POST /json/2/<model>/<method>``: (model, method) once the bearer authentication passed.

    The route's authentication failing answers 401 (Unauthorized) or 403 (AccessDenied) and leaves no
    user on the environment: those never name a metric; nor does an unknown model (404). Inert on 18
    (no such route).
    """
    request = odoo.http.request
    if status in (401, 403, 404) or not request or request.registry is None:
        return None
    # _serve_db has dropped request.env by now (http.py:2286): the bearer user is the thread's uid
    # (update_env, http.py:1819; reset at each request's start), a browser session's is session.uid
    uid = getattr(threading.current_thread(), "uid", None) or request.session.uid
    if not uid:
        return None
    params = request.params or {}
    return _public_pair(request.registry, params.get("__model__"), params.get("__method__"))




def _wrap_application():
    patch_once(odoo.http.Application, "__call__", MARK,
               lambda call: wrap_wsgi_call(call, _current_metrics, button_params=_button_params,
                                           sql_figures=thread_sql_figures, json2_params=_json2_params))


#: the (model, method) `execute_cr` vouched for during this thread's current RPC dispatch
_rpc_call = threading.local()


def _wrap_rpc_dispatch():
    """XML-RPC / JSON-RPC ``execute(_kw)``: a timer per model and method, for authenticated calls of
    existing pairs only (what `_wrap_rpc_execute` saw), timed over the whole dispatch."""
    original = odoo.service.model.dispatch
    if getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def dispatch(method, params):
        _rpc_call.pair = None
        start = time.perf_counter()
        try:
            return original(method, params)
        finally:
            pair, _rpc_call.pair = _rpc_call.pair, None
            current = metrics
            if current is not None and pair is not None:
                try:
                    current.rpc_finished(*pair, time.perf_counter() - start)
                except Exception as exc:
                    current.errors.warning("statsd: rpc metrics failed: %s: %s", type(exc).__name__, exc)

    setattr(dispatch, MARK, True)
    odoo.service.model.dispatch = dispatch


def _wrap_rpc_execute():
    """``execute_cr(cr, uid, model, method, ...)`` runs only once ``dispatch`` authenticated the caller
    (18: ``security.check`` before it; 19: ``_check_uid_passwd`` in the same cursor just before it):
    reaching it is the proof of authentication. It notes the pair when it exists."""
    original = odoo.service.model.execute_cr
    if getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def execute_cr(cr, uid, obj, method, *args, **kwargs):
        try:
            _rpc_call.pair = _public_pair(Registry(cr.dbname), obj, method)
        except Exception:
            _rpc_call.pair = None
        return original(cr, uid, obj, method, *args, **kwargs)

    setattr(execute_cr, MARK, True)
    odoo.service.model.execute_cr = execute_cr
