# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""JSON log lines for the whole server: a server-wide module (``--load=base,web,logging_json``).

``post_load`` runs once per process, after ``odoo.netsvc.init_logger`` installed the root handler and
before any worker forks; everything it does is process-wide and idempotent. The behaviour lives in
``odoo_cloud.logs``; this module only finds Odoo's handlers and entry points.
"""
import logging
import os

_logger = logging.getLogger(__name__)


def post_load():
    from odoo_cloud.config import ConfigError, EnvReader
    from odoo_cloud.config import logging as logging_settings

    env = EnvReader(os.environ)
    settings = logging_settings.read(env)
    if env.problems:
        _logger.error("logging_json not active: %s", ConfigError(env.problems))
        return
    if not settings.json:
        _logger.info("logging_json: ODOO_LOGGING_JSON is off, log lines stay in Odoo's text format")
        return
    from . import hooks

    handlers = hooks.install()
    _logger.info("logging_json: JSON log lines on %d root handler(s): %s", len(handlers),
                 ", ".join(type(handler).__name__ for handler in handlers))
