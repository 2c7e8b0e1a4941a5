"""Redis session-store variables (session_redis).

Timeouts are short on purpose: a request waiting on an unreachable Redis holds
a worker, and a quick 503 is kinder to users and load balancers than a hang.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from ..masking import mask_secrets
from . import variables as V
from ._parse import EnvReader, Problem, Secret

#: Odoo 18's own session lifetime (odoo.http.SESSION_LIFETIME), the default for authenticated sessions
ODOO_SESSION_LIFETIME = 7 * 24 * 3600
DEFAULT_ANONYMOUS_EXPIRATION = V.ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS.default
#: characters a key prefix may use: keeps keys readable and free of glob metacharacters
PREFIX_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
PREFIX_FORM = "a key prefix of letters, digits, '_', '.', ':' or '-' (at most 128), e.g. 'acme-odoo-prod'"
SENTINEL_HOST_FORM = "host[:port] or a comma-separated list of them, e.g. 'sentinel-1,sentinel-2:26380'"
DEFAULT_PREFIX = "odoo"
URL_VARIABLE = V.ODOO_SESSION_REDIS_URL.name
CERT_REQS = ("none", "optional", "required")


@dataclass(frozen=True)
class SessionSettings:
    enabled: bool
    host: str
    port: int
    password: Optional[Secret]
    url: Optional[Secret]
    prefix: Optional[str]
    expiration: Optional[int]
    expiration_anonymous: int
    sentinel_host: Optional[str]
    sentinel_port: int
    sentinel_master_name: Optional[str]
    sentinel_password: Optional[Secret] = None
    connect_timeout: float = 1.0
    timeout: float = 2.0
    retries: int = 1
    refresh_interval: Optional[int] = None
    import_filesystem: bool = False
    #: Redis Cluster (host/port or the URL name one node of it); see odoo_cloud/sessions/connection.py
    cluster: bool = False
    #: TLS for host/port, Sentinel and Cluster connections (a URL says it with its scheme)
    ssl: bool = False
    ssl_cert_reqs: str = "required"
    purge_filesystem: bool = False
    legacy_fallback: bool = True

    @property
    def display_url(self) -> str:
        """Where sessions go, fit for a log line (password masked)."""
        if self.url:
            where = self.url.reveal()
        elif self.sentinel_host:
            scheme = "sentinels" if self.ssl else "sentinel"
            where = f"{scheme}://{self.sentinel_host}:{self.sentinel_port}/{self.sentinel_master_name}"
        else:
            where = f"{'rediss' if self.ssl else 'redis'}://{self.host}:{self.port}"
        return mask_secrets(where + (" (cluster)" if self.cluster else ""))  # a URL put in the host variable

    @property
    def uses_tls(self) -> bool:
        """True when the connection is TLS: the flag, or a rediss:// URL."""
        return self.ssl or bool(self.url and self.url.reveal().lower().startswith("rediss:"))

    @property
    def key_prefix(self) -> str:
        return self.prefix or DEFAULT_PREFIX

    @property
    def authenticated_ttl(self) -> int:
        return self.expiration or ODOO_SESSION_LIFETIME

    @property
    def sentinel_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of every sentinel; ports default to ODOO_SESSION_REDIS_SENTINEL_PORT."""
        return _sentinel_nodes(self.sentinel_host or "", self.sentinel_port)


def _sentinel_nodes(value: str, default_port: int) -> list[tuple[str, int]]:
    nodes = []
    for raw_part in value.split(","):
        part = raw_part.strip()
        if not part:
            raise ValueError(value)
        host, sep, port = part.rpartition(":")
        if not sep:
            host, port = part, str(default_port)
        number = int(port, 10)
        if not host or not 1 <= number <= 65535:
            raise ValueError(value)
        nodes.append((host, number))
    return nodes


def _redis_url(env: EnvReader) -> Optional[str]:
    """redis:// and rediss:// need a host; unix:// has none, only an absolute socket path."""
    value = env.raw(URL_VARIABLE)
    if value is None or not value.lower().startswith("unix:"):
        return env.url(URL_VARIABLE, ("redis", "rediss", "unix"))
    try:
        path = urlsplit(value).path
    except ValueError:
        path = ""
    if not path.startswith("/") or path == "/":
        env.problems.append(Problem(URL_VARIABLE, repr(mask_secrets(value)),
                                    "unix:///absolute/path/to/redis.sock[?db=N] for a Unix socket"))
        return None
    return value


def read(env: EnvReader) -> SessionSettings:
    url = _redis_url(env)
    sentinel_port = env.port(V.ODOO_SESSION_REDIS_SENTINEL_PORT)
    sentinel_host = env.text(V.ODOO_SESSION_REDIS_SENTINEL_HOST)
    if sentinel_host:
        try:
            _sentinel_nodes(sentinel_host, sentinel_port)
        except ValueError:
            env.problem(V.ODOO_SESSION_REDIS_SENTINEL_HOST, sentinel_host, SENTINEL_HOST_FORM)
            sentinel_host = None
    master_name = env.text(V.ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME)
    if sentinel_host and not master_name:
        env.problem(V.ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME, None,
                    "the monitored master's name, required when ODOO_SESSION_REDIS_SENTINEL_HOST is set")
    if url and sentinel_host:
        env.problem(V.ODOO_SESSION_REDIS_SENTINEL_HOST, sentinel_host,
                    "unset when ODOO_SESSION_REDIS_URL is set (use one way to reach Redis)")
    return SessionSettings(
        enabled=env.flag(V.ODOO_SESSION_REDIS),
        host=env.text(V.ODOO_SESSION_REDIS_HOST),
        port=env.port(V.ODOO_SESSION_REDIS_PORT),
        password=env.secret(V.ODOO_SESSION_REDIS_PASSWORD),
        url=Secret(url) if url else None,
        prefix=env.text(V.ODOO_SESSION_REDIS_PREFIX, pattern=PREFIX_PATTERN, expected=PREFIX_FORM),
        expiration=env.ttl(V.ODOO_SESSION_REDIS_EXPIRATION),
        expiration_anonymous=env.ttl(V.ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS),
        sentinel_host=sentinel_host,
        sentinel_port=sentinel_port,
        sentinel_master_name=master_name,
        sentinel_password=env.secret(V.ODOO_SESSION_REDIS_SENTINEL_PASSWORD),
        connect_timeout=_timeout(env, V.ODOO_SESSION_REDIS_CONNECT_TIMEOUT),
        timeout=_timeout(env, V.ODOO_SESSION_REDIS_TIMEOUT),
        retries=env.integer(V.ODOO_SESSION_REDIS_RETRIES, minimum=0, maximum=10),
        refresh_interval=env.ttl(V.ODOO_SESSION_REDIS_REFRESH_INTERVAL),
        import_filesystem=env.aliased(V.ODOO_SESSION_REDIS_IMPORT_FILESYSTEM, env.flag),
        purge_filesystem=env.aliased(V.ODOO_SESSION_REDIS_PURGE_FILESYSTEM, env.flag),
        legacy_fallback=env.flag(V.ODOO_SESSION_REDIS_LEGACY_FALLBACK),
        **_cluster_and_tls(env, url, sentinel_host),
    )


def _cluster_and_tls(env: EnvReader, url: Optional[str], sentinel_host: Optional[str]) -> dict[str, Any]:
    """ODOO_SESSION_REDIS_CLUSTER / _SSL / _SSL_CERT_REQS, and what they cannot be combined with."""
    cluster = env.flag(V.ODOO_SESSION_REDIS_CLUSTER)
    ssl = env.flag(V.ODOO_SESSION_REDIS_SSL)
    cert_reqs = env.choice(V.ODOO_SESSION_REDIS_SSL_CERT_REQS, CERT_REQS)
    cluster_name, ssl_name = V.ODOO_SESSION_REDIS_CLUSTER.name, V.ODOO_SESSION_REDIS_SSL.name
    if cluster and sentinel_host:
        env.problem(V.ODOO_SESSION_REDIS_CLUSTER, env.raw(cluster_name),
                    "0 (or unset) when ODOO_SESSION_REDIS_SENTINEL_HOST is set: Sentinel and Redis Cluster "
                    "are two different ways to reach Redis, use one")
    if cluster and url:
        parts = urlsplit(url)
        if parts.scheme.lower() == "unix":
            env.problems.append(Problem(URL_VARIABLE, repr(mask_secrets(url)),
                                        "a redis:// or rediss:// URL of one cluster node when "
                                        "ODOO_SESSION_REDIS_CLUSTER is set (a cluster has no Unix socket)"))
        elif parts.path.strip("/") not in ("", "0") or parse_qs(parts.query).get("db", ["0"]) != ["0"]:
            env.problems.append(Problem(URL_VARIABLE, repr(mask_secrets(url)),
                                        "database 0 (no /N path, no ?db=N) when ODOO_SESSION_REDIS_CLUSTER "
                                        "is set: Redis Cluster has a single database"))
    if ssl and url and not url.lower().startswith("rediss:"):
        env.problem(V.ODOO_SESSION_REDIS_SSL, env.raw(ssl_name),
                    "0 (or unset) when ODOO_SESSION_REDIS_URL is set: with a URL, TLS comes from its scheme "
                    "(write rediss://)")
    return {"cluster": cluster, "ssl": ssl, "ssl_cert_reqs": cert_reqs}


def _timeout(env: EnvReader, variable: V.Variable[float]) -> float:
    return env.number(variable, minimum=0.001, expected="a number of seconds > 0, e.g. 0.5")
