# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""statsd metrics for the whole server: a server-wide module (``--load=base,web,monitoring_statsd``).

``post_load`` runs in the master before workers fork: it only wraps entry points and subscribes to the
stores' operations; the UDP socket is opened lazily, once per process (``odoo_cloud.metrics``).
"""
import logging
import os

_logger = logging.getLogger(__name__)


def post_load():
    from odoo_cloud.config import ConfigError, EnvReader
    from odoo_cloud.config import statsd as statsd_settings

    env = EnvReader(os.environ)
    settings = statsd_settings.read(env)
    if env.problems:
        _logger.error("monitoring_statsd not active: %s", ConfigError(env.problems))
        return
    if not settings.enabled:
        _logger.info("monitoring_statsd: ODOO_STATSD is off, no metrics sent")
        return
    from . import hooks

    metrics = hooks.install(settings, os.environ)
    _logger.info("monitoring_statsd: metrics to %s:%s as %s.http.request.%s.%s", settings.host, settings.port,
                 metrics.prefix, metrics.customer, metrics.environment)
