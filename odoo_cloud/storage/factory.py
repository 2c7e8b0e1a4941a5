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
from . import backends, ownership
from .backends import SCHEMES
from .base import KnownKeys, ObjectStore
from .cache import ReadCache, default_directory
from .errors import StorageDisabled, StorageNotConfigured

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
    found = backends.configured(settings)
    return found[0].scheme if found else None


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
    return backends.get(scheme).build(settings, dbname, bucket)


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


def cached_store(key: tuple[Any, ...], build: Callable[[], ObjectStore], settings: Settings) -> ObjectStore:
    """The process's store for `key` (a backend's endpoint, bucket and options), built once with the
    non-prod write guard and the read cache every store carries (their settings complete the key)."""
    key = (*key, settings.platform.running_env, settings.platform.unsafe, settings.storage)
    with _lock:
        store = _stores.get(key)
    if store is None:
        store = build()
        store.write_guard = _guard(settings)
        store.read_cache = read_cache(settings)
        with _lock:
            store = _stores.setdefault(key, store)
    return store


def known_keys(settings: Settings) -> KnownKeys:
    return KnownKeys(max_entries=settings.storage.known_keys)


def client(kind: str, settings_key: tuple[Any, ...], build: Callable[[], Any]) -> PerProcess[Any]:
    """The per-process client of a backend for one endpoint (rebuilt after fork)."""
    return _client(kind, settings_key, build)


def reset() -> None:
    """Forget every cached client and store (tests, or after settings changed)."""
    with _lock:
        _clients.clear()
        _stores.clear()
        _caches.clear()
