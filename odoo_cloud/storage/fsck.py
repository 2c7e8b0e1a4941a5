"""Prove that every attachment is where its row says, and find what nothing references — in constant memory.

Both sides can be produced in key order: S3 ListObjectsV2 and Swift container listings are sorted by
the key's bytes, and PostgreSQL sorts `store_fname` the same way with `COLLATE "C"` (UTF-8 byte order
is code-point order, which is also how Python compares `str`). So the check is a merge of two sorted
streams, never a set in memory: memory stays flat whether the bucket holds ten thousand objects or ten
million; only the counters and a bounded sample of examples per finding are kept.

Findings:

* missing — referenced by a row, absent from the store (data loss: the most important line);
* damaged — present, but its size differs from the row's `file_size` (and with `verify="checksum"`
  its bytes' sha1 differs from the content key or the row's checksum);
* orphan — in the write bucket, referenced by none of the databases given (a sample with size and
  age; `pending` counts the ones younger than the GC grace period: an unlink's object waits there);
* foreign — rows referencing another bucket/container (read-only sources), counted per bucket;
* other — objects whose key is not a content key (the stores' own records): never orphans.

Repairs (`mark_orphans`, `reupload_missing`) only run when asked and go through the same paths as
the rest of the suite: orphans are handed to the GC as candidates (its grace period, its reference
re-check under lock and its delete guards decide); missing objects are uploaded again only from
bytes whose sha1 is the key.
"""
from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Optional

from ..instrumentation import Operation, publish
from .base import ObjectInfo, ObjectStore
from .errors import ObjectNotFound
from .keys import is_content_key
from .uri import like_prefix

_logger = logging.getLogger(__name__)

VERIFY_MODES = ("size", "checksum")
DEFAULT_SAMPLE = 20
DEFAULT_FETCH = 5000
FINDINGS = ("missing", "damaged", "orphans", "foreign")


@dataclass(frozen=True)
class Reference:
    """One `ir_attachment` row pointing at an object of the write bucket."""

    database: str
    key: str
    attachment_id: int
    res_model: Optional[str]
    res_id: Optional[int]
    name: Optional[str]
    file_size: Optional[int]
    checksum: Optional[str]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "key": self.key, "id": self.attachment_id,
                "res_model": self.res_model, "res_id": self.res_id, "name": self.name,
                "file_size": self.file_size}


@dataclass
class Finding:
    """Counters of one kind of finding and a bounded sample of examples."""

    limit: int = DEFAULT_SAMPLE
    count: int = 0
    rows: int = 0
    bytes: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, example: dict[str, Any], *, rows: int = 1, nbytes: int = 0) -> None:
        self.count += 1
        self.rows += rows
        self.bytes += nbytes
        if len(self.examples) < self.limit:
            self.examples.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "rows": self.rows, "bytes": self.bytes, "examples": self.examples}


@dataclass
class FsckReport:
    """What a run found; `ok` is False when data is lost or damaged or old orphans cost money."""

    store: str
    databases: list[str]
    verify: str
    sample: int = DEFAULT_SAMPLE
    objects: int = 0
    object_bytes: int = 0
    references: int = 0
    other: int = 0
    pending_orphans: int = 0
    oldest_orphan_age: Optional[float] = None
    foreign_by_bucket: dict[str, int] = field(default_factory=dict)
    #: databases recorded in the bucket (ownership records) that were not given: an "orphan" may be
    #: theirs, so the GC alone decides, after checking them (docs/DATA_SAFETY.md)
    unchecked_databases: list[str] = field(default_factory=list)
    seconds: float = 0.0
    missing: Finding = field(default_factory=Finding)
    damaged: Finding = field(default_factory=Finding)
    orphans: Finding = field(default_factory=Finding)
    foreign: Finding = field(default_factory=Finding)

    def __post_init__(self) -> None:
        for name in FINDINGS:
            getattr(self, name).limit = self.sample

    @property
    def problems(self) -> int:
        return self.missing.count + self.damaged.count + self.orphans.count

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store, "databases": self.databases, "verify": self.verify, "ok": self.ok,
            "objects": self.objects, "object_bytes": self.object_bytes, "references": self.references,
            "other_objects": self.other, "pending_orphans": self.pending_orphans,
            "oldest_orphan_age_seconds": self.oldest_orphan_age, "foreign_by_bucket": self.foreign_by_bucket,
            "unchecked_databases": self.unchecked_databases,
            "seconds": round(self.seconds, 3),
            **{name: getattr(self, name).as_dict() for name in FINDINGS},
        }

    def summary(self) -> str:
        """The readable report: data loss first."""
        lines = [f"fsck of {self.store} against {', '.join(self.databases)} (verify: {self.verify})",
                 f"  {self.objects} object(s), {_human(self.object_bytes)} in the store; "
                 f"{self.references} referencing row(s) in the database(s)",
                 f"  MISSING: {self.missing.count} object(s) referenced by {self.missing.rows} row(s)"]
        lines += [f"    {_describe(ex)}" for ex in self.missing.examples]
        lines.append(f"  damaged: {self.damaged.count} object(s) ({self.damaged.rows} row(s))")
        lines += [f"    {_describe(ex)}: {ex.get('why')}" for ex in self.damaged.examples]
        age = "" if self.oldest_orphan_age is None else f", oldest {_duration(self.oldest_orphan_age)}"
        lines.append(f"  orphans: {self.orphans.count} object(s), {_human(self.orphans.bytes)}{age} "
                     f"(+{self.pending_orphans} younger than the GC grace period, waiting for the GC)")
        lines += [f"    {ex['key']} {_human(ex['size'])} {_duration(ex['age_seconds'])} old"
                  for ex in self.orphans.examples]
        if self.unchecked_databases:
            names = ', '.join(self.unchecked_databases)
            lines.append(f"    (the bucket's ownership records also name {names}: "
                         "give them with -d, they may reference some of these)")
        lines.append(f"  foreign: {self.foreign.rows} row(s) referencing {len(self.foreign_by_bucket)} other "
                     f"bucket(s)/container(s)")
        lines += [f"    {bucket}: {count} row(s)" for bucket, count in sorted(self.foreign_by_bucket.items())]
        if self.other:
            lines.append(f"  {self.other} object(s) without a content key (the suite's own records), ignored")
        lines.append(f"  {'clean' if self.ok else f'{self.problems} problem(s)'} in {self.seconds:.1f} s")
        return "\n".join(lines)


def _describe(example: dict[str, Any]) -> str:
    return (f"{example['key']} <- {example['database']} attachment {example['id']} "
            f"{example.get('res_model') or '-'}/{example.get('res_id') or '-'} {example.get('name')!r} "
            f"({_human(example.get('file_size'))})")


def _human(size: Optional[int]) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


# ---------------------------------------------------------------- the database side
def iter_references(connection: Any, store_prefix: str, *, database: str,
                    fetch: int = DEFAULT_FETCH) -> Iterator[Reference]:
    """Rows of `ir_attachment` referencing the write bucket, sorted by key, through a server-side
    cursor (`fetch` rows at a time): constant memory whatever the table size. `connection` is a
    psycopg2 connection; the cursor lives in its own transaction (rolled back at the end)."""
    cursor = connection.cursor(name=f"odoo_cloud_fsck_{id(connection):x}")
    cursor.itersize = fetch
    start = len(store_prefix) + 1
    try:
        cursor.execute(
            'SELECT substr(store_fname, %s) AS key, id, res_model, res_id, name, file_size, checksum '
            'FROM ir_attachment WHERE store_fname LIKE %s ORDER BY store_fname COLLATE "C", id',
            (start, like_prefix(store_prefix)))
        for key, att_id, res_model, res_id, name, file_size, checksum in cursor:
            yield Reference(database, key, att_id, res_model, res_id, name, file_size, checksum)
    finally:
        cursor.close()
        connection.rollback()


def foreign_buckets(connection: Any, store_prefix: str) -> dict[str, int]:
    """Rows per other `<scheme>://<bucket>` referenced by the database (read-only sources)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT split_part(store_fname, '/', 1) || '//' || split_part(store_fname, '/', 3), count(*) "
            "FROM ir_attachment WHERE store_fname ~ '^[a-z0-9]+://' AND store_fname NOT LIKE %s "
            "GROUP BY 1 ORDER BY 1", (like_prefix(store_prefix),))
        rows = cursor.fetchall()
    connection.rollback()
    return {bucket: int(count) for bucket, count in rows}


def foreign_examples(connection: Any, store_prefix: str, database: str, limit: int) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT store_fname, id, res_model, res_id, name, file_size FROM ir_attachment "
            "WHERE store_fname ~ '^[a-z0-9]+://' AND store_fname NOT LIKE %s ORDER BY id LIMIT %s",
            (like_prefix(store_prefix), limit))
        rows = cursor.fetchall()
    connection.rollback()
    return [{"database": database, "store_fname": fname, "id": att_id, "res_model": model, "res_id": res_id,
             "name": name, "file_size": size} for fname, att_id, model, res_id, name, size in rows]


# ---------------------------------------------------------------- the merge
Progress = Callable[[FsckReport], None]


class Fsck:
    """One comparison of a store's write bucket with the references of one or more databases."""

    def __init__(self, store: ObjectStore, connections: Sequence[tuple[str, Any]], *, verify: str = "size",
                 sample: int = DEFAULT_SAMPLE, grace_seconds: float = 0.0,
                 progress: Optional[Progress] = None, progress_interval: float = 10.0,
                 now: Callable[[], float] = time.time) -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
        self.store = store
        self.connections = list(connections)
        self.verify = verify
        self.sample = sample
        self.grace_seconds = grace_seconds
        self.progress = progress
        self.progress_interval = progress_interval
        self.now = now

    def run(self) -> FsckReport:
        started = time.monotonic()
        report = FsckReport(self.store.prefix, [name for name, _conn in self.connections], self.verify,
                            sample=self.sample)
        report.unchecked_databases = self._unchecked_databases()
        for name, connection in self.connections:
            for bucket, count in foreign_buckets(connection, self.store.prefix).items():
                report.foreign_by_bucket[bucket] = report.foreign_by_bucket.get(bucket, 0) + count
                report.foreign.count += 1
                report.foreign.rows += count
            room = self.sample - len(report.foreign.examples)
            if room > 0:
                report.foreign.examples.extend(foreign_examples(connection, self.store.prefix, name, room))
        references = heapq.merge(*(iter_references(conn, self.store.prefix, database=name)
                                   for name, conn in self.connections), key=lambda ref: ref.key)
        grouped = ((key, list(rows)) for key, rows in groupby(references, key=lambda ref: ref.key))
        last_progress = time.monotonic()
        for key, obj, rows in _merge(self.store.list_objects(), grouped):
            if obj is not None:
                report.objects += 1
                report.object_bytes += obj.size
            report.references += len(rows)
            if obj is None:
                report.missing.add(rows[0].as_dict(), rows=len(rows))
            elif rows:
                self._check_present(report, obj, rows)
            elif not is_content_key(key):
                report.other += 1
            else:
                self._orphan(report, obj)
            if self.progress is not None and time.monotonic() - last_progress >= self.progress_interval:
                last_progress = time.monotonic()
                report.seconds = last_progress - started
                self.progress(report)
        report.seconds = time.monotonic() - started
        return report

    def _unchecked_databases(self) -> list[str]:
        """Databases the bucket's ownership records name (owners and readers) that were not given."""
        from . import ownership

        given = {name for name, _conn in self.connections}
        try:
            records = ownership.list_records(self.store)
        except ObjectNotFound:
            return []
        except ValueError as error:  # an unreadable record: say so rather than guess
            return [f"? ({error})"]
        return sorted({record.identity.dbname for record in records} - given)

    def _check_present(self, report: FsckReport, obj: ObjectInfo, rows: list[Reference]) -> None:
        sizes = {row.file_size for row in rows if row.file_size is not None}
        why = None
        if sizes and sizes != {obj.size}:
            why = f"size {obj.size} in the store, {sorted(sizes)} in the row(s)"
        elif self.verify == "checksum":
            digest = self._sha1(obj)
            expected = {obj.key} | {row.checksum for row in rows if row.checksum}
            if digest is None:
                why = "vanished while being checked"
            elif expected != {digest}:
                why = f"sha1 of the bytes is {digest}"
        if why is not None:
            report.damaged.add({**rows[0].as_dict(), "size": obj.size, "why": why}, rows=len(rows),
                               nbytes=obj.size)

    def _sha1(self, obj: ObjectInfo) -> Optional[str]:
        digest = hashlib.sha1()
        try:
            for chunk in self.store.iter_chunks(obj.key):
                digest.update(chunk)
        except ObjectNotFound:
            return None
        return digest.hexdigest()

    def _orphan(self, report: FsckReport, obj: ObjectInfo) -> None:
        age = None if obj.last_modified is None else max(0.0, self.now() - obj.last_modified)
        if age is not None and age < self.grace_seconds:
            report.pending_orphans += 1
            return
        report.orphans.add({"key": obj.key, "size": obj.size, "age_seconds": age,
                            "last_modified": obj.last_modified}, rows=0, nbytes=obj.size)
        if age is not None and (report.oldest_orphan_age is None or age > report.oldest_orphan_age):
            report.oldest_orphan_age = age


def _merge(objects: Iterable[ObjectInfo], grouped: Iterable[tuple[str, list[Reference]]]
           ) -> Iterator[tuple[str, Optional[ObjectInfo], list[Reference]]]:
    """Merge-join two key-sorted streams: (key, object or None, referencing rows or [])."""
    objects_it, refs_it = iter(objects), iter(grouped)
    obj = next(objects_it, None)
    ref = next(refs_it, None)
    while obj is not None or ref is not None:
        if ref is None or (obj is not None and obj.key < ref[0]):
            assert obj is not None
            yield obj.key, obj, []
            obj = next(objects_it, None)
        elif obj is None or ref[0] < obj.key:
            yield ref[0], None, ref[1]
            ref = next(refs_it, None)
        else:
            yield obj.key, obj, ref[1]
            obj, ref = next(objects_it, None), next(refs_it, None)


# ---------------------------------------------------------------- repairs (only when asked)
def orphans_older_than(store: ObjectStore, connections: Sequence[tuple[str, Any]], older_than: float, *,
                       now: Callable[[], float] = time.time) -> Iterator[ObjectInfo]:
    """Orphans (content keys referenced by no given database) at least `older_than` seconds old,
    found by the same merge as `Fsck.run` (constant memory)."""
    references = heapq.merge(*(iter_references(conn, store.prefix, database=name)
                               for name, conn in connections), key=lambda ref: ref.key)
    grouped = ((key, list(rows)) for key, rows in groupby(references, key=lambda ref: ref.key))
    for key, obj, rows in _merge(store.list_objects(), grouped):
        if obj is None or rows or not is_content_key(key) or obj.last_modified is None:
            continue
        if now() - obj.last_modified >= older_than:
            yield obj


def mark_orphans(connection: Any, store: ObjectStore, orphans: Iterable[ObjectInfo],
                 batch: int = 1000) -> int:
    """Hand orphans to the GC: a candidate row each, marked now (`gc.mark`), committed in batches.

    Not backdated on purpose: a writer that found the object already stored (conditional PUT 412 or
    its memory of existing keys) and has not committed its row yet claimed the name before our mark
    existed, so only the grace period protects it — exactly as for an unlink's candidate. The GC's
    first run after the grace period re-checks the references under lock and deletes through its
    guarded path. Returns how many were marked."""
    from . import gc

    marked = 0
    chunk: list[str] = []

    def flush() -> None:
        nonlocal marked
        if chunk:
            with connection.cursor() as cursor:
                marked += gc.mark(cursor, chunk, reason=gc.UNLINK)
            connection.commit()
            chunk.clear()

    for obj in orphans:
        _logger.info("fsck: orphan %s (%d bytes, modified %s) handed to the GC", store.uri(obj.key), obj.size,
                     time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(obj.last_modified or 0)))
        chunk.append(store.uri(obj.key))
        if len(chunk) >= batch:
            flush()
    flush()
    return marked


def find_in_dump(root: Path, key: str) -> Optional[Path]:
    """Where a filestore or an Odoo dump directory keeps the bytes of `key`: `<root>/<k[:2]>/<k>`,
    `<root>/filestore/<k[:2]>/<k>` or `<root>/<k>`."""
    for candidate in (root / key[:2] / key, root / "filestore" / key[:2] / key, root / key):
        if candidate.is_file():
            return candidate
    return None


@dataclass
class ReuploadReport:
    restored: list[str] = field(default_factory=list)
    not_found: int = 0
    mismatched: list[str] = field(default_factory=list)


def reupload_missing(store: ObjectStore, connections: Sequence[tuple[str, Any]], root: Path, *,
                     apply: bool) -> ReuploadReport:
    """Upload again, from a filestore or dump directory, every missing object whose file there has
    the key as sha1 (a file with other bytes is never uploaded). Dry run unless `apply`."""
    report = ReuploadReport()
    references = heapq.merge(*(iter_references(conn, store.prefix, database=name)
                               for name, conn in connections), key=lambda ref: ref.key)
    grouped = ((key, list(rows)) for key, rows in groupby(references, key=lambda ref: ref.key))
    for key, obj, _rows in _merge(store.list_objects(), grouped):
        if obj is not None or not _rows:
            continue
        path = find_in_dump(root, key) if is_content_key(key) else None
        if path is None:
            report.not_found += 1
            continue
        data = path.read_bytes()
        if hashlib.sha1(data).hexdigest() != key:
            report.mismatched.append(key)
            _logger.warning("fsck: %s does not hold the bytes of %s (sha1 differs): not uploaded", path, key)
            continue
        if apply:
            store.put(key, data, recheck=True)
            _logger.info("fsck: restored %s from %s", store.uri(key), path)
        report.restored.append(key)
    return report


# ---------------------------------------------------------------- a sampled check, for a scheduled job
@dataclass
class SampleReport:
    """A random sample of referencing rows checked with one HEAD each."""

    checked: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[dict[str, Any]] = field(default_factory=list)
    unavailable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "missing": self.missing, "damaged": self.damaged,
                "unavailable": self.unavailable}


def sample_check(cursor: Any, store_for: Callable[[str], ObjectStore], size: int) -> SampleReport:
    """HEAD the objects of `size` random rows referencing any object store; publish one operation per
    object (`storage.fsck.ok|missing|damaged|unavailable`), so statsd and Prometheus count missing objects
    before a user meets one. `store_for(scheme)` gives the process's store of a scheme."""
    from .errors import StorageError
    from .uri import parse_uri

    cursor.execute(
        "SELECT id, store_fname, file_size, res_model, res_id, name FROM ir_attachment "
        "WHERE store_fname ~ '^[a-z0-9]+://' ORDER BY random() LIMIT %s", (size,))
    report = SampleReport()
    for att_id, fname, file_size, res_model, res_id, name in cursor.fetchall():
        try:
            uri = parse_uri(fname)
        except ValueError:  # InvalidKey: a hostile reference is never sent to a store
            uri = None
        if uri is None:
            continue
        example = {"id": att_id, "store_fname": fname, "res_model": res_model, "res_id": res_id, "name": name,
                   "file_size": file_size}
        started = time.perf_counter()
        try:
            info = store_for(uri.scheme).head(uri.key, bucket=uri.bucket)
        except ObjectNotFound:
            outcome = "missing"
            report.missing.append(example)
        except StorageError:
            outcome = "unavailable"
            report.unavailable += 1
        else:
            outcome = "ok" if file_size in (None, info.size) else "damaged"
            if outcome == "damaged":
                report.damaged.append({**example, "size": info.size})
        report.checked += 1
        publish(Operation(f"storage.fsck.{outcome}", seconds=time.perf_counter() - started,
                          ok=outcome == "ok", error=None if outcome == "ok" else outcome))
    return report
