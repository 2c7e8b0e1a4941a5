# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Prometheus metrics for the whole server: a server-wide module (``--load=base,web,monitoring_prometheus``).

``post_load`` runs in the prefork master before workers fork (and again in Odoo's gevent process): it
prepares the multiprocess directory, wraps entry points and, in the process that owns the metrics,
starts the listener. The behaviour lives in ``odoo_cloud.prometheus``.
"""
import logging
import os

_logger = logging.getLogger(__name__)


def post_load():
    from odoo_cloud.config import ConfigError, EnvReader
    from odoo_cloud.config import prometheus as prometheus_settings

    env = EnvReader(os.environ)
    settings = prometheus_settings.read(env)
    if env.problems:
        _logger.error("monitoring_prometheus not active: %s", ConfigError(env.problems))
        return
    if not settings.enabled:
        _logger.info("monitoring_prometheus: ODOO_PROMETHEUS is off, no Prometheus metrics")
        return
    from . import hooks

    hooks.install(settings)
