"""The `ObjectStore` interface every backend (S3, Swift) implements.

Public methods are template methods: they validate every key and bucket name
(odoo_cloud.storage.keys: nothing with a `..` segment, a leading `/` or a
control character reaches a client; writes and deletes take content keys only),
enforce the delete guard, skip re-uploads of content-addressed keys and publish timings
(`storage.<scheme>.<op>`); backends only implement the `_`-prefixed
primitives and translate their client's exceptions into `errors`.
"""
from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Optional

from ..instrumentation import Operation, operation, publish
from .errors import DeleteRefused, ObjectNotFound, StorageError, StorageUnavailable
from .keys import validate_bucket, validate_key, validate_prefix
from .uri import format_uri

if TYPE_CHECKING:
    from .cache import Filler, ReadCache

DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: Optional[str] = None
    #: seconds since the epoch (UTC), when the listing or HEAD reports it
    last_modified: Optional[float] = None


class KnownKeys:
    """Bounded, expiring memory of keys known to exist in a bucket.

    Content-addressed keys never change content, so once a key is known to
    exist a put can skip the network entirely. Entries expire because another
    process's garbage collector may delete the object; the GC keeps a record
    of collected keys for longer than this TTL (see gc.py) so writers can
    force a fresh check.
    """

    def __init__(self, max_entries: int = 100_000, ttl: float = 600.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, item: tuple[str, str]) -> bool:
        if self.max_entries <= 0:
            return False
        with self._lock:
            seen = self._entries.get(item)
            if seen is None:
                return False
            if time.monotonic() - seen > self.ttl:
                del self._entries[item]
                return False
            self._entries.move_to_end(item)
            return True

    def add(self, item: tuple[str, str]) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[item] = time.monotonic()
            self._entries.move_to_end(item)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, item: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(item, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class ObjectStream:
    """A (possibly ranged) object body read in bounded chunks.

    Holds one open response; iterate it or call `read()`, and `close()` it
    (or use it as a context manager) so the connection goes back to its pool.
    `size` is the whole object's size, `length` the number of bytes this
    stream yields, `start`/`end` the inclusive byte range.
    """

    def __init__(self, chunks: Iterator[bytes], *, size: int, start: int, end: int,
                 etag: Optional[str] = None, on_close: Optional[Callable[[], object]] = None,
                 on_done: Optional[Callable[[ObjectStream], object]] = None) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._pos = 0
        self.size = size
        self.start = start
        self.end = end
        self.etag = etag
        self._on_close = on_close
        self._on_done = on_done
        self.closed = False
        self.bytes_read = 0

    @property
    def length(self) -> int:
        return max(0, self.end - self.start + 1)

    def _next_chunk(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self.bytes_read += len(chunk)
                self._buffer, self._pos = chunk, 0
                return True
        return False

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self._pos < len(self._buffer):
                yield self._buffer[self._pos:]
                self._buffer, self._pos = b"", 0
            while self._next_chunk():
                yield self._buffer
                self._buffer, self._pos = b"", 0
        finally:
            self.close()

    def read(self, size: int = -1) -> bytes:
        """File-like read; copies at most `size` bytes per call whatever the chunk size."""
        if size is None or size < 0:
            return b"".join(list(self))
        out = bytearray()
        while len(out) < size:
            if self._pos >= len(self._buffer) and not self._next_chunk():
                break
            take = min(size - len(out), len(self._buffer) - self._pos)
            out += self._buffer[self._pos:self._pos + take]
            self._pos += take
        return bytes(out)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._on_close is not None:
                self._on_close()
        finally:
            if self._on_done is not None:
                self._on_done(self)

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tee(chunks: Iterator[bytes], filler: Filler) -> Iterator[bytes]:
    """Copy the chunks into the cache filler; publish as soon as the last byte arrived (before the caller
    even sends it on), so the next reader finds the copy."""
    for chunk in chunks:
        filler.write(chunk)
        if filler.complete:
            filler.commit()
        yield chunk


def file_stream(handle: BinaryIO, *, start: Optional[int] = None, end: Optional[int] = None,
                chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
    """An ObjectStream over an open local file (a read-cache hit), ranges included; closes the file."""
    size = os.fstat(handle.fileno()).st_size
    try:
        first, last = resolve_range(size, start, end)
    except ValueError:
        handle.close()
        raise
    handle.seek(max(first, 0))

    def chunks() -> Iterator[bytes]:
        remaining = last - first + 1
        while remaining > 0:
            chunk = handle.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    return ObjectStream(chunks(), size=size, start=first, end=last, on_close=handle.close)


#: Bodies at least this big get a HEAD before the conditional PUT: the HEAD
#: (~5-10 ms) is cheap next to sending them again.
HEAD_BEFORE_PUT_MIN_SIZE = 16 * 1024 * 1024


def range_header(start: Optional[int], end: Optional[int]) -> Optional[str]:
    """The HTTP `Range` value asking for bytes [start, end] (None: the whole object), the same for
    every backend; ValueError for a negative start."""
    if start is None and end is None:
        return None
    if start is not None and start < 0:
        raise ValueError(f"negative range start {start}")
    return f"bytes={start or 0}-{'' if end is None else end}"


def parse_content_range(content_range: Optional[str], length: Any) -> tuple[int, int, int]:
    """(object size, first, last) from an answer's `Content-Range` ("bytes 0-9/8388608"), or from its
    length (`Content-Length`, read only then) when the server sent the whole object."""
    if content_range:
        span, _, total = content_range.partition(" ")[2].partition("/")
        first, last = (int(x) for x in span.split("-"))
        return int(total), first, last
    size = int(length)
    first, last = resolve_range(size, None, None)
    return size, first, last


def resolve_range(size: int, start: Optional[int], end: Optional[int]) -> tuple[int, int]:
    """Inclusive [start, end] clipped to the object; (0, -1) for an empty object."""
    first = 0 if start is None else start
    last = size - 1 if end is None else min(end, size - 1)
    if first < 0 or (size and first > last) or (not size and first):
        raise ValueError(f"unsatisfiable range {start}-{end} for an object of {size} bytes")
    return first, last


class ObjectStore(ABC):
    """One object store writing to one bucket/container and reading from any.

    `bucket` is the write bucket: the only one `put` writes to and the only
    one `delete` accepts. Reads take an optional `bucket` because a
    store_fname may name another one. Every public method validates its key
    and bucket (InvalidKey) before any client call; the `_` primitives do not.
    """

    scheme: ClassVar[str]
    #: Host-wide local copy of content-addressed objects, consulted by `get` and `open` (None: off).
    #: Never consulted by writes, deletes, `head`/`exists` or the GC.
    read_cache: Optional[ReadCache] = None
    #: called as `write_guard(store, action)` before every put/delete: raises to refuse (the factory
    #: installs `ownership.WriteGuard`: non-prod never writes to or deletes from prod's bucket)
    write_guard: Optional[Callable[[ObjectStore, str], None]] = None

    def __init__(self, bucket: str, *, create_bucket: bool = True,
                 known_keys: Optional[KnownKeys] = None,
                 head_before_put_min_size: int = HEAD_BEFORE_PUT_MIN_SIZE) -> None:
        self.bucket = validate_bucket(bucket)
        self.head_before_put_min_size = head_before_put_min_size
        self.create_bucket = create_bucket
        self.known_keys = known_keys if known_keys is not None else KnownKeys()
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scheme}://{self.bucket}>"

    # -- naming ------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """`<scheme>://<bucket>/`: what every store_fname of the write bucket starts with."""
        return f"{self.scheme}://{self.bucket}/"

    def uri(self, key: str) -> str:
        """The store_fname for `key` in the write bucket (the prefix for an empty key)."""
        if not key:
            return self.prefix
        return format_uri(self.scheme, self.bucket, key)

    def _op(self, name: str) -> AbstractContextManager[Operation]:
        return operation(f"storage.{self.scheme}.{name}")

    def _read_target(self, key: str, bucket: Optional[str]) -> str:
        """The bucket a read goes to, after validating it and the key (InvalidKey otherwise)."""
        validate_key(key)
        return self.bucket if bucket is None else validate_bucket(bucket)

    # -- write -------------------------------------------------------------
    def _check_write(self, action: str) -> None:
        if self.write_guard is not None:
            self.write_guard(self, action)

    def ensure_bucket(self) -> None:
        """Create the write bucket when missing (unless creation is forbidden), once per process."""
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            with self._op("ensure_bucket"):
                self._ensure_bucket()
            self._bucket_ready = True

    def _upload(self, key: str, data: bytes) -> bool:
        """`_put_if_absent`, after a HEAD for big bodies: a conditional PUT of an existing object
        would send every byte before the server refuses it."""
        if len(data) >= self.head_before_put_min_size and self.exists(key):
            return False
        return self._put_if_absent(key, data)

    def verify_uploads_by_md5(self) -> bool:
        """Have every later upload carry its Content-MD5, checked by the server before it stores the
        bytes; True when the backend can (the migration then skips its HEAD after a new upload)."""
        return False

    def put(self, key: str, data: bytes, *, recheck: bool = False) -> bool:
        """Store `data` under `key` in the write bucket; False when it was already there.

        Keys are content addresses: an existing key holds the same bytes, so
        it is not uploaded again. `recheck=True` ignores the in-process memory
        of existing keys (the GC may have collected the object meanwhile).
        """
        validate_key(key, write=True)
        item = (self.bucket, key)
        self._check_write("write to")
        with self._op("put") as op:  # nbytes: bytes actually uploaded (0 when already stored)
            if not recheck and item in self.known_keys:
                return False
            self.ensure_bucket()
            try:
                uploaded = self._upload(key, data)
            except ObjectNotFound:
                # the bucket vanished since we checked it, or a proxy with its backends down
                # answers 404: check/create the bucket again once, never report "not found" for a write
                self._bucket_ready = False
                try:
                    self.ensure_bucket()
                    uploaded = self._upload(key, data)
                except ObjectNotFound as exc:
                    raise StorageUnavailable(
                        f"{self.scheme} put of {self.uri(key)} failed: the bucket/container answers "
                        "'not found' right after being checked", scheme=self.scheme, bucket=self.bucket,
                        key=key) from exc
            self.known_keys.add(item)
            op.nbytes = len(data) if uploaded else 0
            return uploaded

    def delete(self, key: str, bucket: Optional[str] = None) -> None:
        """Delete from the write bucket only (DeleteRefused for any other); deleting a missing
        object is not an error (the GC may retry a batch)."""
        validate_key(key, write=True)
        target = self.bucket if bucket is None else validate_bucket(bucket)
        if target != self.bucket:
            raise DeleteRefused(
                f"refusing to delete {self.scheme}://{target}/{key}: this process only deletes from "
                f"{self.scheme}://{self.bucket}", scheme=self.scheme, bucket=target, key=key)
        self._check_write("delete from")
        with self._op("delete"):
            self.known_keys.discard((self.bucket, key))
            self._delete(key)

    def delete_many(self, keys: list[str]) -> dict[str, StorageError]:
        """Delete keys of the write bucket; the keys that could not be deleted, with why.

        One invalid key refuses the whole call (InvalidKey) before any request."""
        for key in keys:
            validate_key(key, write=True)
        failed: dict[str, StorageError] = {}
        self._check_write("delete from")
        with self._op("delete_many"):
            for key in keys:
                self.known_keys.discard((self.bucket, key))
            for key, error in self._delete_many(keys).items():
                failed[key] = error
        return failed

    def _delete_many(self, keys: list[str]) -> dict[str, StorageError]:
        """One request per key; backends with a bulk API override this."""
        failed: dict[str, StorageError] = {}
        for key in keys:
            try:
                self._delete(key)
            except StorageError as exc:
                failed[key] = exc
        return failed

    # -- read --------------------------------------------------------------
    def get(self, key: str, bucket: Optional[str] = None, *, use_cache: bool = True) -> bytes:
        """The whole object; ObjectNotFound if missing, StorageUnavailable on outage.

        With a read cache, a cached copy (verified against its content key) answers without a request
        and a fetched object is kept for the next reader. `use_cache=False` asks the store itself
        (verifying what was just uploaded must not be answered by a local copy)."""
        target = self._read_target(key, bucket)
        cache = self.read_cache if use_cache else None
        if cache is not None:
            cached = cache.get(key)
            if cached is not None:
                return cached
        with self._op("get") as op:
            data = self._get(target, key)
            op.nbytes = len(data)
        if cache is not None:
            cache.put(key, data)
        return data

    def head(self, key: str, bucket: Optional[str] = None) -> ObjectInfo:
        target = self._read_target(key, bucket)
        with self._op("head"):
            return self._head(target, key)

    def exists(self, key: str, bucket: Optional[str] = None) -> bool:
        try:
            self.head(key, bucket)
        except ObjectNotFound:
            return False
        return True

    def open(self, key: str, bucket: Optional[str] = None, *, start: Optional[int] = None,
             end: Optional[int] = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """A stream of the object (or the inclusive byte range start..end) in chunks of at most
        `chunk_size` bytes: memory stays bounded whatever the object size. The `stream`
        operation is published when the stream is closed, with the bytes actually read."""
        target = self._read_target(key, bucket)
        cache = self.read_cache
        if cache is not None:
            cached = cache.open(key)
            if cached is not None:
                return file_stream(cached, start=start, end=end, chunk_size=chunk_size)
        op = Operation(f"storage.{self.scheme}.stream")
        started = time.perf_counter()
        try:
            stream = self._open(target, key, start, end, chunk_size)
        except BaseException as exc:
            op.ok, op.error, op.seconds = False, type(exc).__name__, time.perf_counter() - started
            publish(op)
            raise
        # a whole object small enough is copied into the cache while the caller reads it
        filler = None
        if cache is not None and stream.start == 0 and stream.end == stream.size - 1:
            filler = cache.filler(key, stream.size)
        if filler is not None:
            stream._chunks = _tee(stream._chunks, filler)

        def done(s: ObjectStream) -> None:
            if filler is not None:
                if s.bytes_read == s.size:
                    filler.commit()
                else:  # the client went away mid-download: nothing half-written is published
                    filler.abort()
            op.nbytes = s.bytes_read
            op.seconds = time.perf_counter() - started
            publish(op)

        stream._on_done = done
        return stream

    def iter_chunks(self, key: str, bucket: Optional[str] = None, *, start: Optional[int] = None,
                    end: Optional[int] = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        with self.open(key, bucket, start=start, end=end, chunk_size=chunk_size) as stream:
            yield from stream

    def list_objects(self, prefix: str = "", bucket: Optional[str] = None, *,
                     start_after: Optional[str] = None, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in ascending (byte) key order, page by page.

        Both S3's ListObjectsV2 and Swift's container listing return keys sorted, so callers can
        merge the listing with another sorted stream (fsck) in constant memory. `start_after`
        resumes after a key. A `list` operation is published per page.
        """
        validate_prefix(prefix)
        if start_after:
            validate_key(start_after)
        target = self.bucket if bucket is None else validate_bucket(bucket)
        marker = start_after
        while True:
            with self._op("list"):
                page = self._list_page(target, prefix, marker, page_size)
            if not page:
                return
            yield from page
            if len(page) < page_size:
                return
            marker = page[-1].key

    def presigned_url(self, key: str, bucket: Optional[str] = None, *, expires: int = 300,
                      filename: Optional[str] = None, mimetype: Optional[str] = None) -> Optional[str]:
        """A time-limited GET URL, or None when this store cannot sign (e.g. Swift without a temp-URL key)."""
        target = self._read_target(key, bucket)
        with self._op("presign"):
            return self._presigned_url(target, key, expires, filename, mimetype)

    # -- backend primitives -----------------------------------------------------
    @abstractmethod
    def _ensure_bucket(self) -> None: ...

    @abstractmethod
    def _put_if_absent(self, key: str, data: bytes) -> bool: ...

    @abstractmethod
    def _get(self, bucket: str, key: str) -> bytes: ...

    @abstractmethod
    def _head(self, bucket: str, key: str) -> ObjectInfo: ...

    @abstractmethod
    def _open(self, bucket: str, key: str, start: Optional[int], end: Optional[int],
              chunk_size: int) -> ObjectStream: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    @abstractmethod
    def _list_page(self, bucket: str, prefix: str, start_after: Optional[str],
                   limit: int) -> list[ObjectInfo]:
        """At most `limit` objects after `start_after` (exclusive), sorted by key; [] at the end."""

    @abstractmethod
    def _presigned_url(self, bucket: str, key: str, expires: int, filename: Optional[str],
                       mimetype: Optional[str]) -> Optional[str]: ...
