"""Build the configured store: one client per process and endpoint, created lazily.

Odoo's prefork server forks workers after `post_load`; a client (and its
connection pool) inherited across fork would share sockets between
processes. `PerProcess` rebuilds its value when the pid changes, so callers
may hold a store across fork safely.

Its locks are renewed in every forked child too: with `-d`, the prefork master loads the registry,
whose ownership registration builds the client in a background thread; a fork while that thread
holds a build lock would hand the worker a lock nobody will ever release, and the worker's first
object-store call would hang until Odoo's time limit killed it.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, Optional, TypeVar

from ..config import Settings, load_settings
from . import ownership
from .base import KnownKeys, ObjectStore
from .cache import ReadCache, default_directory
from .errors import StorageDisabled, StorageNotConfigured
from .keys import validate_bucket
from .uri import SCHEMES, bucket_for_db

T = TypeVar("T")


class PerProcess(Generic[T]):
    """A lazily built value, rebuilt in a forked child."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._pid: Optional[int] = None
        self._value: Optional[T] = None
        self._lock = threading.Lock()
        _holders.add(self)

    def __call__(self) -> T:
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._value = self._build()
                    self._pid = pid
        return self._value  # type: ignore[return-value]


_holders: weakref.WeakSet[PerProcess[Any]] = weakref.WeakSet()
_lock = threading.Lock()
_clients: dict[tuple[Any, ...], PerProcess[Any]] = {}


def _renew_locks_in_child() -> None:
    """After fork, in the child: fresh locks (a parent's thread may have held one at the fork)."""
    global _lock
    _lock = threading.Lock()
    for holder in list(_holders):
        holder._lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_locks_in_child)
_stores: dict[tuple[Any, ...], ObjectStore] = {}


def _client(kind: str, settings_key: tuple[Any, ...], build: Callable[[], Any]) -> PerProcess[Any]:
    key = (kind, settings_key)
    with _lock:
        holder = _clients.get(key)
        if holder is None:
            holder = _clients[key] = PerProcess(build)
        return holder


def configured_scheme(settings: Settings) -> Optional[str]:
    """The scheme new attachments go to according to the environment (None: none configured)."""
    if settings.s3.configured:
        return "s3"
    if settings.swift.configured:
        return "swift"
    return None


def build_store(scheme: str, settings: Optional[Settings] = None,
                dbname: Optional[str] = None, bucket: Optional[str] = None) -> ObjectStore:
    """The store of `scheme` writing to its configured bucket/container (`{db}` replaced by
    `dbname`). Stores are cached per process, scheme and bucket; clients per endpoint.

    `bucket` names another bucket/container of the same endpoint instead (never created: it is
    someone else's); ownership records are written there through it (ownership.register).
    Every store carries the non-prod guard (ownership.WriteGuard)."""
    settings = settings if settings is not None else load_settings()
    if settings.storage.disabled:
        raise StorageDisabled("object storage is disabled (DISABLE_ATTACHMENT_STORAGE is set): "
                              f"cannot use the {scheme} store", scheme=scheme)
    if scheme not in SCHEMES:
        raise StorageNotConfigured(f"unknown object-store scheme {scheme!r}", scheme=scheme)
    if scheme == "s3":
        return _s3_store(settings, dbname, bucket)
    return _swift_store(settings, dbname, bucket)


def _known(settings: Settings) -> KnownKeys:
    return KnownKeys(max_entries=settings.storage.known_keys)


_caches: dict[tuple[Any, ...], ReadCache] = {}


def read_cache(settings: Settings) -> Optional[ReadCache]:
    """The host-wide read cache the settings ask for (one object per process and directory), or None."""
    cfg = settings.storage
    if cfg.read_cache_bytes <= 0:
        return None
    key = (cfg.read_cache_dir or default_directory(), cfg.read_cache_bytes, cfg.read_cache_max_object_bytes)
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = ReadCache(key[0], key[1], max_object_bytes=key[2])
        return cache


def _guard(settings: Settings) -> ownership.WriteGuard:
    return ownership.WriteGuard(settings.platform.running_env, unsafe=settings.platform.unsafe)


def _s3_store(settings: Settings, dbname: Optional[str], other_bucket: Optional[str] = None) -> ObjectStore:
    from . import s3

    cfg = settings.s3
    if not cfg.bucket_name:
        raise StorageNotConfigured("S3 store requested but AWS_BUCKETNAME is not set", scheme="s3")
    bucket = validate_bucket(other_bucket or bucket_for_db(cfg.bucket_name, dbname), source="AWS_BUCKETNAME")
    create = cfg.create_bucket and other_bucket is None
    endpoint = (cfg.endpoint_url, cfg.region, cfg.access_key_id, cfg.secret_access_key, cfg.addressing_style,
                cfg.connect_timeout, cfg.read_timeout, cfg.max_attempts)
    key = ("s3", endpoint, bucket, create, cfg.server_side_encryption, cfg.sse_kms_key_id,
           settings.platform.running_env, settings.platform.unsafe, settings.storage)
    with _lock:
        store = _stores.get(key)
    if store is None:
        client = _client("s3", endpoint, lambda: s3.build_client(cfg))
        store = s3.S3Store(client, bucket, server_side_encryption=cfg.server_side_encryption,
                           sse_kms_key_id=cfg.sse_kms_key_id, region=cfg.region,
                           create_bucket=create, known_keys=_known(settings))
        store.write_guard = _guard(settings)
        store.read_cache = read_cache(settings)
        with _lock:
            store = _stores.setdefault(key, store)
    return store


def _swift_store(settings: Settings, dbname: Optional[str],
                 other_bucket: Optional[str] = None) -> ObjectStore:
    from . import swift

    cfg = settings.swift
    if not cfg.write_container:
        raise StorageNotConfigured("Swift store requested but SWIFT_WRITE_CONTAINER is not set",
                                   scheme="swift")
    container = validate_bucket(other_bucket or bucket_for_db(cfg.write_container, dbname),
                                source="SWIFT_WRITE_CONTAINER")
    create = cfg.create_container and other_bucket is None
    endpoint = (cfg.auth_url, cfg.account, cfg.password, cfg.auth_version, cfg.project_name,
                cfg.project_domain_name, cfg.user_domain_name, cfg.region_name, cfg.interface,
                cfg.connect_timeout, cfg.read_timeout, cfg.retries)
    key = ("swift", endpoint, container, create, cfg.temp_url_key, settings.platform.running_env,
           settings.platform.unsafe, settings.storage)
    with _lock:
        store = _stores.get(key)
    if store is None:
        pool = _client("swift", endpoint, lambda: swift.ConnectionPool(cfg))
        store = swift.SwiftStore(pool, container, temp_url_key=cfg.temp_url_key,
                                 create_bucket=create, known_keys=_known(settings))
        store.write_guard = _guard(settings)
        store.read_cache = read_cache(settings)
        with _lock:
            store = _stores.setdefault(key, store)
    return store


def reset() -> None:
    """Forget every cached client and store (tests, or after settings changed)."""
    with _lock:
        _clients.clear()
        _stores.clear()
        _caches.clear()
