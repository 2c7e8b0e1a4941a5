"""One batch of a migration run, in named steps: the Engine locks the rows, a `BatchMigration` moves them.

    announce_uploads  mark the objects this batch may upload (own transaction, committed: a batch that
                      never commits leaves GC candidates, not orphans)
    measure           what each content will weigh in memory, before anything is read
    transfer          in the pool: read each content, verify it against its rows, write it once; in the
                      main thread: record each outcome (rows going to the database are written there)
    switch            claim the target objects from the GC (upload again what it collected meanwhile),
                      then point every moved row at its new copy in one UPDATE
    hand_over_old_objects   mark the objects no row points at any more, for the storage GC

Nothing here commits: the Engine commits the batch as a whole (or rolls it back) and then collects the
old local copies `BatchMigration.run` returns.
"""
from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .. import gc as object_gc
from . import location as loc
from .db import one_row
from .errors import MigrationDataMismatch, MigrationMisconfigured, MissingSource, RowError
from .filestore import FilestoreError, MissingFile
from .report import Failure, Report

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ContentWriter, Engine

#: one row switched to the target: (id, store_fname, sha1, size)
_Switch = tuple[int, str, str, int]


@dataclass
class _Row:
    id: int
    store_fname: Optional[str]
    checksum: Optional[str]
    keep_in_db: bool
    db_size: Optional[int]
    file_size: Optional[int]

    @property
    def expected_size(self) -> Optional[int]:
        """What the row says its content weighs; None when nothing says (file_size NULL)."""
        if self.db_size is not None:
            return self.db_size
        return self.file_size


@dataclass
class _Unit:
    """One source to read (a local file or object shared by rows, or one row's DB bytes)."""

    store_fname: Optional[str]
    rows: list[_Row]
    data: Optional[bytes] = None  # DB bytes, fetched by the main thread (the connection is not shared)
    #: bytes charged to the budget before reading: the DB's octet_length, the local file's size (stat),
    #: an object's file_size or, when NULL, its HEAD size; see Engine._measure
    size: int = 0

    def recorded_size(self) -> Optional[int]:
        sizes = [r.expected_size for r in self.rows if r.expected_size is not None]
        return max(sizes) if sizes else None


@dataclass
class _UnitResult:
    unit: _Unit
    sha1: Optional[str] = None
    size: int = 0
    target_fname: Optional[str] = None    # where rows going to the target now point
    data_for_db: Optional[bytes] = None   # content for rows that go to the database
    to_target: list[_Row] = field(default_factory=list)
    to_db: list[_Row] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    wrote: bool = False
    overdraft: int = 0  # bytes read beyond the unit's charge (a size that lied), charged when read


class _ByteBudget:
    """Bytes held by queued, running and finished-but-not-applied units, counted on what was read.

    Only the main thread waits for room (by applying finished units); workers never wait: a worker
    that read more than its unit was charged adds the difference at once, so the main thread submits
    nothing more until that memory is released. One unit bigger than the whole budget runs alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()

    def charge(self, size: int) -> None:
        with self._lock:
            self.used += size
            self.peak = max(self.peak, self.used)

    def release(self, size: int) -> None:
        with self._lock:
            self.used -= size

    def full_for(self, size: int) -> bool:
        return bool(self.used) and self.used + size > self.limit


class _Once:
    """Writes each distinct content once per batch, whichever thread gets there first."""

    def __init__(self, writer: ContentWriter) -> None:
        self.writer = writer
        self._lock = threading.Lock()
        self._futures: dict[str, Future[str]] = {}

    def write(self, data: bytes, sha1: str) -> tuple[str, bool]:
        with self._lock:
            future = self._futures.get(sha1)
            first = future is None
            if future is None:
                future = self._futures[sha1] = Future()
        if not first:
            return future.result(), False
        try:
            fname = self.writer.write(data, sha1)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(fname)
        return fname, True



class BatchMigration:
    """Moves one locked batch of rows to the Engine's target, in the Engine's transaction.

    One instance per batch, driven by the main thread; only `_process` (read, verify, write) runs in
    the pool's worker threads, and it touches nothing but its own unit, the byte budget and `_Once`.
    """

    def __init__(self, engine: Engine, pool: ThreadPoolExecutor, rows: list[_Row], report: Report) -> None:
        self.engine = engine
        self.db = engine.db
        self.target = engine.target
        self.options = engine.options
        self.pool = pool
        self.rows = rows
        self.report = report
        self.units = _units(rows)
        self.once = _Once(engine.writer) if engine.writer else None
        self.budget = _ByteBudget(self.options.max_inflight_bytes)
        self.futures: set[Future[_UnitResult]] = set()
        self.finished: queue.SimpleQueue[Future[_UnitResult]] = queue.SimpleQueue()  # in completion order
        self.switched: list[_Switch] = []
        self.old_local: list[str] = []
        self.old_objects: list[str] = []
        self.sources: dict[str, _Unit] = {}  # target store_fname -> a unit that can produce its content

    def run(self) -> list[str]:
        """Every step in order; returns the old local copies to collect once the Engine committed."""
        self.announce_uploads()
        self.measure()
        self.transfer()
        self.switch()
        self.hand_over_old_objects()
        return sorted(set(self.old_local))

    # -- steps -----------------------------------------------------------------------------------------
    def announce_uploads(self) -> None:
        """Committed before any upload: if this batch never commits, the GC finds these objects."""
        mark_uploads = self.engine.mark_uploads
        if self.target.kind != loc.OBJECT or mark_uploads is None:
            return
        expected = {self.target.uri_prefix + r.checksum for r in self.rows if r.checksum and not r.keep_in_db}
        if expected:
            mark_uploads(sorted(expected))

    def measure(self) -> None:
        """What each unit will bring into memory, before it is read: budgets count bytes, not rows' claims.

        DB contents: octet_length (exact). Local files: their size on disk (a stat; file_size may be
        NULL or wrong when other tools wrote the row). Objects: file_size, or a HEAD when it is NULL
        (in the pool, no bytes read); a reader that cannot tell charges the whole budget, so the unit
        is read alone. A size that still lies is corrected when read (`_read_unit` charges the overdraft).
        """
        filestore = self.engine.filestore
        unknown = []
        for unit in self.units:
            recorded = unit.recorded_size()
            if unit.store_fname is None:
                unit.size = recorded or 0
            elif "://" not in unit.store_fname:
                unit.size = filestore.size(unit.store_fname) if filestore is not None else 0
            elif recorded is not None:
                unit.size = recorded
            else:
                unknown.append(unit)
        if not unknown:
            return
        size_of: Optional[Callable[[str], int]] = getattr(self.engine.read_object, "size", None)
        if size_of is None:
            for unit in unknown:
                unit.size = self.options.max_inflight_bytes
            return
        fnames = [u.store_fname for u in unknown if u.store_fname is not None]  # all: an object each
        for unit, size in zip(unknown, self.pool.map(size_of, fnames), strict=True):
            unit.size = size

    def transfer(self) -> None:
        """Every unit through the pool (stored contents first, then DB contents slice by slice), never
        holding more than the byte budget; each outcome recorded as it finishes. On any error the
        units not started are cancelled and the running ones waited for before the error goes on."""
        try:
            for unit in self.units:
                if unit.store_fname is not None:
                    self._submit(unit)
            for chunk in self._db_slices():
                self._fetch_db_contents(chunk)
                for unit in chunk:
                    self._submit(unit)
                self._drain(block=False)
            while self.futures:
                self._drain(block=True)
        except BaseException:
            for future in self.futures:
                future.cancel()
            wait(self.futures)
            raise

    def switch(self) -> None:
        """Point every row whose content was written at its new copy, in one UPDATE."""
        if not self.switched:
            return
        self._claim_targets()
        ids, fnames, shas, sizes = zip(*self.switched, strict=True)
        self.db.execute(
            """UPDATE ir_attachment AS a
                  SET store_fname = v.fname, db_datas = NULL, checksum = v.sha, file_size = v.size
                 FROM unnest(%s::int[], %s::varchar[], %s::varchar[], %s::int[])
                      AS v(id, fname, sha, size)
                WHERE a.id = v.id""",
            (list(ids), list(fnames), list(shas), list(sizes)),
        )

    def hand_over_old_objects(self) -> None:
        """The storage GC deletes them once committed and unreferenced (never outside its write bucket)."""
        old_objects = sorted(set(self.old_objects))
        if old_objects:
            object_gc.mark(self.db, old_objects)
            self.report.old_copies_marked += len(old_objects)

    # -- transfer, main thread -------------------------------------------------------------------------
    def _submit(self, unit: _Unit) -> None:
        while self.futures and self.budget.full_for(unit.size):
            self._drain(block=True)
        self.budget.charge(unit.size)
        future = self.pool.submit(self._process, unit)
        self.futures.add(future)
        future.add_done_callback(self.finished.put)

    def _drain(self, block: bool) -> None:
        """Record finished units: at least one when `block`, else only those already finished."""
        while self.futures:
            try:
                future = self.finished.get(block=block)
            except queue.Empty:
                return
            self.futures.discard(future)
            result = future.result()  # a fatal error propagates and aborts the batch
            self.budget.release(result.unit.size + result.overdraft)
            self._record(result)
            if result.target_fname:
                self.sources.setdefault(result.target_fname, result.unit)
            block = False

    def _db_slices(self) -> Iterator[list[_Unit]]:
        """The units whose content is in the database, in slices bounded by the byte budget."""
        pending = [u for u in self.units if u.store_fname is None]
        start = 0
        while start < len(pending):
            chunk: list[_Unit] = []
            budget = 0
            while start < len(pending) and (not chunk or budget + pending[start].size
                                            <= self.options.max_inflight_bytes):
                chunk.append(pending[start])
                budget += pending[start].size
                start += 1
            yield chunk

    def _fetch_db_contents(self, chunk: list[_Unit]) -> None:
        """The main thread reads DB contents (the connection is not shared with the workers)."""
        if len(chunk) == 1:
            chunk[0].data = self._db_content(chunk[0].rows[0].id)
            return
        self.db.execute("SELECT id, db_datas FROM ir_attachment WHERE id = ANY(%s)",
                        ([u.rows[0].id for u in chunk],))
        contents = {row_id: data for row_id, data in self.db.fetchall()}
        for unit in chunk:
            data = contents.pop(unit.rows[0].id)
            unit.data = bytes(data) if data is not None else b""

    def _db_content(self, row_id: int) -> bytes:
        self.db.execute("SELECT db_datas FROM ir_attachment WHERE id = %s", (row_id,))
        data = one_row(self.db)[0]
        return bytes(data) if data is not None else b""

    def _record(self, result: _UnitResult) -> None:
        """The outcome of one unit: failures, rows to switch, rows written to the database, old copies."""
        report = self.report
        for failure in result.failures:
            report.add_failure(failure)
        if result.wrote:
            report.contents_written += 1
        for row in result.to_target:  # only rows whose content was written: a name and a sha1
            assert result.target_fname is not None and result.sha1 is not None
            self.switched.append((row.id, result.target_fname, result.sha1, result.size))
        for row in result.to_db:
            self._store_in_db(row, result)
        result.data_for_db = None
        for row in result.to_target + result.to_db:
            report.moved += 1
            report.bytes_moved += result.size
            if row.store_fname and row.store_fname != result.target_fname:
                (self.old_objects if "://" in row.store_fname else self.old_local).append(row.store_fname)

    def _store_in_db(self, row: _Row, result: _UnitResult) -> None:
        """Write the content into the row and check what the database says it stored."""
        self.db.execute(
            """UPDATE ir_attachment SET db_datas = %s, store_fname = NULL, checksum = %s, file_size = %s
                WHERE id = %s RETURNING octet_length(db_datas), md5(db_datas)""",
            (result.data_for_db or None, result.sha1, result.size, row.id),
        )
        stored_size, stored_md5 = one_row(self.db)
        if (stored_size or 0) != result.size or (
                result.size and stored_md5 != hashlib.md5(result.data_for_db or b"").hexdigest()):
            raise MigrationDataMismatch(
                f"attachment {row.id}: the database returned other bytes than written")
        if row.keep_in_db and self.target.kind != loc.DB:
            self.report.kept_in_db += 1

    def _claim_targets(self) -> None:
        """Take the objects we are about to reference out of the GC's hands (storage gc protocol).

        A claim naming an object means the GC deleted it meanwhile (it was marked by an earlier
        delete and the store's memory said it exists): upload it again before switching.
        """
        if self.target.kind != loc.OBJECT:
            return
        writer = self.engine.writer
        assert writer is not None  # a run to objects always has one (see Engine.__init__)
        for fname in object_gc.claim_many(self.db, sorted({item[1] for item in self.switched})):
            unit = self.sources[fname]
            data = self._read(unit.store_fname) if unit.store_fname else self._db_content(unit.rows[0].id)
            self.engine.logger.info("%s was collected by the GC meanwhile: uploading it again", fname)
            writer.write(data, hashlib.sha1(data).hexdigest(), recheck=True)

    # -- transfer, one unit in a worker thread ---------------------------------------------------------
    def _process(self, unit: _Unit) -> _UnitResult:
        """Read the unit's content, verify it against its rows, write it once where it goes."""
        result = _UnitResult(unit)
        try:
            data = self._read_unit(unit, result)
        except RowError as exc:
            result.failures = [Failure(r.id, r.store_fname, str(exc)) for r in unit.rows]
            return result
        self._verify(data, result)
        self._write(data, result)
        return result

    def _read_unit(self, unit: _Unit, result: _UnitResult) -> bytes:
        data = unit.data if unit.store_fname is None else self._read(unit.store_fname)
        unit.data = None
        assert data is not None  # a database unit's content was fetched by _fetch_db_contents
        if len(data) > unit.size:
            result.overdraft = len(data) - unit.size  # budgets count what was read
            self.budget.charge(result.overdraft)
        if unit.store_fname is not None and "://" not in unit.store_fname and self.target.kind != loc.FILE:
            # Odoo's own checklist, before the switch: survives a kill between commit and unlink
            assert self.engine.filestore is not None  # _read found the file there
            self.engine.filestore.mark_for_gc(unit.store_fname)
        return data

    def _read(self, store_fname: str) -> bytes:
        if "://" in store_fname:
            if self.engine.read_object is None:
                raise MigrationMisconfigured(f"no object store configured to read {store_fname}")
            return self.engine.read_object(store_fname)
        if self.engine.filestore is None:
            raise MigrationMisconfigured(f"no filestore directory configured to read {store_fname}")
        try:
            return self.engine.filestore.read(store_fname)
        except MissingFile as exc:
            raise MissingSource(str(exc)) from None
        except FilestoreError as exc:
            raise RowError(str(exc)) from None

    def _verify(self, data: bytes, result: _UnitResult) -> None:
        """A row whose checksum names other content fails; the others go to the target or the database."""
        sha1 = hashlib.sha1(data).hexdigest()
        result.sha1, result.size = sha1, len(data)
        for row in result.unit.rows:
            if row.checksum and row.checksum != sha1:
                result.failures.append(Failure(row.id, row.store_fname,
                                               f"content has sha1 {sha1}, the row records {row.checksum}"))
                continue
            # empty content lives in the database whatever the location, as in core
            to_db = self.target.kind == loc.DB or row.keep_in_db or not data
            (result.to_db if to_db else result.to_target).append(row)

    def _write(self, data: bytes, result: _UnitResult) -> None:
        if result.to_target:
            assert self.once is not None  # a run with a target store or filestore has a writer
            try:
                assert result.sha1 is not None  # set by _verify
                result.target_fname, result.wrote = self.once.write(data, result.sha1)
            except (RowError, FilestoreError) as exc:
                result.failures += [Failure(r.id, r.store_fname, str(exc)) for r in result.to_target]
                result.to_target = []
        if result.to_db:
            result.data_for_db = data


def _units(rows: list[_Row]) -> list[_Unit]:
    """One unit per distinct stored content (rows sharing a store_fname share a read), one per DB row."""
    by_fname: dict[str, _Unit] = {}
    units: list[_Unit] = []
    for row in rows:
        if row.store_fname:
            unit = by_fname.get(row.store_fname)
            if unit is None:
                unit = by_fname[row.store_fname] = _Unit(row.store_fname, [])
                units.append(unit)
            unit.rows.append(row)
        else:
            units.append(_Unit(None, [row]))
    return units
