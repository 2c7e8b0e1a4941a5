# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Where monitoring_prometheus plugs into Odoo (18.0 and 19.0: the same entry points)."""
import functools
import logging

import odoo
import odoo.http
import odoo.service.server
from odoo.tools import config

from odoo_cloud import instrumentation
from odoo_cloud.prometheus import Exporter, PrometheusMetrics, prepare_directory, wrap_wsgi_call
from odoo_cloud.wsgi import patch_once, thread_sql_figures

_logger = logging.getLogger(__name__)
MARK = "_odoo_cloud_monitoring_prometheus"
#: this process's metrics and, in the owner process, the listener (tests read them)
metrics = None
exporter = None


def install(settings):
    """Idempotent. The owner of the metrics is every process but Odoo's gevent process, which only
    writes its files into the directory the prefork master created (it inherits the variable)."""
    global metrics, exporter
    # `-u all --stop-after-init` next to a running server must not wipe that server's files
    owner = not getattr(odoo, "evented", False) and not config.get("stop_after_init")
    if metrics is None:
        directory = prepare_directory(settings.multiproc_dir, owner)
        metrics = PrometheusMetrics()
        metrics.sample_process(cpu=False)  # a live process's memory gauge is never a placeholder 0
        instrumentation.subscribe(metrics.observe)
        _wrap_application()
        if owner:
            exporter = Exporter(directory, settings.port, settings.interface)
            try:
                exporter.start()
            except OSError as exc:
                _logger.error("monitoring_prometheus: cannot listen on %s:%s (%s); metrics are still "
                              "collected in %s", settings.interface, settings.port, exc, directory)
                exporter = None
            else:
                _wrap_worker_pop()
                _logger.info("monitoring_prometheus: metrics of every worker on http://%s:%s/metrics "
                             "(multiprocess directory %s)", settings.interface, settings.port, directory)
    return metrics


def _current_metrics():
    return metrics




def _wrap_application():
    patch_once(odoo.http.Application, "__call__", MARK,
               lambda call: wrap_wsgi_call(call, _current_metrics, sql_figures=thread_sql_figures))


def _wrap_worker_pop():
    """The prefork master reaps a worker (recycled, killed, crashed) or its gevent process."""
    server_class = odoo.service.server.PreforkServer
    original = server_class.worker_pop
    if getattr(original, MARK, False):
        return

    @functools.wraps(original)
    def worker_pop(self, pid):
        try:
            return original(self, pid)
        finally:
            if exporter is not None:
                exporter.process_exited(pid)

    setattr(worker_pop, MARK, True)
    server_class.worker_pop = worker_pop
