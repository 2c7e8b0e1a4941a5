"""Odoo's own options met in the environment: Odoo 19 reads every option from ``ODOO_<OPTION>``.

Odoo 19 (``odoo/tools/config.py``: an indexed, file-loadable option gets ``env_name = 'ODOO_' +
dest.upper()``, plus the libpq ``PG*`` names and ``ODOO_RC``/``ODOO_DEV``) takes these variables as its
configuration, below the command line and above the config file; Odoo 18 ignores all of them except
``ODOO_RC`` and the ``PG*`` names libpq reads. None of our variables is one of them except where the
meaning is the same (tests/test_odoo_options.py checks both lists against a real Odoo 19):

- ``ODOO_DATA_DIR``: Odoo 19's ``data_dir``; `odoo-cloud migrate` finds the filestore there on both
  series, resolved exactly as Odoo 19 does (`data_dir`).
- ``ODOO_RC``: the configuration file; `odoo-cloud check` reads its ``running_env`` like Odoo does.
- ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``: libpq's, for `odoo-cloud migrate`.

`odoo-cloud check` validates the ones that matter to us (a value Odoo 19 would refuse at start-up, or a
server-wide module list that leaves out an addon our variables enable) and lists the others it saw.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from . import variables as V
from ._parse import EnvReader

#: every environment variable Odoo 19.0 reads as an option (79 in the 19.0 tree checked)
ODOO19_OPTION_VARIABLES = frozenset("""
ODOO_ADDONS_PATH ODOO_ADMIN_PASSWD ODOO_BIN_PATH ODOO_CSV_INTERNAL_SEP ODOO_DATA_DIR ODOO_DBFILTER
ODOO_DB_MAXCONN ODOO_DB_MAXCONN_GEVENT ODOO_DEFAULT_PRODUCTIVITY_APPS ODOO_DEV ODOO_EMAIL_FROM
ODOO_FROM_FILTER ODOO_GEOIP_CITY_DB ODOO_GEOIP_COUNTRY_DB ODOO_GEVENT_PORT ODOO_HTTP_ENABLE
ODOO_HTTP_INTERFACE ODOO_HTTP_PORT ODOO_IMPORT_FILE_MAXBYTES ODOO_IMPORT_FILE_TIMEOUT ODOO_IMPORT_URL_REGEX
ODOO_LIMIT_MEMORY_HARD ODOO_LIMIT_MEMORY_HARD_GEVENT ODOO_LIMIT_MEMORY_SOFT ODOO_LIMIT_MEMORY_SOFT_GEVENT
ODOO_LIMIT_REQUEST ODOO_LIMIT_TIME_CPU ODOO_LIMIT_TIME_REAL ODOO_LIMIT_TIME_REAL_CRON
ODOO_LIMIT_TIME_WORKER_CRON ODOO_LIST_DB ODOO_LOAD_LANGUAGE ODOO_LOGFILE ODOO_LOG_DB ODOO_LOG_DB_LEVEL
ODOO_LOG_HANDLER ODOO_LOG_LEVEL ODOO_MAX_CRON_THREADS ODOO_OSV_MEMORY_COUNT_LIMIT
ODOO_OVERWRITE_EXISTING_TRANSLATIONS ODOO_PIDFILE ODOO_PRE_UPGRADE_SCRIPTS ODOO_PROXY_ACCESS_TOKEN
ODOO_PROXY_MODE ODOO_PUBLISHER_WARRANTY_URL ODOO_RC ODOO_REPORTGZ ODOO_SCREENCASTS ODOO_SCREENSHOTS
ODOO_SERVER_WIDE_MODULES ODOO_SKIP_AUTO_INSTALL ODOO_SMTP_PASSWORD ODOO_SMTP_PORT ODOO_SMTP_SERVER
ODOO_SMTP_SSL ODOO_SMTP_SSL_CERTIFICATE_FILENAME ODOO_SMTP_SSL_PRIVATE_KEY_FILENAME ODOO_SMTP_USER
ODOO_SYSLOG ODOO_TRANSIENT_AGE_LIMIT ODOO_UNACCENT ODOO_UPGRADE_PATH ODOO_WEBSOCKET_KEEP_ALIVE_TIMEOUT
ODOO_WEBSOCKET_RATE_LIMIT_BURST ODOO_WEBSOCKET_RATE_LIMIT_DELAY ODOO_WITH_DEMO ODOO_WORKERS ODOO_X_SENDFILE
PGAPPNAME PGDATABASE PGDATABASE_TEMPLATE PGHOST PGHOST_REPLICA PGPASSWORD PGPATH PGPORT PGPORT_REPLICA
PGSSLMODE PGUSER
""".split())

#: Odoo 19 option variables we also read, with the same meaning (anything else would be a collision)
SHARED_WITH_ODOO = {
    "ODOO_DATA_DIR": "Odoo's data_dir (filestore under <data_dir>/filestore/<db>)",
    "ODOO_RC": "Odoo's configuration file (its running_env option)",
    "PGHOST": "libpq host", "PGPORT": "libpq port", "PGUSER": "libpq user", "PGPASSWORD": "libpq password",
    "PGDATABASE": "libpq database",
}

#: whose value is a secret: listed by name only
SECRET_OPTION_VARIABLES = frozenset({"ODOO_ADMIN_PASSWD", "ODOO_SMTP_PASSWORD", "ODOO_PROXY_ACCESS_TOKEN",
                                     "PGPASSWORD"})

DATA_DIR_VARIABLE = V.ODOO_DATA_DIR.name
#: Odoo 19's own options, checked as Odoo reads them: not ours, so not in the registry (variables.py)
WORKERS_VARIABLE = "ODOO_WORKERS"
SERVER_WIDE_VARIABLE = "ODOO_SERVER_WIDE_MODULES"
PRODUCT_NAME = "Odoo"  # odoo.release.product_name: the directory under the user data dir


def normalize_path(value: str) -> str:
    """Odoo 19's ``configmanager._normalize`` of a ``type='path'`` option, for an ODOO_* value."""
    if not value:
        return ""
    return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(
        os.path.expandvars(value.strip())))))


def default_data_dir() -> str:
    """Odoo's default data_dir on Linux: appdirs' user_data_dir of 'Odoo' ($XDG_DATA_HOME or
    ~/.local/share), or /var/lib/Odoo when there is no home directory."""
    if not os.path.isdir(os.path.expanduser("~")):
        return f"/var/lib/{PRODUCT_NAME}"
    base = os.getenv("XDG_DATA_HOME", os.path.expanduser("~/.local/share"))
    return os.path.join(base, PRODUCT_NAME)


@dataclass(frozen=True)
class OdooOptionSettings:
    #: where Odoo keeps its filestore: ODOO_DATA_DIR normalised like Odoo 19 does, else Odoo's default
    data_dir: str = field(default_factory=default_data_dir)
    #: ODOO_WORKERS when set (Odoo 19 only): 0 threaded, > 0 prefork
    workers: Optional[int] = None
    #: ODOO_SERVER_WIDE_MODULES when set (Odoo 19 only; a --load on the command line wins)
    server_wide_modules: Optional[tuple[str, ...]] = None
    #: Odoo 19 option variables present in the environment, sorted
    present: tuple[str, ...] = ()


def read(env: EnvReader) -> OdooOptionSettings:
    data_dir = default_data_dir()
    if DATA_DIR_VARIABLE in env.environ:
        value = env.environ[DATA_DIR_VARIABLE]
        if value.strip():
            data_dir = normalize_path(value)
        else:  # Odoo 19 would put the filestore under the working directory
            env.problem(DATA_DIR_VARIABLE, value, "an absolute directory, e.g. /var/lib/odoo "
                        "(empty: Odoo 19 would use the current directory)")
    workers = env.integer(WORKERS_VARIABLE, None, minimum=0, maximum=10000)
    modules = env.raw(SERVER_WIDE_VARIABLE)
    return OdooOptionSettings(
        data_dir=data_dir,
        workers=workers,
        server_wide_modules=tuple(m.strip() for m in modules.split(",") if m.strip()) if modules else None,
        present=tuple(sorted(name for name in env.environ if name in ODOO19_OPTION_VARIABLES)),
    )
