"""OpenStack Swift backend (python-swiftclient; Keystone v3 through keystoneauth1, or v1/tempauth).

A swiftclient `Connection` is not thread-safe (one HTTP session, mutable
auth state), so the process keeps a small pool of them sharing one token;
a streamed download holds its connection until the stream is closed.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote, urlsplit

from ..config import variables
from . import backends
from .base import ObjectInfo, ObjectStore, ObjectStream, parse_content_range, range_header
from .errors import ObjectNotFound, StorageError, StorageUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Secret, Settings
    from ..config.swift import SwiftSettings

_logger = logging.getLogger(__name__)


class ConnectionPool:
    """Swift connections of one process for one account; built lazily, shared token."""

    def __init__(self, settings: SwiftSettings, max_idle: int = 16) -> None:
        self.settings = settings
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=max_idle)
        self._lock = threading.Lock()
        self._session: Any = None
        self._auth: Optional[tuple[str, str]] = None  # (storage_url, token) of the last auth

    def _keystone_session(self) -> Any:
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3

        cfg = self.settings
        # None only when unset (the platform check names the variable): keystoneauth refuses it, as before
        auth = v3.Password(
            auth_url=cfg.auth_url, username=cfg.account,  # type: ignore[arg-type]
            password=cfg.password.reveal() if cfg.password else None,  # type: ignore[arg-type]
            project_name=cfg.project_name, user_domain_name=cfg.user_domain_name,
            project_domain_name=cfg.project_domain_name)
        return ks_session.Session(auth=auth, timeout=cfg.read_timeout)

    def _new(self) -> Any:
        import swiftclient

        cfg = self.settings
        common = dict(retries=cfg.retries, starting_backoff=0.2, max_backoff=2,
                      timeout=(cfg.connect_timeout, cfg.read_timeout),
                      retry_on_ratelimit=True)
        if cfg.auth_version == "3":
            with self._lock:
                if self._session is None:
                    self._session = self._keystone_session()
            os_options = {"service_type": "object-store", "endpoint_type": cfg.interface}
            if cfg.region_name:
                os_options["region_name"] = cfg.region_name
            return swiftclient.Connection(session=self._session, os_options=os_options, **common)
        preauth = self._auth or (None, None)
        return swiftclient.Connection(
            authurl=cfg.auth_url, user=cfg.account, key=cfg.password.reveal() if cfg.password else None,
            auth_version="1", preauthurl=preauth[0], preauthtoken=preauth[1], **common)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    def acquire(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._new()

    def release(self, conn: Any) -> None:
        if getattr(conn, "url", None) and getattr(conn, "token", None):
            self._auth = (conn.url, conn.token)
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def storage_url(self) -> str:
        with self.connection() as conn:
            if not conn.url:
                _call(conn.get_auth, "authenticate", "?", None)
            url: str = conn.url
            return url


def _translate(exc: Exception, action: str, container: str, key: Optional[str]) -> StorageError:
    """Messages carry the HTTP status, never tokens or passwords (swiftclient's own
    messages may include storage URLs and response bodies)."""
    from swiftclient import ClientException

    where = f"swift://{container}/{key}" if key else f"swift://{container}"
    if isinstance(exc, ClientException):
        status = exc.http_status
        if status == 404:
            return ObjectNotFound(f"Swift {action} of {where}: not found", scheme="swift", bucket=container,
                                  key=key)
        if status in (401, 403):
            reason = "authentication/authorization failed (check SWIFT_ACCOUNT/SWIFT_PASSWORD)"
        elif status is None:
            reason = "server unreachable or authentication failed"
        else:
            reason = f"HTTP {status}"
        return StorageUnavailable(f"Swift {action} of {where} failed: {reason}", scheme="swift",
                                  bucket=container, key=key)
    return StorageUnavailable(f"Swift {action} of {where} failed: {type(exc).__name__} (after retries)",
                              scheme="swift", bucket=container, key=key)


def _call(fn: Callable[[], Any], action: str, container: str, key: Optional[str]) -> Any:
    try:
        return fn()
    except StorageError:
        raise
    except Exception as exc:  # swiftclient raises ClientException, requests' and socket errors
        _logger.debug("swift %s of %s/%s failed", action, container, key, exc_info=True)
        raise _translate(exc, action, container, key) from None


def _swift_time(value: Optional[str]) -> Optional[float]:
    """Swift listings give `last_modified` in UTC without a zone (`2026-11-29T14:22:55.123450`)."""
    if not value:
        return None
    from datetime import datetime, timezone

    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _status(exc: Exception) -> Optional[int]:
    return getattr(exc, "http_status", None)


class SwiftStore(ObjectStore):
    scheme = "swift"

    def __init__(self, pool: Callable[[], ConnectionPool], container: str, *,
                 temp_url_key: Optional[Secret] = None, **kwargs: Any) -> None:
        """`pool` returns the process's connection pool (see factory)."""
        super().__init__(container, **kwargs)
        self._pool = pool
        self.temp_url_key = temp_url_key

    @property
    def pool(self) -> ConnectionPool:
        return self._pool()

    def _do(self, action: str, container: str, key: Optional[str], fn: Callable[[Any], Any]) -> Any:
        with self.pool.connection() as conn:
            return _call(lambda: fn(conn), action, container, key)

    def _ensure_bucket(self) -> None:
        try:
            self._do("check", self.bucket, None, lambda c: c.head_container(self.bucket))
            return
        except ObjectNotFound:
            if not self.create_bucket:
                raise ObjectNotFound(f"Swift container {self.bucket!r} does not exist and container creation "
                                     "is disabled (SWIFT_CREATE_CONTAINER=0)", scheme="swift",
                                     bucket=self.bucket) from None
        self._do("create", self.bucket, None, lambda c: c.put_container(self.bucket))

    def _put_if_absent(self, key: str, data: bytes) -> bool:
        from swiftclient import ClientException

        with self.pool.connection() as conn:
            try:
                conn.put_object(self.bucket, key, data, content_length=len(data),
                                headers={"If-None-Match": "*"})
            except ClientException as exc:
                if _status(exc) == 412:
                    return False
                raise _translate(exc, "put", self.bucket, key) from None
            except Exception as exc:
                raise _translate(exc, "put", self.bucket, key) from None
        return True

    def _get(self, bucket: str, key: str) -> bytes:
        data: bytes = self._do("get", bucket, key, lambda c: c.get_object(bucket, key))[1]
        return data

    def _head(self, bucket: str, key: str) -> ObjectInfo:
        headers = self._do("head", bucket, key, lambda c: c.head_object(bucket, key))
        return ObjectInfo(bucket, key, int(headers["content-length"]), headers.get("etag"))

    def _list_page(self, bucket: str, prefix: str, start_after: Optional[str],
                   limit: int) -> list[ObjectInfo]:
        _headers, items = self._do("list", bucket, None, lambda c: c.get_container(
            bucket, marker=start_after or "", limit=limit, prefix=prefix or None))
        return [ObjectInfo(bucket, item["name"], int(item["bytes"]), item.get("hash"),
                           _swift_time(item.get("last_modified")))
                for item in items if "name" in item]

    def _open(self, bucket: str, key: str, start: Optional[int], end: Optional[int],
              chunk_size: int) -> ObjectStream:
        from swiftclient import ClientException

        headers = {}
        wanted = range_header(start, end)
        if wanted:
            headers["Range"] = wanted
        pool = self.pool
        conn = pool.acquire()
        try:
            response_headers, body = conn.get_object(bucket, key, resp_chunk_size=chunk_size, headers=headers)
        except ClientException as exc:
            pool.release(conn)
            if _status(exc) == 416:
                raise ValueError(f"unsatisfiable range {start}-{end} for swift://{bucket}/{key}") from None
            raise _translate(exc, "stream", bucket, key) from None
        except Exception as exc:
            pool.release(conn)
            raise _translate(exc, "stream", bucket, key) from None
        size, first, last = parse_content_range(response_headers.get("content-range"),
                                                response_headers.get("content-length"))

        def chunks() -> Iterator[bytes]:
            try:
                yield from body
            except Exception as exc:
                raise _translate(exc, "stream", bucket, key) from None

        def close() -> None:
            try:
                body.close()
            finally:
                pool.release(conn)

        return ObjectStream(chunks(), size=size, start=first, end=last, etag=response_headers.get("etag"),
                            on_close=close)

    def _delete(self, key: str) -> None:
        try:
            self._do("delete", self.bucket, key, lambda c: c.delete_object(self.bucket, key))
        except ObjectNotFound:
            pass  # already gone: the goal of a delete is reached

    def _presigned_url(self, bucket: str, key: str, expires: int, filename: Optional[str],
                       mimetype: Optional[str]) -> Optional[str]:
        """A temp URL when SWIFT_TEMP_URL_KEY is set (the same key must be set on the account
        or container as X-Account-Meta-Temp-URL-Key); None otherwise."""
        if not self.temp_url_key:
            return None
        from swiftclient.utils import generate_temp_url

        storage_url = self.pool.storage_url()
        parts = urlsplit(storage_url)
        path = f"{parts.path.rstrip('/')}/{quote(bucket)}/{quote(key)}"
        signed = generate_temp_url(path, expires, self.temp_url_key.reveal(), "GET")
        url = f"{parts.scheme}://{parts.netloc}{signed}"
        if filename:
            url += "&filename=" + quote(filename, safe="")
        return url


# ---------------------------------------------------------------- the backend declaration
def build_store(settings: Settings, dbname: Optional[str], other_bucket: Optional[str] = None) -> ObjectStore:
    """The Swift store of `settings` (`{db}` replaced by `dbname`), or of `other_bucket` on the same account
    (never created: someone else's); one per process and options, connection pools per endpoint."""
    from . import factory

    cfg = settings.swift
    container = BACKEND.bucket_for(settings, dbname, other_bucket)
    create = cfg.create_container and other_bucket is None
    endpoint = (cfg.auth_url, cfg.account, cfg.password, cfg.auth_version, cfg.project_name,
                cfg.project_domain_name, cfg.user_domain_name, cfg.region_name, cfg.interface,
                cfg.connect_timeout, cfg.read_timeout, cfg.retries)
    key = ("swift", endpoint, container, create, cfg.temp_url_key)

    def build() -> ObjectStore:
        pool = factory.client("swift", endpoint, lambda: ConnectionPool(cfg))
        return SwiftStore(pool, container, temp_url_key=cfg.temp_url_key,
                          create_bucket=create, known_keys=factory.known_keys(settings))

    return factory.cached_store(key, build, settings)


def _bounded(cfg: SwiftSettings, timeout: float) -> SwiftSettings:
    return replace(cfg, connect_timeout=timeout, read_timeout=timeout, retries=0)


BACKEND = backends.register(backends.Backend(
    scheme="swift", label="Swift", section="swift",
    bucket_variable=variables.SWIFT_WRITE_CONTAINER,
    unstructured_variable=variables.SWIFT_WRITE_CONTAINER_UNSTRUCTURED,
    bucket_field="write_container", unstructured_field="write_container_unstructured",
    build=build_store, bounded=_bounded,
    capabilities=frozenset({backends.PRESIGN}), bucket_word="container",
    required_in_production=(variables.SWIFT_AUTH_URL, variables.SWIFT_ACCOUNT, variables.SWIFT_PASSWORD),
))
