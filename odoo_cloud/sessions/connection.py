"""A Redis client built from SessionSettings, once per process, on first use.

Odoo imports server-wide modules in the prefork master and forks workers
afterwards, and the gevent process runs the same start-up again: a client
built at import time would share sockets across processes. So nothing
connects until a request needs Redis, and a forked process builds its own.

With ODOO_SESSION_REDIS_CLUSTER the client is redis-py's `RedisCluster`: host/port
(or the URL) name one node, the client discovers the others and follows
MOVED/ASK redirections and failovers (it re-reads the slot map after a
connection error, within the same bounded retries).
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional, Union

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ..config.sessions import SessionSettings

#: redis-py errors worth one more try: the socket died (server restart), not the command
RETRYABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

#: what build_client returns: one server (direct or through Sentinel) or a cluster
Client = Union[redis.Redis, RedisCluster]


#: longest pause between two attempts (redis-py's exponential backoff, capped)
BACKOFF_CAP = 0.2


def client_options(settings: SessionSettings) -> dict[str, Any]:
    """Timeouts and bounded retries shared by every way of reaching Redis."""
    return {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=0.02), settings.retries),
        "retry_on_error": list(RETRYABLE),
        "health_check_interval": 0,
    }


def failure_deadline(settings: SessionSettings) -> float:
    """The longest one store call may wait before it raises on an outage: every attempt may spend its
    connect and read timeouts, with a capped backoff in between. "Fails fast" means within this."""
    attempts = settings.retries + 1
    return attempts * (settings.connect_timeout + settings.timeout) + settings.retries * BACKOFF_CAP


def tls_options(settings: SessionSettings) -> dict[str, Any]:
    """redis-py's TLS arguments: `ssl` from ODOO_SESSION_REDIS_SSL (host/port, Sentinel, Cluster), the
    certificate check from ODOO_SESSION_REDIS_SSL_CERT_REQS whenever TLS is used (a rediss:// URL too;
    `?ssl_cert_reqs=` in the URL still wins)."""
    options: dict[str, Any] = {}
    if settings.ssl and not settings.url:
        options["ssl"] = True
    if settings.uses_tls:
        options["ssl_cert_reqs"] = settings.ssl_cert_reqs
    return options


def build_client(settings: SessionSettings) -> Client:
    """Cluster > URL (redis://, rediss:// for TLS, unix://; db index in the path) > Sentinel > host/port."""
    if settings.cluster:
        return build_cluster_client(settings)
    options = {**client_options(settings), **tls_options(settings)}
    password = settings.password.reveal() if settings.password else None
    if settings.url:
        if password:
            options["password"] = password  # a password in the URL wins (redis-py applies URL args last)
        return redis.Redis.from_url(settings.url.reveal(), **options)
    if settings.sentinel_host:
        from redis.sentinel import Sentinel

        sentinel_options = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout")}
        sentinel_options.update(tls_options(settings))  # the sentinels speak TLS like the master
        if settings.sentinel_password:
            sentinel_options["password"] = settings.sentinel_password.reveal()
        sentinel = Sentinel(settings.sentinel_nodes, sentinel_kwargs=sentinel_options,
                            **options)
        master: redis.Redis = sentinel.master_for(
            settings.sentinel_master_name, password=password)
        return master
    return redis.Redis(host=settings.host, port=settings.port, password=password, **options)


def build_cluster_client(settings: SessionSettings) -> RedisCluster:
    """A RedisCluster discovering the cluster from one node (host/port or the URL).

    Retries belong to the cluster client, not to its node connections: after a
    connection error it re-reads the slot map (a replica may have been
    promoted) and tries again, `settings.retries` times, so an outage still
    fails within `failure_deadline`. Connecting happens here (redis-py reads
    the slot map at construction): RedisConnection builds it on first use.
    """
    options = {**client_options(settings), **tls_options(settings)}
    options.pop("retry_on_error")  # node connections do not retry: the cluster client does, then re-maps
    password = settings.password.reveal() if settings.password else None
    if settings.url:
        if password:
            options["password"] = password
        return RedisCluster.from_url(settings.url.reveal(), **options)
    return RedisCluster(host=settings.host, port=settings.port, password=password, **options)


class RedisConnection:
    """Hands out this process's client; `settings` never leave here except masked."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._client: Optional[Client] = None
        self._pid: Optional[int] = None
        self._lock = threading.Lock()

    @property
    def display_url(self) -> str:
        return self.settings.display_url

    @property
    def cluster(self) -> bool:
        """True when the client is a RedisCluster: multi-key commands must stay within one hash slot."""
        return self.settings.cluster

    @property
    def client(self) -> Client:
        if self._pid != os.getpid() or self._client is None:
            with self._lock:
                if self._pid != os.getpid() or self._client is None:
                    self._client = build_client(self.settings)
                    self._pid = os.getpid()
        return self._client

    def secrets(self) -> list[str]:
        """Strings that must never appear in a message (scrubbed from redis-py errors)."""
        found = []
        for secret in (self.settings.password, self.settings.sentinel_password):
            if secret:
                found.append(secret.reveal())
        if self.settings.url:
            from urllib.parse import parse_qsl, unquote, urlsplit

            parts = urlsplit(self.settings.url.reveal())
            if parts.password:
                found += [parts.password, unquote(parts.password)]
            # redis-py also takes ?password= (and ?username=) from the query string
            found += [value for name, value in parse_qsl(parts.query) if name.lower() == "password" and value]
        return found

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None
        self._pid = None

    def __repr__(self) -> str:
        return f"<RedisConnection {self.display_url}>"
