"""The migration engine: moves ir_attachment contents between the database, the filestore and buckets.

One runner works in batches: it locks a batch of pending rows (``FOR UPDATE SKIP LOCKED``, so a second
runner takes other rows), reads and uploads their contents with a bounded thread pool, switches the rows
in one UPDATE and commits. Only then are the old copies collected, and only those no row references any
more. Killed at any point, the next run finds the rows still pending and does them again; content is
addressed by sha1, so redoing an upload is harmless.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Optional, Protocol

from .. import gc as object_gc
from . import location as loc
from .db import Database, commits, one_row
from .errors import MigrationDataMismatch, MigrationMisconfigured, MissingSource, RowError
from .filestore import Filestore, FilestoreError, MissingFile
from .report import Failure, Progress, Report

_logger = logging.getLogger("odoo_cloud.storage.migration")


class ContentWriter(Protocol):
    """Places verified content in the target and returns the store_fname pointing at it."""

    def write(self, data: bytes, sha1: str, recheck: bool = False) -> str: ...


ObjectReader = Callable[[str], bytes]  # store_fname "scheme://bucket/key" -> bytes, MissingSource on 404


UploadMarker = Callable[[list[str]], None]  # marks names for GC in a transaction of its own (committed)


@dataclass
class Options:
    batch_size: int = 200
    workers: int = 8
    limit: Optional[int] = None
    dry_run: bool = False
    progress_interval: float = 10.0
    max_inflight_bytes: int = 64 * 1024 * 1024
    collect_old_copies: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")


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


class Engine:
    """Moves every pending attachment to `target`. One instance per run; not shared between threads."""

    def __init__(
        self,
        db: Database,
        target: loc.Location,
        *,
        filestore: Optional[Filestore] = None,
        writer: Optional[ContentWriter] = None,
        read_object: Optional[ObjectReader] = None,
        mark_uploads: Optional[UploadMarker] = None,
        options: Optional[Options] = None,
        logger: logging.Logger = _logger,
        on_batch: Optional[Callable[[list[int]], None]] = None,
    ) -> None:
        self.db = db
        self.target = target
        self.filestore = filestore
        self.read_object = read_object
        self.mark_uploads = mark_uploads  # so uploads of a batch that never commits get collected
        self.options = options or Options()
        self.logger = logger
        self.on_batch = on_batch  # e.g. the Odoo glue invalidating its cache for these ids
        if target.kind == loc.FILE and not self.options.dry_run:
            if filestore is None:
                raise ValueError("migrating to the filestore needs the filestore directory")
            writer = writer or _FileWriter(filestore)
        if target.kind == loc.OBJECT and writer is None and not self.options.dry_run:
            raise ValueError(f"migrating to {target} needs a writer for that bucket")
        self.writer = writer
        self._pending, self._pending_params = loc.pending_sql(target)
        self._keep, self._keep_params = loc.keep_in_db_sql(target)

    # -- public ----------------------------------------------------------------------------------------
    def run(self) -> Report:
        report = Report(location=str(self.target), dry_run=self.options.dry_run)
        started = time.monotonic()
        if self.options.dry_run:  # reads only; the caller's transaction is left as it was
            self._count_by_source(report)
            report.seconds = time.monotonic() - started
            self.logger.info("%s", report.summary())
            return report
        report.pending_at_start = self._count_pending()
        total = report.pending_at_start if self.options.limit is None else min(self.options.limit,
                                                                                report.pending_at_start)
        self._ensure_gc_table()
        self.db.commit()
        self.logger.info("migration to %s: %d attachment(s) pending, batches of %d, %d worker(s)",
                         self.target, report.pending_at_start, self.options.batch_size, self.options.workers)
        self._sweep_checklist(report)
        progress = Progress(self.logger, str(self.target), total, self.options.progress_interval)
        self._removals: list[Future[int]] = []
        try:
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="attachment-migration") as pool:
                self._pool = pool
                self._batches(pool, report, progress)
                self._wait_removals(report)
        finally:
            report.remaining = self._count_pending()
            self.db.commit()
            report.seconds = time.monotonic() - started
        self._sweep_checklist(report)
        if self.filestore is not None and commits(self.db):
            self.filestore.remove_empty_dirs()
        self.logger.info("%s", progress.line())
        log = self.logger.warning if report.failed else self.logger.info
        log("%s", report.summary())
        for failure in report.failures:
            self.logger.warning("attachment %d (%s) not moved: %s", failure.attachment_id,
                                failure.store_fname or "in database", failure.reason)
        return report

    def _ensure_gc_table(self) -> None:
        """The storage GC table, when this run will mark or claim objects (not for file<->db runs)."""
        self.db.execute("SELECT to_regclass(%s) IS NOT NULL", (object_gc.TABLE,))
        if one_row(self.db)[0]:
            return
        if self.target.kind != loc.OBJECT:
            self.db.execute(f"SELECT 1 FROM ir_attachment WHERE type = 'binary' AND {self._pending}"
                            " AND store_fname LIKE '%%://%%' LIMIT 1", self._pending_params)
            if self.db.fetchone() is None:
                return
        object_gc.ensure_table(self.db)

    # -- counting --------------------------------------------------------------------------------------
    def _count_pending(self) -> int:
        self.db.execute(f"SELECT count(*) FROM ir_attachment WHERE type = 'binary' AND {self._pending}",
                        self._pending_params)
        return int(one_row(self.db)[0])

    def _count_by_source(self, report: Report) -> None:
        self.db.execute(
            f"""SELECT CASE WHEN store_fname IS NULL THEN 'db'
                            WHEN store_fname LIKE '%%://%%' THEN split_part(store_fname, '/', 1) || '//'
                                 || split_part(store_fname, '/', 3)
                            ELSE 'file' END,
                       {self._keep}, count(*)
                  FROM ir_attachment WHERE type = 'binary' AND {self._pending} GROUP BY 1, 2""",
            self._keep_params + self._pending_params,
        )
        for place, keep, count in self.db.fetchall():
            report.by_source[place] = report.by_source.get(place, 0) + count
            report.pending_at_start += count
            if keep and self.target.kind != loc.DB:
                report.kept_in_db += count
        if self.options.limit is not None:
            report.pending_at_start = min(report.pending_at_start, self.options.limit)

    # -- batches ---------------------------------------------------------------------------------------
    def _batches(self, pool: ThreadPoolExecutor, report: Report, progress: Progress) -> None:
        after_id = 0
        processed = 0
        limit = self.options.limit
        while limit is None or processed < limit:
            size = self.options.batch_size
            if limit is not None:
                size = min(size, limit - processed)
            rows = self._lock_batch(after_id, size)
            if not rows:
                report.skipped += self._count_held(after_id, None, [])  # pending, yet not lockable
                self.db.rollback()
                break
            report.skipped += self._count_held(after_id, rows[-1].id, [r.id for r in rows])
            after_id = rows[-1].id
            try:
                old_local = self._migrate_batch(pool, rows, report)
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise
            if self.on_batch:
                self.on_batch([r.id for r in rows])
            processed += len(rows)
            progress.advance(len(rows))
            self._collect(old_local, report)

    def _lock_batch(self, after_id: int, size: int) -> list[_Row]:
        self.db.execute(
            f"""SELECT id, store_fname, checksum, {self._keep}, octet_length(db_datas), file_size
                  FROM ir_attachment
                 WHERE id > %s AND type = 'binary' AND {self._pending}
                 ORDER BY id LIMIT %s
                   FOR UPDATE SKIP LOCKED""",
            [*self._keep_params, after_id, *self._pending_params, size],
        )
        return [_Row(*row) for row in self.db.fetchall()]

    def _count_held(self, after_id: int, up_to: Optional[int], taken: list[int]) -> int:
        """Pending rows in (after_id, up_to] that the SKIP LOCKED select passed over: another
        transaction (a second runner, an Odoo worker writing the row) holds them. Not waited for, not
        failed: counted, so the run can say it did not see everything through (exit status 5)."""
        query = f"SELECT count(*) FROM ir_attachment WHERE id > %s AND type = 'binary' AND {self._pending}"
        params: list[object] = [after_id, *self._pending_params]
        if up_to is not None:
            query += " AND id <= %s AND id <> ALL(%s)"
            params += [up_to, taken]
        self.db.execute(query, params)
        return int(one_row(self.db)[0])

    def _units(self, rows: list[_Row]) -> list[_Unit]:
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

    def _db_slices(self, units: list[_Unit]) -> Iterator[list[_Unit]]:
        """Fetch DB contents in slices bounded by the byte budget, not all at once."""
        pending = [u for u in units if u.store_fname is None]
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

    def _migrate_batch(self, pool: ThreadPoolExecutor, rows: list[_Row], report: Report) -> list[str]:  # noqa: C901, PLR0912, PLR0915  # issue 14 item 5
        units = self._units(rows)
        once = _Once(self.writer) if self.writer else None
        budget = _ByteBudget(self.options.max_inflight_bytes)
        futures: set[Future[_UnitResult]] = set()
        switched: list[tuple[int, str, str, int]] = []
        old_local: list[str] = []
        old_objects: list[str] = []
        sources: dict[str, _Unit] = {}  # target store_fname -> a unit that can produce its content

        # completed futures, in completion order
        finished: queue.SimpleQueue[Future[_UnitResult]] = queue.SimpleQueue()

        def drain(block: bool) -> None:
            """Apply finished units: at least one when `block`, else only those already finished."""
            while futures:
                try:
                    future = finished.get(block=block)
                except queue.Empty:
                    return
                futures.discard(future)
                result: _UnitResult = future.result()  # a fatal error propagates and aborts the batch
                budget.release(result.unit.size + result.overdraft)
                self._apply(result, report, switched, old_local, old_objects)
                if result.target_fname:
                    sources.setdefault(result.target_fname, result.unit)
                block = False

        def submit(unit: _Unit) -> None:
            while futures and budget.full_for(unit.size):
                drain(block=True)
            budget.charge(unit.size)
            future = pool.submit(self._process, unit, once, budget)
            futures.add(future)
            future.add_done_callback(finished.put)

        if self.target.kind == loc.OBJECT and self.mark_uploads is not None:
            # committed before any upload: if this batch never commits, the GC finds these objects
            expected = {self.target.uri_prefix + r.checksum for r in rows if r.checksum and not r.keep_in_db}
            if expected:
                self.mark_uploads(sorted(expected))
        self._measure(pool, units)
        try:
            for unit in units:
                if unit.store_fname is not None:
                    submit(unit)
            for chunk in self._db_slices(units):
                for unit in chunk:
                    unit.data = self._db_content(unit.rows[0].id) if len(chunk) == 1 else None
                if len(chunk) > 1:
                    self.db.execute("SELECT id, db_datas FROM ir_attachment WHERE id = ANY(%s)",
                                    ([u.rows[0].id for u in chunk],))
                    contents = {row_id: data for row_id, data in self.db.fetchall()}
                    for unit in chunk:
                        data = contents.pop(unit.rows[0].id)
                        unit.data = bytes(data) if data is not None else b""
                    del contents
                for unit in chunk:
                    submit(unit)
                drain(block=False)
            while futures:
                drain(block=True)
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)
            raise
        if switched:
            self._claim_targets(switched, sources)
            ids, fnames, shas, sizes = zip(*switched, strict=True)
            self.db.execute(
                """UPDATE ir_attachment AS a
                      SET store_fname = v.fname, db_datas = NULL, checksum = v.sha, file_size = v.size
                     FROM unnest(%s::int[], %s::varchar[], %s::varchar[], %s::int[])
                          AS v(id, fname, sha, size)
                    WHERE a.id = v.id""",
                (list(ids), list(fnames), list(shas), list(sizes)),
            )
        old_local = sorted(set(old_local))
        old_objects = sorted(set(old_objects))
        if old_objects:
            # the storage GC deletes them once committed and unreferenced (never outside its write bucket)
            object_gc.mark(self.db, old_objects)
            report.old_copies_marked += len(old_objects)
        return old_local

    def _measure(self, pool: ThreadPoolExecutor, units: list[_Unit]) -> None:
        """What each unit will bring into memory, before it is read: budgets count bytes, not rows' claims.

        DB contents: octet_length (exact). Local files: their size on disk (a stat; file_size may be
        NULL or wrong when other tools wrote the row). Objects: file_size, or a HEAD when it is NULL
        (in the pool, no bytes read); a reader that cannot tell charges the whole budget, so the unit
        is read alone. A size that still lies is corrected when read (_process charges the overdraft).
        """
        unknown = []
        for unit in units:
            recorded = unit.recorded_size()
            if unit.store_fname is None:
                unit.size = recorded or 0
            elif "://" not in unit.store_fname:
                unit.size = self.filestore.size(unit.store_fname) if self.filestore is not None else 0
            elif recorded is not None:
                unit.size = recorded
            else:
                unknown.append(unit)
        size_of: Optional[Callable[[str], int]] = getattr(self.read_object, "size", None)
        if unknown and size_of is None:
            for unit in unknown:
                unit.size = self.options.max_inflight_bytes
        elif unknown and size_of is not None:
            fnames = [u.store_fname for u in unknown if u.store_fname is not None]  # all: an object each
            for unit, size in zip(unknown, pool.map(size_of, fnames), strict=True):
                unit.size = size

    def _db_content(self, row_id: int) -> bytes:
        self.db.execute("SELECT db_datas FROM ir_attachment WHERE id = %s", (row_id,))
        data = one_row(self.db)[0]
        return bytes(data) if data is not None else b""

    def _claim_targets(self, switched: list[tuple[int, str, str, int]], sources: dict[str, _Unit]) -> None:
        """Take the objects we are about to reference out of the GC's hands (storage gc protocol).

        A claim returning True means the GC deleted the object meanwhile (it was marked by an earlier
        delete and the store's memory said it exists): upload it again before switching.
        """
        if self.target.kind != loc.OBJECT:
            return
        for fname in object_gc.claim_many(self.db, sorted({item[1] for item in switched})):
            unit = sources[fname]
            data = self._read(unit.store_fname) if unit.store_fname else self._db_content(unit.rows[0].id)
            self.logger.info("%s was collected by the GC meanwhile: uploading it again", fname)
            assert self.writer is not None  # a run to objects always has one (see __init__)
            self.writer.write(data, hashlib.sha1(data).hexdigest(), recheck=True)

    # -- one unit, in a worker thread ------------------------------------------------------------------
    def _process(self, unit: _Unit, once: Optional[_Once],
                 budget: Optional[_ByteBudget] = None) -> _UnitResult:
        result = _UnitResult(unit)
        try:
            data = unit.data if unit.store_fname is None else self._read(unit.store_fname)
        except RowError as exc:
            result.failures = [Failure(r.id, r.store_fname, str(exc)) for r in unit.rows]
            return result
        unit.data = None
        assert data is not None  # a database unit's content was fetched by _db_slices' caller
        if budget is not None and len(data) > unit.size:
            result.overdraft = len(data) - unit.size  # budgets count what was read
            budget.charge(result.overdraft)
        if unit.store_fname is not None and "://" not in unit.store_fname and self.target.kind != loc.FILE:
            # Odoo's own checklist, before the switch: survives a kill between commit and unlink
            assert self.filestore is not None  # _read found the file there
            self.filestore.mark_for_gc(unit.store_fname)
        sha1 = hashlib.sha1(data).hexdigest()
        result.sha1, result.size = sha1, len(data)
        good = []
        for row in unit.rows:
            if row.checksum and row.checksum != sha1:
                result.failures.append(Failure(row.id, row.store_fname,
                                               f"content has sha1 {sha1}, the row records {row.checksum}"))
            else:
                good.append(row)
        for row in good:
            # empty content lives in the database whatever the location, as in core
            to_db = self.target.kind == loc.DB or row.keep_in_db or not data
            (result.to_db if to_db else result.to_target).append(row)
        if result.to_target:
            assert once is not None  # a run with a target store or filestore has a writer
            try:
                result.target_fname, result.wrote = once.write(data, sha1)
            except (RowError, FilestoreError) as exc:
                result.failures += [Failure(r.id, r.store_fname, str(exc)) for r in result.to_target]
                result.to_target = []
        if result.to_db:
            result.data_for_db = data
        return result

    def _read(self, store_fname: str) -> bytes:
        if "://" in store_fname:
            if self.read_object is None:
                raise MigrationMisconfigured(f"no object store configured to read {store_fname}")
            return self.read_object(store_fname)
        if self.filestore is None:
            raise MigrationMisconfigured(f"no filestore directory configured to read {store_fname}")
        try:
            return self.filestore.read(store_fname)
        except MissingFile as exc:
            raise MissingSource(str(exc)) from None
        except FilestoreError as exc:
            raise RowError(str(exc)) from None

    # -- main thread: record the outcome of one unit ---------------------------------------------------
    def _apply(self, result: _UnitResult, report: Report, switched: list[tuple[int, str, str, int]],
               old_local: list[str], old_objects: list[str]) -> None:
        for failure in result.failures:
            report.add_failure(failure)
        moved = result.to_target + result.to_db
        if result.wrote:
            report.contents_written += 1
        for row in result.to_target:  # only rows whose content was written: a name and a sha1
            assert result.target_fname is not None and result.sha1 is not None
            switched.append((row.id, result.target_fname, result.sha1, result.size))
        for row in result.to_db:
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
                report.kept_in_db += 1
        result.data_for_db = None
        for row in moved:
            report.moved += 1
            report.bytes_moved += result.size
            if row.store_fname and row.store_fname != result.target_fname:
                (old_objects if "://" in row.store_fname else old_local).append(row.store_fname)

    # -- old copies ------------------------------------------------------------------------------------
    def _collect(self, old_local: list[str], report: Report) -> None:
        """After the commit: remove the old local files no row references any more.

        Old objects were marked in the switch transaction; the storage GC deletes them (after its grace
        period, so it never races a writer between its upload and its INSERT).
        """
        if not old_local:
            return
        if not (self.options.collect_old_copies and commits(self.db)):
            report.old_copies_kept += len(old_local)
            return
        unreferenced = self._unreferenced(old_local)
        if unreferenced is None:
            report.old_copies_kept += len(old_local)
            return
        report.old_copies_kept += len(old_local) - len(unreferenced)
        # unlinks run in the pool, next to the next batch's uploads; the checklist covers a kill
        self._removals.append(self._pool.submit(self._remove_files, unreferenced))

    def _unreferenced(self, fnames: list[str]) -> Optional[list[str]]:
        """Odoo's filestore GC discipline: SHARE lock (waits for uncommitted inserts), then check.

        None when the lock is not available in time: the checklist keeps the names for a later sweep.
        Names still referenced leave the checklist, as in core's GC.
        """
        self.db.execute("SET LOCAL lock_timeout TO '10s'")
        try:
            self.db.execute("LOCK ir_attachment IN SHARE MODE")
        except Exception as exc:
            self.db.rollback()
            self.logger.info("filestore collection postponed (%s)", exc)
            return None
        self.db.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname = ANY(%s)",
                        (fnames,))
        referenced = {row[0] for row in self.db.fetchall()}
        self.db.commit()
        assert self.filestore is not None  # only local copies (a filestore's) come here
        for fname in referenced:
            self.filestore.unmark(fname)
        return [f for f in fnames if f not in referenced]

    def _remove_files(self, fnames: list[str]) -> int:
        removed = 0
        assert self.filestore is not None  # only local copies (a filestore's) come here
        for fname in fnames:
            removed += self.filestore.remove(fname)
            self.filestore.unmark(fname)
        return removed

    def _wait_removals(self, report: Report) -> None:
        for future in self._removals:
            try:
                report.old_copies_removed += future.result()
            except OSError as exc:  # left on the checklist: the next run's sweep retries
                self.logger.warning("could not remove an old local copy: %s", exc)
        self._removals = []

    def _sweep_checklist(self, report: Report) -> None:
        """Collect local copies a killed run switched away from but could not remove yet.

        Only when the target is not the filestore: then nothing writes local files concurrently, so no
        in-flight create can be about to reference a file (with target `file`, core's own GC does this).
        """
        if (self.filestore is None or self.target.kind == loc.FILE or not self.options.collect_old_copies
                or not commits(self.db)):
            return
        names = self.filestore.checklist()
        for start in range(0, len(names), 1000):
            unreferenced = self._unreferenced(names[start:start + 1000])
            if unreferenced:
                report.old_copies_removed += self._remove_files(unreferenced)


class _FileWriter:
    def __init__(self, filestore: Filestore) -> None:
        self.filestore = filestore

    def write(self, data: bytes, sha1: str, recheck: bool = False) -> str:
        return self.filestore.write(data, sha1)
