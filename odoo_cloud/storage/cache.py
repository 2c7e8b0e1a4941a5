"""A bounded read cache of content-addressed objects on local disk, shared by every process of a host.

Why files named by sha1 and not a cache library: our keys are content addresses, so a cached copy
can never be stale and needs no metadata at all — the file name is the key and the file is the
value; publishing is one atomic `rename` into place; a reader checks the bytes against the name.
`diskcache` (the well-kept choice) keeps an SQLite index that every prefork worker would write on
every hit for LRU ordering, which serialises reads across processes; here a hit is an `open`, a
`read` and a `utime`. What a library would give us beyond that is eviction, which is a short
function below (docs/READ_CACHE.md says more).

Layout under `directory`: `objects/<k[:2]>/<key>` (published files), `tmp/` (fills in progress,
same filesystem so the rename is atomic), `size` (bytes accounted, under `lock`, an flock).

Promises:
* bounded: every fill is accounted under a host-wide lock; above `max_bytes` the least recently
  used files (access time, set on every hit) are evicted down to 90 % of the bound, and the
  accounting is reset to what is really on disk;
* never wrong: a fill whose bytes do not hash to the key is refused loudly (an error line) and never
  published; a hit whose bytes do not hash to the key (a corrupted file) is removed and reported as
  a miss, so the caller reads the store again. A process hashes a cached file at its first hit and
  again whenever the file changed since (`Verified`: inode, size or modification time differ — every
  write, truncation or replacement changes one of them) or after `REVERIFY_SECONDS`; between those,
  a hit is an `open`, an `fstat` and a `futimens`, like serving Odoo's own filestore (hashing every
  hit cost a download of 1 MB about a millisecond of CPU, 10 % of the whole request);
* never an error for the user: a full, read-only or broken cache directory degrades to direct reads
  with one warning per process (every failure is counted in the `storage.cache.error` metric);
* objects above `max_object_bytes` are never cached (one huge download cannot evict everything).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Optional

from ..instrumentation import Operation, publish
from .keys import is_content_key

_logger = logging.getLogger(__name__)

DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024
LOW_WATER = 0.9
READ_CHUNK = 256 * 1024
#: a file verified by this process is hashed again after this long even when unchanged (bytes that rot
#: below the filesystem change no timestamp)
REVERIFY_SECONDS = 3600.0
#: a file modified less than this before its hashing began is hashed again at its next hit: a write in
#: the same clock tick as the state we verified could leave its modification time as it was (git's
#: "racily clean" index entries); the kernel's file clock ticks every few milliseconds
SETTLED_NS = 1_000_000_000
#: files remembered as verified, per process (about 150 bytes each)
MAX_VERIFIED = 65536


def default_directory() -> str:
    """Under the host's temporary directory: shared by every worker of the host (or the pod)."""
    return os.path.join(tempfile.gettempdir(), "odoo-cloud-read-cache")


class ReadCache:
    """See the module docstring. Thread- and process-safe; cheap to build (no I/O until used)."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, *,
                 max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("a read cache needs max_bytes > 0 (0 means: no cache at all)")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_object_bytes = min(max_object_bytes, max_bytes)
        self._objects = self.directory / "objects"
        self._objects_prefix = f"{self._objects}{os.sep}"  # a hit joins strings: pathlib costs more
        self._tmp = self.directory / "tmp"
        self._ready = False
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._verified = Verified(MAX_VERIFIED)

    def __repr__(self) -> str:
        return f"<ReadCache {self.directory} max={self.max_bytes}>"

    # -- helpers ------------------------------------------------------------------------------------------
    def cacheable(self, key: str, size: Optional[int] = None) -> bool:
        return is_content_key(key) and (size is None or size <= self.max_object_bytes)

    def path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        return f"{self._objects_prefix}{key[:2]}{os.sep}{key}"

    def _prepare(self) -> bool:
        if self._ready:
            return True
        with self._lock:
            try:
                self._tmp.mkdir(parents=True, exist_ok=True)
                self._objects.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._degraded("prepare", exc)
                return False
            self._ready = True
        return True

    def _degraded(self, what: str, exc: BaseException) -> None:
        """One warning per process (later failures at debug level, all counted in the metrics): the cache
        steps aside and reads go to the store."""
        if self._warned:
            _logger.debug("attachment read cache %s: %s failed (%s)", self.directory, what, exc)
        else:
            self._warned.add(what)
            _logger.warning("attachment read cache %s: %s failed (%s); reading from the object store "
                            "directly", self.directory, what, exc)
        publish(Operation("storage.cache.error", ok=False, error=type(exc).__name__))

    # -- reads --------------------------------------------------------------------------------------------
    def get(self, key: str) -> Optional[bytes]:
        """The cached bytes of `key`, verified; None on a miss (or a corrupted file, removed)."""
        handle = self.open(key)
        if handle is None:
            return None
        try:
            with handle:
                return handle.read()
        except OSError as exc:
            self._degraded("read", exc)
            return None

    def open(self, key: str) -> Optional[BinaryIO]:
        """An open, verified cached file positioned at 0 (for ranges); None on a miss."""
        started = time.perf_counter()
        if not self.cacheable(key):
            return None
        try:
            handle = open(self._file(key), "rb")
        except (FileNotFoundError, NotADirectoryError):
            publish(Operation("storage.cache.miss", seconds=time.perf_counter() - started))
            return None
        except OSError as exc:
            self._degraded("read", exc)
            return None
        try:
            stat = os.fstat(handle.fileno())
            if not self._verified.holds(key, stat) and not self._verify(key, handle, stat):
                handle.close()
                self._corrupted(key)
                return None
            self._touch(handle, stat)
        except OSError as exc:
            handle.close()
            self._degraded("read", exc)
            return None
        publish(Operation("storage.cache.hit", seconds=time.perf_counter() - started, nbytes=stat.st_size))
        return handle

    def _verify(self, key: str, handle: BinaryIO, before: os.stat_result) -> bool:
        """Hash the whole file; remember it as verified when it did not change meanwhile and its
        modification time is settled (see SETTLED_NS)."""
        began = time.time_ns()
        digest = hashlib.sha1()
        for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
            digest.update(chunk)
        if digest.hexdigest() != key:
            return False
        handle.seek(0)
        after = os.fstat(handle.fileno())
        if _signature(after) == _signature(before) and before.st_mtime_ns < began - SETTLED_NS:
            self._verified.add(key, before)
        return True

    @staticmethod
    def _touch(handle: BinaryIO, stat: os.stat_result) -> None:
        """LRU order: the access time is the last hit (the most recent is the last evicted). The
        modification time is left as it is: it tells a changed file from the verified one."""
        try:
            if _set_atime_now is not None:
                _set_atime_now(handle.fileno())
            else:  # os.utime sets both: a write between our fstat and this call would be hidden
                os.utime(handle.fileno(), ns=(time.time_ns(), stat.st_mtime_ns))
        except OSError:
            pass

    def _corrupted(self, key: str) -> None:
        _logger.error("attachment read cache %s: %s does not hold the bytes of its key (corrupted file); "
                      "removed, reading the object store again", self.directory, key)
        publish(Operation("storage.cache.corrupted", ok=False, error="corrupted"))
        self._verified.discard(key)
        try:
            self.path(key).unlink()
        except OSError:
            pass

    # -- fills --------------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> bool:
        """Publish `data` under `key` when it fits; False when not cached (too big, broken cache...)."""
        if not self.cacheable(key, len(data)):
            return False
        filler = self.filler(key, len(data))
        if filler is None:
            return False
        filler.write(data)
        return filler.commit()

    def filler(self, key: str, size: int) -> Optional[Filler]:
        """A writer that publishes `key` once `size` bytes hashing to it were written; None when not
        cacheable, already cached, or the cache is unusable."""
        if not self.cacheable(key, size) or not self._prepare():
            return None
        if self.path(key).exists():
            return None
        try:
            fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix=key[:8] + ".")
        except OSError as exc:
            self._degraded("write", exc)
            return None
        return Filler(self, key, size, os.fdopen(fd, "wb"), Path(tmp))

    def _publish(self, key: str, tmp: Path, size: int) -> bool:
        final = self.path(key)
        try:
            final.parent.mkdir(exist_ok=True)
            if final.exists():  # another process filled it meanwhile: same bytes, keep theirs
                tmp.unlink()
                return False
            os.replace(tmp, final)
        except OSError as exc:
            _unlink_quietly(tmp)
            self._degraded("write", exc)
            return False
        publish(Operation("storage.cache.fill", nbytes=size))
        self._account(size)
        return True

    # -- accounting and eviction ------------------------------------------------------------------------
    def _account(self, added: int) -> None:
        try:
            with open(self.directory / "lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                total = self._read_size() + added
                if total > self.max_bytes:
                    total = self._evict()
                self._write_size(total)
        except OSError as exc:
            self._degraded("accounting", exc)

    def _read_size(self) -> int:
        try:
            return max(0, int((self.directory / "size").read_text() or 0))
        except (OSError, ValueError):
            return self._scan_total()  # first use or a damaged counter: count what is there

    def _write_size(self, total: int) -> None:
        tmp = self.directory / f"size.{os.getpid()}"
        tmp.write_text(str(total))
        os.replace(tmp, self.directory / "size")

    def _files(self) -> Iterator[tuple[float, int, Path]]:
        """(last use: the access time, size, path) of every published file."""
        for sub in os.scandir(self._objects):
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub.path):
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                yield stat.st_atime, stat.st_size, Path(entry.path)

    def _scan_total(self) -> int:
        try:
            return sum(size for _used, size, _path in self._files())
        except OSError:
            return 0

    def _evict(self) -> int:
        """Remove least recently used files until 90 % of the bound; returns the bytes left on disk."""
        files = sorted(self._files())
        total = sum(size for _used, size, _path in files)
        target = int(self.max_bytes * LOW_WATER)
        evicted = evicted_bytes = 0
        for _used, size, path in files:
            if total <= target:
                break
            _unlink_quietly(path)
            total -= size
            evicted += 1
            evicted_bytes += size
        if evicted:
            publish(Operation("storage.cache.evict", nbytes=evicted_bytes))
            _logger.debug("attachment read cache %s: evicted %d file(s), %d bytes", self.directory, evicted,
                          evicted_bytes)
        self._clean_tmp()
        return total

    def _clean_tmp(self, older_than: float = 3600.0) -> None:
        """Fills abandoned by a killed process (kill -9 between write and rename)."""
        limit = time.time() - older_than
        for entry in os.scandir(self._tmp):
            try:
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except OSError:
                continue


def _atime_setter() -> Optional[Callable[[int], None]]:
    """`futimens(fd, {UTIME_NOW, UTIME_OMIT})` on Linux: the access time becomes now and the modification
    time is not touched at all, in one call (os.utime can only set both, so it would have to write back
    the mtime it read and could undo a write made in between). None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        futimens = ctypes.CDLL(None, use_errno=True).futimens
    except (OSError, AttributeError):
        return None

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    utime_now, utime_omit = (1 << 30) - 1, (1 << 30) - 2  # <linux/stat.h>
    times = (Timespec * 2)(Timespec(0, utime_now), Timespec(0, utime_omit))
    futimens.argtypes = [ctypes.c_int, ctypes.POINTER(Timespec)]
    futimens.restype = ctypes.c_int

    def set_atime_now(fd: int) -> None:
        if futimens(fd, times) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    return set_atime_now


_set_atime_now = _atime_setter()


def _signature(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What every change of a file's bytes changes: a write or truncation sets the modification time
    (and usually the size), a replacement is another inode."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class Verified:
    """The cached files this process hashed, by key: their signature and when (bounded, oldest first out).

    A hit whose file still has the remembered signature is not hashed again; any other is. No lock:
    single dict operations are atomic, and a lock held by another thread at a prefork fork would be
    held forever in the child."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[tuple[int, int, int, int], float]] = {}

    def holds(self, key: str, stat: os.stat_result) -> bool:
        entry = self._entries.get(key)
        return (entry is not None and entry[0] == _signature(stat)
                and time.monotonic() - entry[1] < REVERIFY_SECONDS)

    def add(self, key: str, stat: os.stat_result) -> None:
        entries = self._entries
        entries.pop(key, None)  # re-inserted last: the oldest verification is the first dropped
        entries[key] = (_signature(stat), time.monotonic())
        while len(entries) > self.max_entries:
            try:
                del entries[next(iter(entries))]
            except (KeyError, RuntimeError, StopIteration):  # another thread trimmed it meanwhile
                continue

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)


class Filler:
    """Streams an object into the cache while the caller reads it; publishes only a complete, verified
    copy (`commit`), else leaves nothing behind (`abort`)."""

    def __init__(self, cache: ReadCache, key: str, size: int, handle: BinaryIO, tmp: Path) -> None:
        self.cache = cache
        self.key = key
        self.size = size
        self._handle: Optional[BinaryIO] = handle
        self._tmp = tmp
        self._digest = hashlib.sha1()
        self._written = 0

    @property
    def complete(self) -> bool:
        """Every byte was written and the copy is not published yet."""
        return self._handle is not None and self._written == self.size

    def write(self, chunk: bytes) -> None:
        if self._handle is None:
            return
        self._digest.update(chunk)
        self._written += len(chunk)
        try:
            self._handle.write(chunk)
        except OSError as exc:  # ENOSPC, EIO...: stop filling, the caller's read goes on
            self.abort()
            self.cache._degraded("write", exc)

    def commit(self) -> bool:
        if self._handle is None:
            return False
        try:
            self._handle.close()
        except OSError as exc:
            self._handle = None
            _unlink_quietly(self._tmp)
            self.cache._degraded("write", exc)
            return False
        self._handle = None
        if self._written != self.size:
            _unlink_quietly(self._tmp)
            return False
        digest = self._digest.hexdigest()
        if digest != self.key:
            _unlink_quietly(self._tmp)
            _logger.error("attachment read cache: the object store returned bytes hashing to %s for key %s "
                          "(%d bytes): not cached; the stored object is damaged "
                          "(run odoo-cloud fsck --verify checksum)", digest, self.key, self.size)
            publish(Operation("storage.cache.integrity", ok=False, error="sha1 mismatch"))
            return False
        return self.cache._publish(self.key, self._tmp, self.size)

    def abort(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass
            self._handle = None
        _unlink_quietly(self._tmp)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            _logger.debug("could not remove %s: %s", path, exc)
