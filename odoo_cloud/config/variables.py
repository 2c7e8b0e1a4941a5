# ruff: noqa: RUF001 - the doc lines are README text, typographic dashes included
"""Every environment variable of the suite, declared once.

Each `Variable` says its name, type, default, whether it is a secret, which addon(s) use it and one
line of documentation. The readers of `odoo_cloud.config` take name, type and default from here
(`env.integer(PRESIGNED_URL_EXPIRY, minimum=10)`), and the variable tables of README.md and of every
addon's `readme/CONFIGURE.md` are generated from here (between `BEGIN/END generated variables`
markers), so a name, a default or a meaning is written once and the documentation cannot drift:

    scripts/gen_docs.py --write   # regenerate the tables
    scripts/gen_docs.py --check   # exit 1 when a table differs (tests/test_variables.py)

Validation (bounds, patterns, cross-variable rules) stays in the section readers: it is behaviour,
and the doc line says it in words.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Optional, TypeVar, Union

#: the reader method each type is read with (EnvReader refuses a variable read with another one);
#: "external": read by something else (libpq, a CLI's own lookup), declared for the documentation
TYPES = ("flag", "integer", "number", "text", "secret", "url", "choice", "port", "ttl", "external")

Default = Union[bool, int, float, str, None]
#: the type of a variable's default, so that a reader returns `int` for a variable declared with 300
#: and `Optional[int]` for one declared with None
D = TypeVar("D", bound=Default)


@dataclass(frozen=True)
class Variable(Generic[D]):
    """One environment variable: what the readers need and what the documentation says."""

    name: str
    type: str
    #: what the reader returns when the variable is unset (None: unset means "not configured")
    default: D
    #: the one documentation line (the "Meaning" column)
    doc: str
    #: addons whose CONFIGURE.md lists it (README's "Addon" column, then `used_by`)
    addons: tuple[str, ...] = ()
    #: the default as documented, when the Python value alone does not say it (derived otherwise)
    shown_default: Optional[str] = None
    secret: bool = False
    #: other users named in README's "Addon" column (a CLI, libpq...), after the addons
    used_by: str = ""
    #: older names read when this one is unset
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown variable type {self.type!r}")

    @property
    def documented_default(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None:
            return "—"
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    @property
    def shown_names(self) -> str:
        shown = f"`{self.name}`"
        if self.aliases:
            shown += " (or " + ", ".join(f"`{alias}`" for alias in self.aliases) + ")"
        return shown


def _v(name: str, type: str, default: D, doc: str, addons: tuple[str, ...] = (),
       **options: Any) -> Variable[D]:
    variable = Variable(name, type, default, doc, addons, **options)
    REGISTRY.append(variable)
    return variable


REGISTRY: list[Variable[Any]] = []

STORAGE = ("base_attachment_object_storage",)
S3 = ("attachment_s3",)
SWIFT = ("attachment_swift",)
REDIS = ("session_redis",)

# -- base_attachment_object_storage ---------------------------------------------------------------
DISABLE_ATTACHMENT_STORAGE = _v(
    "DISABLE_ATTACHMENT_STORAGE", "flag", False,
    "never contact object storage: new data goes to the DB, reading an object-stored attachment fails "
    "clearly, migrations do nothing", STORAGE)
ATTACHMENT_STORAGE_PRESIGNED_URL = _v(
    "ATTACHMENT_STORAGE_PRESIGNED_URL", "flag", False,
    "downloads answer a 302 to a presigned S3 URL / Swift temp URL (needs `SWIFT_TEMP_URL_KEY`) instead of "
    "streaming through Odoo (`Cache-Control: private` unless the attachment is public, like every other "
    "download answer)", STORAGE)
ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY = _v(
    "ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY", "integer", 300,
    "lifetime of those URLs in seconds (10 s – 7 days); the redirect's `max-age` stays below it", STORAGE)
ATTACHMENT_STORAGE_KNOWN_KEYS = _v(
    "ATTACHMENT_STORAGE_KNOWN_KEYS", "integer", 100_000,
    "in-process memory of keys known to exist (saves the \"already stored?\" round trip per write); "
    "0 disables", STORAGE)
ATTACHMENT_STORAGE_CACHE_SIZE = _v(
    "ATTACHMENT_STORAGE_CACHE_SIZE", "integer", 0,
    "bound in bytes of the host-wide local read cache of attachment objects (docs/READ_CACHE.md)", STORAGE,
    shown_default="0 (off)")
ATTACHMENT_STORAGE_CACHE_DIR = _v(
    "ATTACHMENT_STORAGE_CACHE_DIR", "text", None,
    "directory of that cache, shared by every worker of the host (ephemeral storage or tmpfs)", STORAGE,
    shown_default="`<tmp>/odoo-cloud-read-cache`")
ATTACHMENT_STORAGE_CACHE_MAX_OBJECT_SIZE = _v(
    "ATTACHMENT_STORAGE_CACHE_MAX_OBJECT_SIZE", "integer", 8 * 1024 * 1024,
    "larger objects are streamed, never cached", STORAGE)

# -- attachment_s3 ------------------------------------------------------------------------------------
AWS_HOST = _v("AWS_HOST", "text", None, "S3 endpoint; scheme optional (`https://` by default)", S3,
              shown_default="AWS endpoints")
AWS_REGION = _v("AWS_REGION", "text", None, "region name; must match the server's", S3,
                shown_default="boto3's default (`AWS_DEFAULT_REGION`, profile)")
AWS_ACCESS_KEY_ID = _v(
    "AWS_ACCESS_KEY_ID", "text", None,
    "access key id; without it and the secret, boto3's default credential chain is used", S3,
    shown_default="default credential chain (IRSA, instance profile…)")
AWS_SECRET_ACCESS_KEY = _v(
    "AWS_SECRET_ACCESS_KEY", "secret", None, "secret access key", S3,
    shown_default="default credential chain (IRSA, instance profile…)", secret=True)
AWS_BUCKETNAME = _v(
    "AWS_BUCKETNAME", "text", None,
    "write bucket; `{db}` is replaced by the database name. Setting it chooses S3", S3)
AWS_BUCKETNAME_UNSTRUCTURED = _v(
    "AWS_BUCKETNAME_UNSTRUCTURED", "flag", False,
    "skip the `<project>-odoo-<env>` naming rule for the bucket", (*S3, "cloud_platform"))
AWS_ADDRESSING_STYLE = _v(
    "AWS_ADDRESSING_STYLE", "choice", None, "`path`, `virtual` or `auto`", S3,
    shown_default="`path` with `AWS_HOST`, else `auto`")
AWS_CONNECT_TIMEOUT = _v("AWS_CONNECT_TIMEOUT", "number", 5.0, "seconds to connect", S3)
AWS_READ_TIMEOUT = _v("AWS_READ_TIMEOUT", "number", 60.0, "seconds to wait for a reply", S3)
AWS_MAX_ATTEMPTS = _v("AWS_MAX_ATTEMPTS", "integer", 3, "attempts per call (1–20), standard retry mode", S3)
AWS_CREATE_BUCKET = _v("AWS_CREATE_BUCKET", "flag", True, "create the write bucket on first use when missing",
                       S3)
AWS_SERVER_SIDE_ENCRYPTION = _v("AWS_SERVER_SIDE_ENCRYPTION", "choice", None,
                                "`AES256` (SSE-S3) or `aws:kms` (SSE-KMS)", S3)
AWS_SSE_KMS_KEY_ID = _v(
    "AWS_SSE_KMS_KEY_ID", "text", None,
    "KMS key id/ARN/alias, only with `aws:kms` (the account's default key when unset)", S3)

# -- attachment_swift ---------------------------------------------------------------------------------
SWIFT_AUTH_URL = _v("SWIFT_AUTH_URL", "url", None,
                    "Keystone or tempauth URL (`…/v3` selects Keystone v3, `…/auth/v1.0` tempauth)", SWIFT)
SWIFT_ACCOUNT = _v("SWIFT_ACCOUNT", "text", None, "user (v1: `account:user`)", SWIFT)
SWIFT_PASSWORD = _v("SWIFT_PASSWORD", "secret", None, "password (v1: the key)", SWIFT, secret=True)
SWIFT_AUTH_VERSION = _v("SWIFT_AUTH_VERSION", "choice", None, "`1` (tempauth/v1) or `3` (Keystone v3)", SWIFT,
                        shown_default="`3` when the URL ends with `/v3`, else `1`")
SWIFT_PROJECT_NAME = _v("SWIFT_PROJECT_NAME", "text", None, "Keystone project, required with v3", SWIFT,
                        aliases=("SWIFT_TENANT_NAME",))
SWIFT_USER_DOMAIN_NAME = _v("SWIFT_USER_DOMAIN_NAME", "text", "Default", "Keystone domain of the user", SWIFT)
SWIFT_PROJECT_DOMAIN_NAME = _v("SWIFT_PROJECT_DOMAIN_NAME", "text", "Default",
                               "Keystone domain of the project", SWIFT)
SWIFT_REGION_NAME = _v("SWIFT_REGION_NAME", "text", None, "region in the service catalog", SWIFT)
SWIFT_INTERFACE = _v("SWIFT_INTERFACE", "choice", "public", "`public`, `internal` or `admin` endpoint", SWIFT)
SWIFT_WRITE_CONTAINER = _v(
    "SWIFT_WRITE_CONTAINER", "text", None,
    "write container; `{db}` is replaced by the database name. Setting it chooses Swift", SWIFT)
SWIFT_WRITE_CONTAINER_UNSTRUCTURED = _v(
    "SWIFT_WRITE_CONTAINER_UNSTRUCTURED", "flag", False, "skip the naming rule for the container",
    (*SWIFT, "cloud_platform"))
SWIFT_CONNECT_TIMEOUT = _v("SWIFT_CONNECT_TIMEOUT", "number", 5.0, "seconds to connect", SWIFT)
SWIFT_READ_TIMEOUT = _v("SWIFT_READ_TIMEOUT", "number", 60.0, "seconds to wait for a reply", SWIFT)
SWIFT_RETRIES = _v("SWIFT_RETRIES", "integer", 2, "retries per call (0–20; backoff 0.2 s … 2 s)", SWIFT)
SWIFT_CREATE_CONTAINER = _v("SWIFT_CREATE_CONTAINER", "flag", True,
                            "create the write container on first use when missing", SWIFT)
SWIFT_TEMP_URL_KEY = _v(
    "SWIFT_TEMP_URL_KEY", "secret", None,
    "account temp-URL key (`X-Account-Meta-Temp-URL-Key`), enables Swift temp URLs for downloads", SWIFT,
    secret=True)

# -- session_redis ------------------------------------------------------------------------------------
ODOO_SESSION_REDIS = _v("ODOO_SESSION_REDIS", "flag", False, "store HTTP sessions in Redis", REDIS)
ODOO_SESSION_REDIS_HOST = _v("ODOO_SESSION_REDIS_HOST", "text", "localhost", "Redis server host", REDIS)
ODOO_SESSION_REDIS_PORT = _v("ODOO_SESSION_REDIS_PORT", "port", 6379, "Redis server port", REDIS)
ODOO_SESSION_REDIS_PASSWORD = _v("ODOO_SESSION_REDIS_PASSWORD", "secret", None, "Redis password", REDIS,
                                 secret=True)
ODOO_SESSION_REDIS_URL = _v(
    "ODOO_SESSION_REDIS_URL", "url", None,
    "`redis://`, `rediss://` (TLS; CA file: `?ssl_ca_certs=/path/ca.pem`) or `unix://` URL with database "
    "index; replaces host/port/password", REDIS, secret=True)
ODOO_SESSION_REDIS_SENTINEL_HOST = _v("ODOO_SESSION_REDIS_SENTINEL_HOST", "text", None,
                                      "Sentinel host(s), comma-separated `host[:port]`", REDIS)
ODOO_SESSION_REDIS_SENTINEL_PORT = _v("ODOO_SESSION_REDIS_SENTINEL_PORT", "port", 26379,
                                      "default Sentinel port", REDIS)
ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME = _v("ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME", "text", None,
                                             "master name, required with Sentinel", REDIS)
ODOO_SESSION_REDIS_SENTINEL_PASSWORD = _v("ODOO_SESSION_REDIS_SENTINEL_PASSWORD", "secret", None,
                                          "password of the sentinels themselves", REDIS, secret=True)
ODOO_SESSION_REDIS_CLUSTER = _v(
    "ODOO_SESSION_REDIS_CLUSTER", "flag", False,
    "Redis Cluster: host/port (or a `redis://`/`rediss://` URL) name any one node; each session's keys share "
    "a hash slot (`<prefix>:session:{<first 42 characters of the id>}<rest>`); not with Sentinel", REDIS)
ODOO_SESSION_REDIS_SSL = _v(
    "ODOO_SESSION_REDIS_SSL", "flag", False,
    "TLS to Redis for host/port, Sentinel (sentinels and master) and Cluster connections; with a URL, TLS "
    "comes from its scheme (`rediss://`)", REDIS)
ODOO_SESSION_REDIS_SSL_CERT_REQS = _v(
    "ODOO_SESSION_REDIS_SSL_CERT_REQS", "choice", "required",
    "server certificate check with TLS: `none`, `optional` or `required`", REDIS)
ODOO_SESSION_REDIS_PREFIX = _v(
    "ODOO_SESSION_REDIS_PREFIX", "text", None,
    "key prefix (`<project>-odoo-<env>` under cloud_platform); keys are `<prefix>:session:<sid>`", REDIS,
    shown_default="`odoo`")
ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED = _v("ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED", "flag", False,
                                            "skip the naming rule for the prefix", ("cloud_platform",))
ODOO_SESSION_REDIS_EXPIRATION = _v("ODOO_SESSION_REDIS_EXPIRATION", "ttl", None,
                                   "TTL of authenticated sessions, seconds", REDIS,
                                   shown_default="Odoo's session lifetime (7 days)")
ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS = _v("ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS", "ttl", 3 * 3600,
                                             "TTL of anonymous sessions, seconds", REDIS)
ODOO_SESSION_REDIS_REFRESH_INTERVAL = _v(
    "ODOO_SESSION_REDIS_REFRESH_INTERVAL", "ttl", None,
    "how often an active session's expiry is pushed back (sliding expiry without an extra round trip)", REDIS,
    shown_default="10% of the TTL, ≤ 3600")
ODOO_SESSION_REDIS_CONNECT_TIMEOUT = _v("ODOO_SESSION_REDIS_CONNECT_TIMEOUT", "number", 1.0,
                                        "seconds to connect", REDIS, shown_default="1.0")
ODOO_SESSION_REDIS_TIMEOUT = _v("ODOO_SESSION_REDIS_TIMEOUT", "number", 2.0, "seconds to wait for a reply",
                                REDIS, shown_default="2.0")
ODOO_SESSION_REDIS_RETRIES = _v("ODOO_SESSION_REDIS_RETRIES", "integer", 1,
                                "retries after a connection error or timeout (0–10)", REDIS)
ODOO_SESSION_REDIS_IMPORT_FILESYSTEM = _v(
    "ODOO_SESSION_REDIS_IMPORT_FILESYSTEM", "flag", False,
    "copy existing filesystem sessions into Redis once at start, never overwriting (nobody is logged out "
    "by the switch)", REDIS, aliases=("ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS",))
ODOO_SESSION_REDIS_PURGE_FILESYSTEM = _v(
    "ODOO_SESSION_REDIS_PURGE_FILESYSTEM", "flag", False,
    "delete Odoo's session files from its session directory at start; with the import on, only once the "
    "import is complete (never while another instance imports)", REDIS,
    aliases=("ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS",))
ODOO_SESSION_REDIS_LEGACY_FALLBACK = _v(
    "ODOO_SESSION_REDIS_LEGACY_FALLBACK", "flag", True,
    "when a session is not found under our keys, look for it under camptocamp session_redis's keys "
    "(`session:<sid>`, `session::<prefix>:<sid>`, `session:<prefix>:<sid>`) and move it to ours on first use "
    "(docs/MIGRATING_FROM_SESSION_REDIS.md); costs one round trip on a miss only", REDIS)

# -- logging_json, monitoring_* -----------------------------------------------------------------------
ODOO_LOGGING_JSON = _v("ODOO_LOGGING_JSON", "flag", False,
                       "one JSON object per log line on every root handler", ("logging_json",))
ODOO_STATSD = _v("ODOO_STATSD", "flag", False, "send request metrics to statsd", ("monitoring_statsd",))
STATSD_CUSTOMER = _v("STATSD_CUSTOMER", "text", None,
                     "`<customer>` part of metric names: letters, digits, `_` or `-`", ("monitoring_statsd",),
                     shown_default="required when on")
STATSD_ENVIRONMENT = _v(
    "STATSD_ENVIRONMENT", "text", None,
    "`<env>` part of metric names; defaults to Odoo's `running_env` option, then `RUNNING_ENV`, "
    "`ODOO_STAGE`, then `test` (as OCA `server_environment`)", ("monitoring_statsd",),
    shown_default="`running_env`")
STATSD_HOST = _v("STATSD_HOST", "text", "localhost",
                 "statsd daemon host (UDP; resolved once per process, retried once a minute when it fails)",
                 ("monitoring_statsd",))
STATSD_PORT = _v("STATSD_PORT", "port", 8125, "statsd daemon UDP port", ("monitoring_statsd",))
ODOO_READINESS_TIMEOUT = _v(
    "ODOO_READINESS_TIMEOUT", "number", 2.0,
    "seconds each readiness check (PostgreSQL, Redis, bucket) may take before it fails as `timeout` (≤ 60); "
    "set the probe's timeout above it", ("monitoring_readiness",), used_by="`odoo-cloud check`")
ODOO_READINESS_CACHE_SECONDS = _v(
    "ODOO_READINESS_CACHE_SECONDS", "number", 2.0,
    "seconds a process reuses its last readiness results (≤ 300; 0: check on every probe)",
    ("monitoring_readiness",))
ODOO_PROMETHEUS = _v("ODOO_PROMETHEUS", "flag", False,
                     "serve Prometheus metrics of every worker on a listener of their own",
                     ("monitoring_prometheus",))
ODOO_PROMETHEUS_PORT = _v("ODOO_PROMETHEUS_PORT", "port", 9069,
                          "port of that listener (`/metrics`); never Odoo's HTTP port",
                          ("monitoring_prometheus",))
ODOO_PROMETHEUS_INTERFACE = _v("ODOO_PROMETHEUS_INTERFACE", "text", "0.0.0.0", "address the listener binds",
                               ("monitoring_prometheus",))
PROMETHEUS_MULTIPROC_DIR = _v(
    "PROMETHEUS_MULTIPROC_DIR", "text", None,
    "where every process writes its memory-mapped metric files; emptied when the server starts: give each "
    "server its own (an `emptyDir` on Kubernetes)", ("monitoring_prometheus",),
    used_by="(prometheus_client's own)", shown_default="a new directory under the system temp dir")

# -- read by others (documented here, read by libpq / the CLIs) -----------------------------------
PGHOST = _v("PGHOST", "external", None,
            "PostgreSQL host when Odoo's `db_*` options are not set; `odoo-cloud check --connect` uses "
            "them (or `-c FILE`'s `db_*`)", used_by="Odoo (libpq), `odoo-cloud check --connect`",
            shown_default="libpq's")
PGPORT = _v("PGPORT", "external", None, "PostgreSQL port, as `PGHOST`",
            used_by="Odoo (libpq), `odoo-cloud check --connect`", shown_default="libpq's")
PGUSER = _v("PGUSER", "external", None, "PostgreSQL user, as `PGHOST`",
            used_by="Odoo (libpq), `odoo-cloud check --connect`", shown_default="libpq's")
PGPASSWORD = _v("PGPASSWORD", "external", None, "PostgreSQL password, as `PGHOST`",
                used_by="Odoo (libpq), `odoo-cloud check --connect`", shown_default="libpq's", secret=True)

# -- cloud_platform -----------------------------------------------------------------------------------
RUNNING_ENV = _v(
    "RUNNING_ENV", "text", None,
    "running environment: `prod`, `integration`, `test`, `dev`. Resolved exactly as OCA server_environment "
    "does: a non-empty `running_env` in the Odoo configuration file wins; else `RUNNING_ENV` when it is set "
    "(even empty), else `ODOO_STAGE`, used only when non-empty; else `test`. Values are taken as they are: "
    "`RUNNING_ENV=` with `ODOO_STAGE=prod` runs `test`, and `\"prod \"` or `PROD` are unknown environments "
    "(refused)", ("cloud_platform",),
    used_by="(as server_environment)", shown_default="`test`", aliases=("ODOO_STAGE",))
ODOO_CLOUD_PLATFORM_UNSAFE = _v(
    "ODOO_CLOUD_PLATFORM_UNSAFE", "flag", False,
    "log the configuration problems as a warning instead of refusing to load", ("cloud_platform",))
ODOO_CLOUD_PLATFORM_PROJECT = _v("ODOO_CLOUD_PLATFORM_PROJECT", "text", None,
                                 "`<project>` in every `<project>-odoo-<env>` name", ("cloud_platform",),
                                 shown_default="read from the names")
ODOO_CLOUD_PLATFORM_STORAGE = _v(
    "ODOO_CLOUD_PLATFORM_STORAGE", "choice", None,
    "`s3` or `swift`: the store `install()` uses when both are configured (both without it is an error)",
    ("cloud_platform",))
ODOO_DATA_DIR = _v(
    "ODOO_DATA_DIR", "external", None,
    "Odoo's data_dir, to find `filestore/<db>`; read exactly as Odoo 19 reads its `data_dir` option (`~`, "
    "`$VAR`, relative paths resolved); empty is an error",
    used_by="`odoo-cloud migrate` (and Odoo 19 itself)",
    shown_default="`$XDG_DATA_HOME/Odoo` or `~/.local/share/Odoo`")
ODOO_RC = _v(
    "ODOO_RC", "external", None,
    "Odoo's configuration file when `-c` is not given: its `running_env` option is honoured like "
    "server_environment does", used_by="`odoo-cloud check` (and Odoo itself)")
#: read only as RUNNING_ENV's alias (server_environment's order)
ODOO_STAGE = Variable("ODOO_STAGE", "text", None, "older name of `RUNNING_ENV`", ("cloud_platform",))
#: read only as SWIFT_PROJECT_NAME's alias
SWIFT_TENANT_NAME = Variable("SWIFT_TENANT_NAME", "text", None, "older name of `SWIFT_PROJECT_NAME`", SWIFT)

#: read only as aliases of ours: camptocamp session_redis's names (docs/MIGRATING_FROM_SESSION_REDIS.md)
ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS = Variable(
    "ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS", "flag", False,
    "camptocamp session_redis's name of `ODOO_SESSION_REDIS_IMPORT_FILESYSTEM`", REDIS)
ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS = Variable(
    "ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS", "flag", False,
    "camptocamp session_redis's name of `ODOO_SESSION_REDIS_PURGE_FILESYSTEM`", REDIS)

BY_NAME: dict[str, Variable[Any]] = {variable.name: variable for variable in REGISTRY}
ALIASES: dict[str, Variable[Any]] = {variable.name: variable for variable in (
    ODOO_STAGE, SWIFT_TENANT_NAME, ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS,
    ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS)}


def get(name: str) -> Variable[Any]:
    """The declared variable `name` (KeyError naming it otherwise)."""
    return BY_NAME.get(name) or ALIASES[name]


# ------------------------------------------------------------------ generated documentation
BEGIN = "<!-- BEGIN generated variables: scripts/gen_docs.py --write -->"
END = "<!-- END generated variables -->"
ROOT = Path(__file__).resolve().parents[2]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_table(variables: Iterable[Variable[Any]] = REGISTRY) -> str:
    """README's table: every variable with the addons and tools that use it."""
    lines = ["| Variable | Addon | Default | Meaning |", "|---|---|---|---|"]
    for variable in variables:
        users = ", ".join(variable.addons)
        if variable.used_by.startswith("("):  # a remark about the addon: "(as server_environment)"
            users = f"{users} {variable.used_by}"
        elif variable.used_by:  # other users: "`odoo-cloud check`"
            users = ", ".join(part for part in (users, variable.used_by) if part)
        lines.append(f"| {variable.shown_names} | {_cell(users)} | {_cell(variable.documented_default)} | "
                     f"{_cell(variable.doc)} |")
    return "\n".join(lines)


def addon_table(addon: str, variables: Iterable[Variable[Any]] = REGISTRY) -> str:
    """One addon's CONFIGURE.md table: the variables it reads."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    lines += [f"| {v.shown_names} | {_cell(v.documented_default)} | {_cell(v.doc)} |"
              for v in variables if addon in v.addons]
    return "\n".join(lines)


def documents(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file and the table that goes between its markers."""
    files = {root / "README.md": readme_table()}
    addons = sorted({addon for variable in REGISTRY for addon in variable.addons})
    for addon in addons:
        files[root / addon / "readme" / "CONFIGURE.md"] = addon_table(addon)
    return files


def render(text: str, table: str, path: Path) -> str:
    """`text` with what stands between the markers replaced by `table`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{path}: no '{BEGIN}' ... '{END}' markers around the variable table")
    return text[:start + len(BEGIN)] + "\n" + table + "\n" + text[end:]


def stale(root: Path = ROOT) -> list[Path]:
    """Files whose generated table differs from the registry."""
    return [path for path, table in documents(root).items()
            if render(path.read_text(encoding="utf-8"), table, path) != path.read_text(encoding="utf-8")]


def write(root: Path = ROOT) -> list[Path]:
    """Regenerate every table; the files changed."""
    changed = []
    for path, table in documents(root).items():
        text = path.read_text(encoding="utf-8")
        new = render(text, table, path)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gen_docs.py",
                                     description="Generate or check the environment-variable tables.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the tables between the markers")
    mode.add_argument("--check", action="store_true", help="exit 1 when a table differs from the registry")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            sys.stdout.write(f"rewrote {path.relative_to(ROOT)}\n")
        return 0
    outdated = stale()
    for path in outdated:
        sys.stderr.write(f"{path.relative_to(ROOT)}: variable table differs from "
                         "odoo_cloud/config/variables.py; run scripts/gen_docs.py --write\n")
    return 1 if outdated else 0
