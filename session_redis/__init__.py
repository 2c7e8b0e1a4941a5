# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import dataclasses
import logging
import os

from . import models  # noqa: F401

_logger = logging.getLogger(__name__)


def _read_settings():
    """Only this addon's variables: a bad statsd variable must not decide where sessions go."""
    from odoo_cloud.config import ConfigError, EnvReader
    from odoo_cloud.config import sessions as sessions_config

    env = EnvReader(os.environ)
    settings = sessions_config.read(env)
    if env.problems:
        raise ConfigError(env.problems)
    return settings


def install(settings):
    """Make Redis the session store of every Application, now and after Odoo resets its cached properties.

    `Application.session_store` is a lazy property (18: lazy_property, 19:
    functools.cached_property; see _series): replacing the *class* attribute
    (not only `root`'s cached value) keeps Redis after Odoo's own tests reset
    them. The store is built on first use, in the process that serves
    requests (post_load runs before prefork workers fork).
    """
    from odoo import http

    from . import _series
    from .http_store import build_store

    if settings.expiration is None:  # "default: Odoo's own session lifetime"
        settings = dataclasses.replace(settings, expiration=http.SESSION_LIFETIME)

    def session_store(app):
        store = build_store(settings)
        _logger.info("HTTP sessions are stored in Redis %s under prefix %r (TTL %d s, anonymous %d s)",
                     settings.display_url, settings.key_prefix, settings.authenticated_ttl,
                     settings.expiration_anonymous)
        return store

    _series.install_session_store(session_store)
    return settings


def import_filesystem_sessions(settings):
    """Opt-in (ODOO_SESSION_REDIS_IMPORT_FILESYSTEM): copy Odoo's session files into Redis once."""
    from odoo import http
    from odoo.tools import config

    from odoo_cloud.sessions import SessionStoreUnavailable
    from odoo_cloud.sessions import import_filesystem_sessions as run_import

    directory = config.session_dir
    try:
        report = run_import(http.root.session_store, directory, max_lifetime=http.SESSION_LIFETIME)
    except SessionStoreUnavailable as exc:  # RedisSessionUnavailable is not raised here: no request
        _logger.error("filesystem sessions not imported from %s: %s", directory, exc)
        return None
    _logger.info("filesystem sessions from %s: %s", directory, report)
    return report


def post_load():
    from odoo_cloud.config import ConfigError

    try:
        settings = _read_settings()
    except ConfigError as exc:
        _logger.error("session_redis: sessions stay on the filesystem, the configuration is invalid: %s", exc)
        return
    if not settings.enabled:
        _logger.info("session_redis: ODOO_SESSION_REDIS is off, sessions stay on the filesystem")
        return
    settings = install(settings)
    report = import_filesystem_sessions(settings) if settings.import_filesystem else None
    if settings.purge_filesystem:
        purge_filesystem_sessions(settings, report)


def purge_filesystem_sessions(settings, report):
    """Opt-in (ODOO_SESSION_REDIS_PURGE_FILESYSTEM): delete Odoo's session files, as camptocamp's addon did.

    With the import on, only once it is complete (this start or an earlier
    one): never after a failed import, nor while another instance imports.
    """
    from odoo.tools import config

    from odoo_cloud.sessions import purge_filesystem_sessions as run_purge
    from odoo_cloud.sessions.filesystem_import import purge_allowed

    directory = config.session_dir
    if not purge_allowed(settings.import_filesystem, report):
        _logger.warning("filesystem sessions in %s are kept: their import into Redis is not complete",
                        directory)
        return None
    removed = run_purge(directory)
    _logger.info("filesystem sessions in %s: %d deleted", directory, removed)
    return removed
