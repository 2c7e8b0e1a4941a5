"""The migration engine: moves ir_attachment contents between the database, the filestore and buckets.

One runner works in batches: it locks a batch of pending rows (``FOR UPDATE SKIP LOCKED``, so a second
runner takes other rows), reads and uploads their contents with a bounded thread pool, switches the rows
in one UPDATE and commits. Only then are the old copies collected, and only those no row references any
more. Killed at any point, the next run finds the rows still pending and does them again; content is
addressed by sha1, so redoing an upload is harmless. One batch's steps are `batch.BatchMigration`'s.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional, Protocol

from .. import gc as object_gc
from . import location as loc
from .batch import BatchMigration, _Row
from .db import Database, commits, one_row
from .filestore import Filestore
from .report import Progress, Report

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
                old_local = BatchMigration(self, pool, rows, report).run()
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
