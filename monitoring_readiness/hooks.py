# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where monitoring_readiness plugs into Odoo (18.0 and 19.0: the same entry points)."""
import dataclasses
import json
import logging
import os
import threading
import time

import odoo.http
import odoo.sql_db
from odoo.tools import config

from odoo_cloud.environments import read_settings
from odoo_cloud.readiness import Readiness, readiness_checks

_logger = logging.getLogger(__name__)
MARK = "_odoo_cloud_monitoring_readiness"
READY_PATH = "/web/health/ready"
#: Readiness per process id: a forked worker builds its own (threads, locks and sockets stay per process)
_by_pid = {}
_settings = None


def install():
    """Read the variables once (post_load) and answer READY_PATH in front of every Application."""
    global _settings
    settings, problems = read_settings(os.environ)
    bad = {problem.variable for problem in problems}
    for problem in problems:
        if problem.variable.startswith("ODOO_READINESS_"):
            _logger.error("monitoring_readiness: %s (the default is used)", problem)
    # sessions are in Redis only when session_redis is loaded and its variables are valid
    redis_sessions = (settings.sessions.enabled and "session_redis" in _server_wide_modules()
                      and not any(name.startswith("ODOO_SESSION_REDIS") for name in bad))
    if settings.sessions.enabled != redis_sessions:
        settings = dataclasses.replace(settings, sessions=dataclasses.replace(settings.sessions,
                                                                              enabled=redis_sessions))
    _settings = settings
    _preload_clients(settings)
    _wrap_application()
    _logger.info("monitoring_readiness: %s checks %s (timeout %g s, results reused %g s)", READY_PATH,
                 ", ".join(check.name for check in _build().checks),
                 settings.readiness.timeout, settings.readiness.cache_seconds)


def _preload_clients(settings):
    """Import the store's client library here, in the prefork master: every worker inherits it, so a
    worker's first probe does not spend a quarter of a second of its deadline importing boto3."""
    try:
        if settings.s3.configured:
            import boto3  # noqa: F401
        elif settings.swift.configured:
            import swiftclient  # noqa: F401
    except ImportError:  # pylint: disable=except-pass
        pass  # the check itself reports it


def _server_wide_modules():
    modules = config.get("server_wide_modules") or ()
    if isinstance(modules, str):
        modules = modules.split(",")
    return {module.strip() for module in modules}


def _single_database():
    """The database that replaces {db} in a bucket name, when the server serves exactly one."""
    names = config.get("db_name") or ()
    if isinstance(names, str):
        names = names.split(",")
    names = [name.strip() for name in names if name and name.strip()]
    return names[0] if len(names) == 1 else None


def _select_one():
    """What ``/web/health?db_server_status=1`` checks, plus a query: a pooled connection may be dead."""
    cursor = odoo.sql_db.db_connect("postgres").cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()


def _build():
    return Readiness(readiness_checks(_settings, _select_one, _single_database()),
                     _settings.readiness.timeout, _settings.readiness.cache_seconds)


def readiness():
    """This process's Readiness (tests read its `rounds`)."""
    pid = os.getpid()
    current = _by_pid.get(pid)
    if current is None:
        _by_pid.clear()  # a forked child drops its parent's
        current = _by_pid[pid] = _build()
    return current


def serve(environ, start_response):
    """The answer, without Odoo: no database selection, no session, no cookie."""
    thread = threading.current_thread()
    # what Application.__call__ resets for the access line's figures (perf_info) and log context
    thread.query_count, thread.query_time, thread.perf_t0 = 0, 0, time.time()
    for attribute in ("dbname", "uid"):
        thread.__dict__.pop(attribute, None)
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        body = b'{"status": "fail", "error": "method not allowed"}'
        start_response("405 Method Not Allowed",
                       [("Allow", "GET, HEAD"), ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body]
    try:
        status, answer = readiness().answer()
    except Exception:  # a bug of ours must still give the balancer a clear answer, never a dead worker
        _logger.exception("monitoring_readiness: the checks themselves failed")
        status, answer = 503, {"status": "fail", "checks": {}, "error": "readiness checks failed"}
    body = json.dumps(answer).encode()
    start_response("200 OK" if status == 200 else "503 Service Unavailable",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")])
    return [b""] if method == "HEAD" else [body]


def _wrap_application():
    application = odoo.http.Application
    original = application.__call__
    if getattr(original, MARK, False):
        return

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == READY_PATH:
            return serve(environ, start_response)
        return original(self, environ, start_response)

    __call__.__wrapped__ = original
    __call__.__doc__ = original.__doc__
    setattr(__call__, MARK, True)
    application.__call__ = __call__
