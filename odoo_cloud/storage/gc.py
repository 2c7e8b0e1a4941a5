"""Garbage collection of objects no attachment references any more.

Why a table and not a checklist directory: the mark must be transactional
with the unlink (a rolled-back unlink loses nothing) and visible to every
front-end (no local disk). The SQL works with any DB-API cursor using `%s`
parameters: Odoo's cursor and plain psycopg2.

Protocol (all three parts are needed for correctness):

* `mark(cr, fnames)` records candidates: in the unlinking transaction for
  deletes/overwrites, and in an autonomous (committed) transaction for fresh
  uploads, so that objects uploaded by a transaction that rolls back (or by
  an Odoo test) are collected too.
* `claim(cr, fname)` is called by a writer, in its transaction, before it
  relies on an object that already exists: it removes the mark (a concurrent
  collector skips or waits for locked marks) and returns True when the object
  was collected meanwhile, so the writer re-uploads instead of trusting its
  in-process memory of existing keys.
* `collect(...)` takes marks older than `grace_seconds` (a writer between its
  upload and its INSERT is younger than that), locks them (`FOR UPDATE SKIP
  LOCKED`), locks `ir_attachment` in SHARE mode (waits for uncommitted
  inserts, like Odoo's own filestore GC), deletes the unreferenced objects of
  the write bucket only, and records them as collected. Batches are bounded
  by count and time and committed one by one.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from .base import ObjectStore
from .errors import StorageError
from .uri import parse_uri

_logger = logging.getLogger(__name__)

TABLE = "object_storage_gc"
DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_GRACE_SECONDS = 3600
#: collected marks are kept this long so writers with a stale memory of
#: existing keys (KnownKeys TTL is 10 minutes) learn the object is gone
COLLECTED_RETENTION_SECONDS = 24 * 3600

Cursor = Any  # DB-API cursor with %s parameters (psycopg2, odoo.sql_db.Cursor)


def ensure_table(cr: Cursor) -> None:
    cr.execute(f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            store_fname varchar PRIMARY KEY,
            marked_at timestamp without time zone NOT NULL DEFAULT (now() at time zone 'utc'),
            collected_at timestamp without time zone
        )""")
    cr.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_pending_idx ON {TABLE} (marked_at) "
               "WHERE collected_at IS NULL")


def mark(cr: Cursor, store_fnames: Iterable[str]) -> int:
    """Record object-store references as GC candidates; other names are ignored. Re-marking
    a collected or old mark makes it pending and young again."""
    names = sorted({name for name in store_fnames if parse_uri(name)})
    if not names:
        return 0
    cr.execute(f"""
        INSERT INTO {TABLE} (store_fname, marked_at)
        SELECT name, clock_timestamp() at time zone 'utc' FROM unnest(%s::varchar[]) AS name
        ON CONFLICT (store_fname) DO UPDATE
            SET marked_at = EXCLUDED.marked_at, collected_at = NULL""", (names,))
    return len(names)


PENDING = "pending"
COLLECTED = "collected"


def status(cr: Cursor, store_fname: str) -> Optional[str]:
    """None (not marked), PENDING or COLLECTED; reads without locking."""
    cr.execute(f"SELECT collected_at FROM {TABLE} WHERE store_fname = %s", (store_fname,))
    row = cr.fetchone()
    if row is None:
        return None
    return PENDING if row[0] is None else COLLECTED


def claim(cr: Cursor, store_fname: str) -> Optional[str]:
    """Take `store_fname` out of the GC's hands in the caller's transaction.

    Returns the state of the mark that was removed (None when there was none).
    COLLECTED means the object was deleted by the GC (maybe just now, while we
    waited for its lock): the caller must upload again even if it believes the
    key exists. The removed mark stays locked by the caller's transaction
    until it ends: the collector skips it.
    """
    cr.execute(f"DELETE FROM {TABLE} WHERE store_fname = %s RETURNING collected_at", (store_fname,))
    row = cr.fetchone()
    if row is None:
        return None
    return PENDING if row[0] is None else COLLECTED


def write_object(cr: Cursor, store: ObjectStore, key: str, data: bytes,
                 mark_autonomously: Callable[[list[str]], None]) -> str:
    """Store `data` for a row the caller's transaction is about to insert/update; returns its store_fname.

    `mark_autonomously(names)` must mark in a transaction of its own that commits at once
    (a separate connection), so an upload survives as a GC candidate when the caller's
    transaction rolls back. It is never called for a mark this transaction holds locked
    (that would wait for ourselves).
    """
    fname = store.uri(key)
    if status(cr, fname) == COLLECTED:
        # we are about to upload again: make the object a young pending candidate first
        mark_autonomously([fname])
        before = COLLECTED
    else:
        before = None
    claimed = claim(cr, fname)
    uploaded = store.put(key, data, recheck=COLLECTED in (before, claimed))
    if uploaded and claimed is None:
        mark_autonomously([fname])
    return fname


def pending(cr: Cursor, prefix: Optional[str] = None) -> list[str]:
    """Names still marked and not collected (for tests and reports)."""
    if prefix:
        cr.execute(f"SELECT store_fname FROM {TABLE} WHERE collected_at IS NULL AND store_fname LIKE %s "
                   "ORDER BY store_fname", (_like_prefix(prefix),))
    else:
        cr.execute(f"SELECT store_fname FROM {TABLE} WHERE collected_at IS NULL ORDER BY store_fname")
    return [row[0] for row in cr.fetchall()]


@dataclass
class CollectReport:
    deleted: list[str] = field(default_factory=list)
    kept_referenced: int = 0
    failed: int = 0
    batches: int = 0
    purged: int = 0
    stopped_by_time: bool = False
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"deleted {len(self.deleted)} object(s), {self.kept_referenced} still referenced, "
                f"{self.failed} failed, {self.batches} batch(es) in {self.seconds:.2f}s"
                + (" (time budget reached)" if self.stopped_by_time else ""))


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def collect(cr: Cursor, store: ObjectStore, *, commit: Optional[Callable[[], None]] = None,
            batch_size: int = DEFAULT_BATCH_SIZE, max_seconds: float = DEFAULT_MAX_SECONDS,
            grace_seconds: float = DEFAULT_GRACE_SECONDS, attachment_table: str = "ir_attachment",
            lock_timeout: str = "10s") -> CollectReport:
    """Delete unreferenced marked objects of `store`'s write bucket, batch by batch.

    `commit` ends each batch's transaction (Odoo: `cr.commit`; psycopg2: `conn.commit`);
    without it a single batch runs and the caller commits. Marks of other buckets are
    never acted upon: objects are only deleted from the bucket this process writes.
    """
    report = CollectReport()
    started = time.monotonic()
    prefix = f"{store.scheme}://{store.bucket}/"
    while True:
        if time.monotonic() - started >= max_seconds:
            report.stopped_by_time = True
            break
        done = _collect_batch(cr, store, prefix, report, batch_size, grace_seconds, attachment_table,
                              lock_timeout)
        report.batches += 1
        if commit is None:
            break
        commit()
        if done:
            break
    cr.execute(f"DELETE FROM {TABLE} WHERE collected_at < (now() at time zone 'utc') - %s * interval '1 second'",
               (COLLECTED_RETENTION_SECONDS,))
    report.purged = cr.rowcount
    if commit is not None:
        commit()
    report.seconds = time.monotonic() - started
    _logger.info("object storage GC of %s: %s", prefix, report)
    return report


def _collect_batch(cr: Cursor, store: ObjectStore, prefix: str, report: CollectReport, batch_size: int,
                   grace_seconds: float, attachment_table: str, lock_timeout: str) -> bool:
    """One batch in the current transaction; True when nothing is left to do."""
    cr.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
    cr.execute(f"""
        SELECT store_fname FROM {TABLE}
         WHERE collected_at IS NULL AND store_fname LIKE %s
           AND marked_at <= (now() at time zone 'utc') - %s * interval '1 second'
         ORDER BY marked_at
         LIMIT %s
           FOR UPDATE SKIP LOCKED""", (_like_prefix(prefix), grace_seconds, batch_size))
    names = [row[0] for row in cr.fetchall()]
    if not names:
        return True
    # waits for transactions that inserted/updated attachments and are not committed yet
    cr.execute(f'LOCK TABLE "{attachment_table}" IN SHARE MODE')
    cr.execute(f'SELECT DISTINCT store_fname FROM "{attachment_table}" WHERE store_fname = ANY(%s)', (names,))
    referenced = {row[0] for row in cr.fetchall()}
    collected: list[str] = []
    for name in names:
        if name in referenced:
            continue
        uri = parse_uri(name)
        assert uri is not None and uri.bucket == store.bucket  # guaranteed by the LIKE prefix
        try:
            store.delete(uri.key)
        except StorageError as exc:
            report.failed += 1
            _logger.warning("object storage GC could not delete %s: %s", name, exc)
            continue
        collected.append(name)
    if referenced:
        cr.execute(f"DELETE FROM {TABLE} WHERE store_fname = ANY(%s)", (sorted(referenced),))
        report.kept_referenced += len(referenced)
    if collected:
        cr.execute(f"UPDATE {TABLE} SET collected_at = now() at time zone 'utc' WHERE store_fname = ANY(%s)",
                   (collected,))
        report.deleted.extend(collected)
    # a batch whose deletes all failed would be selected again at once: stop until the next run
    progressed = bool(referenced or collected)
    return len(names) < batch_size or not progressed
