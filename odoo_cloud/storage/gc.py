"""Garbage collection of objects no attachment references any more.

Why a table and not a checklist directory: the mark must be transactional
with the unlink (a rolled-back unlink loses nothing) and visible to every
front-end (no local disk). The SQL works with any DB-API cursor using `%s`
parameters: Odoo's cursor (REPEATABLE READ) and plain psycopg2 (READ COMMITTED).

Rows are candidates, not a set: duplicates are allowed (no unique key), so
an autonomous insert never waits for, nor conflicts with, a row that the
caller's own transaction holds — Odoo's REPEATABLE READ would otherwise
raise serialization failures on every upsert of a name marked concurrently.

Protocol (all three parts are needed for correctness):

* `mark(cr, fnames)` records candidates: in the unlinking transaction for
  deletes/overwrites (reason `unlink`), and in an autonomous (committed)
  transaction for fresh uploads (reason `upload`), so that objects uploaded by
  a transaction that rolls back (or by an Odoo test) are collected too.
* `claim(cr, fname)` is called by a writer, in its transaction, before it
  relies on an object that already exists: it deletes the name's candidate
  rows (they stay locked until the writer's transaction ends, so the
  collector skips them) and tells whether the GC collected the object, in
  which case the writer uploads again instead of trusting its in-process
  memory of existing keys. Under REPEATABLE READ a collection that happened
  after the writer's snapshot makes the claim fail with a serialization error,
  which Odoo retries with a fresh snapshot.
* `collect(...)` works in two short transactions per batch. Phase 1 takes
  candidates older than `grace_seconds` (a writer between its upload and its
  INSERT is younger than that) of names without younger candidates, locks them
  (`FOR UPDATE SKIP LOCKED`), locks `ir_attachment` in SHARE mode (waits for
  uncommitted inserts, like Odoo's own filestore GC) only to check references,
  and turns the unreferenced ones into one `collecting` row per name. Phase 2,
  without the table lock (network deletes may take seconds and would block
  every attachment write), deletes the objects of the `collecting` rows it can
  lock — a writer claiming a name meanwhile holds or removed its row, so that
  object is skipped and the writer uploads again — in bulk (S3 DeleteObjects),
  from the write bucket only, and records them as `collected`. Batches are
  bounded by count and time and committed one by one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from .base import ObjectStore
from .errors import InvalidKey
from .keys import is_content_key, validate_key
from .uri import parse_uri

_logger = logging.getLogger(__name__)

TABLE = "object_storage_gc"
DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_GRACE_SECONDS = 3600
#: collected names are remembered this long so writers with a stale memory of
#: existing keys (KnownKeys TTL is 10 minutes) learn the object is gone
COLLECTED_RETENTION_SECONDS = 24 * 3600

UNLINK = "unlink"
UPLOAD = "upload"
COLLECTING = "collecting"  # unreferenced, about to be deleted (between the collector's two phases)
COLLECTED = "collected"

Cursor = Any  # DB-API cursor with %s parameters (psycopg2, odoo.sql_db.Cursor)


def ensure_table(cr: Cursor) -> None:
    cr.execute(f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            id bigserial PRIMARY KEY,
            store_fname varchar NOT NULL,
            reason varchar NOT NULL DEFAULT '{UNLINK}',
            marked_at timestamp without time zone NOT NULL DEFAULT (now() at time zone 'utc')
        )""")
    cr.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_fname_idx ON {TABLE} (store_fname)")
    cr.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_marked_idx ON {TABLE} (marked_at)")


def _collectable(name: str) -> bool:
    """An object-store reference the GC may ever delete: valid, and a content key (keys.validate_key).

    Anything else (a local file name, an invalid reference such as `s3://b/../x/k`) is never marked;
    an invalid one is logged, since only a hand-edited or foreign row can carry it."""
    try:
        uri = parse_uri(name)
    except InvalidKey as exc:
        _logger.warning("object storage GC: ignoring invalid object reference: %s", exc)
        return False
    return uri is not None and is_content_key(uri.key)


def mark(cr: Cursor, store_fnames: Iterable[str], reason: str = UNLINK) -> int:
    """Record object-store references as GC candidates; other names (local files, invalid
    references, keys that are not content keys) are ignored."""
    names = sorted({name for name in store_fnames if _collectable(name)})
    if not names:
        return 0
    cr.execute(f"""
        INSERT INTO {TABLE} (store_fname, reason, marked_at)
        SELECT name, %s, clock_timestamp() at time zone 'utc' FROM unnest(%s::varchar[]) AS name""",
               (reason, names))
    return len(names)


def claim_marks(cr: Cursor, store_fname: str) -> set[str]:
    """Delete (and keep locked until our transaction ends) every row of `store_fname`;
    the reasons found, COLLECTED included when the object was collected."""
    cr.execute(f"DELETE FROM {TABLE} WHERE store_fname = %s RETURNING reason", (store_fname,))
    reasons = {row[0] for row in cr.fetchall()}
    if not {COLLECTED, COLLECTING} & reasons:
        # READ COMMITTED: a collection committed while our DELETE waited is visible now
        cr.execute(f"SELECT 1 FROM {TABLE} WHERE store_fname = %s AND reason = %s LIMIT 1",
                   (store_fname, COLLECTED))
        if cr.fetchone():
            reasons.add(COLLECTED)
    return reasons


def claim(cr: Cursor, store_fname: str) -> bool:
    """Take `store_fname` out of the GC's hands in the caller's transaction; True when the
    GC collected the object (or was about to), i.e. the caller must upload it again before
    referencing it."""
    return bool({COLLECTED, COLLECTING} & claim_marks(cr, store_fname))


def status(cr: Cursor, store_fname: str) -> set[str]:
    """Reasons currently recorded for `store_fname` (empty: not a candidate)."""
    cr.execute(f"SELECT DISTINCT reason FROM {TABLE} WHERE store_fname = %s", (store_fname,))
    return {row[0] for row in cr.fetchall()}


def write_object(cr: Cursor, store: ObjectStore, key: str, data: bytes,
                 mark_autonomously: Callable[[list[str]], None]) -> str:
    """Store `data` for a row the caller's transaction is about to insert/update; returns its store_fname.

    `mark_autonomously(names)` must mark (reason UPLOAD) in a transaction of its own that
    commits at once (a separate connection), so an upload survives as a GC candidate
    when the caller's transaction rolls back.
    """
    validate_key(key, write=True)  # before any claim or mark: InvalidKey, nothing recorded
    fname = store.uri(key)
    collected = claim(cr, fname)
    if collected:
        # about to upload again: a candidate of its own, so a rollback leaves no orphan behind
        mark_autonomously([fname])
    uploaded = store.put(key, data, recheck=collected)
    if uploaded and not collected:
        mark_autonomously([fname])
    return fname


def pending(cr: Cursor, prefix: Optional[str] = None) -> list[str]:
    """Names with candidate rows (not collected), for tests and reports."""
    query = f"SELECT DISTINCT store_fname FROM {TABLE} WHERE reason <> %s"
    params: list[Any] = [COLLECTED]
    if prefix:
        query += " AND store_fname LIKE %s"
        params.append(_like_prefix(prefix))
    cr.execute(query + " ORDER BY store_fname", params)
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

    `commit` ends each phase's transaction (Odoo: `cr.commit`; psycopg2: `conn.commit`);
    without it a single batch runs and the caller commits. Marks of other buckets are
    never acted upon: objects are only deleted from the bucket this process writes.
    """
    report = CollectReport()
    started = time.monotonic()
    prefix = store.prefix
    while True:
        if time.monotonic() - started >= max_seconds:
            report.stopped_by_time = True
            break
        picked = _select_unreferenced(cr, prefix, report, batch_size=batch_size, grace_seconds=grace_seconds,
                                      attachment_table=attachment_table, lock_timeout=lock_timeout)
        if commit is not None:
            commit()
        taken, progressed = _delete_selected(cr, store, prefix, report, batch_size=batch_size,
                                             attachment_table=attachment_table)
        report.batches += 1
        if commit is None:
            break
        commit()
        # a batch whose deletes all failed would be selected again at once: stop until the next run
        if (picked < batch_size and taken < batch_size) or (taken and not progressed):
            break
    cr.execute(f"DELETE FROM {TABLE} WHERE reason = %s "
               "AND marked_at < (clock_timestamp() at time zone 'utc') - %s * interval '1 second'",
               (COLLECTED, COLLECTED_RETENTION_SECONDS))
    report.purged = cr.rowcount
    if commit is not None:
        commit()
    report.seconds = time.monotonic() - started
    _logger.info("object storage GC of %s: %s", prefix, report)
    return report


def _select_unreferenced(cr: Cursor, prefix: str, report: CollectReport, *, batch_size: int,
                         grace_seconds: float, attachment_table: str, lock_timeout: str) -> int:
    """Phase 1, short, under a SHARE lock on the attachments: turn old candidates nobody references
    into one COLLECTING row per name. Returns the number of candidate rows taken."""
    cr.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
    cr.execute(f"""
        SELECT g.id, g.store_fname FROM {TABLE} g
         WHERE g.reason IN %(candidates)s AND g.store_fname LIKE %(prefix)s
           AND g.marked_at <= (clock_timestamp() at time zone 'utc') - %(grace)s * interval '1 second'
           AND NOT EXISTS (SELECT 1 FROM {TABLE} young
                            WHERE young.store_fname = g.store_fname AND young.reason IN %(candidates)s
                              AND young.marked_at > (clock_timestamp() at time zone 'utc')
                                                    - %(grace)s * interval '1 second')
         ORDER BY g.marked_at
         LIMIT %(limit)s
           FOR UPDATE OF g SKIP LOCKED""",
               {"candidates": (UNLINK, UPLOAD), "prefix": _like_prefix(prefix), "grace": grace_seconds,
                "limit": batch_size})
    rows = cr.fetchall()
    if not rows:
        return 0
    names = sorted({name for _id, name in rows})
    # waits for transactions that inserted/updated attachments and are not committed yet
    cr.execute(f'LOCK TABLE "{attachment_table}" IN SHARE MODE')
    cr.execute(f'SELECT DISTINCT store_fname FROM "{attachment_table}" WHERE store_fname = ANY(%s)', (names,))
    referenced = {row[0] for row in cr.fetchall()}
    cr.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", ([row_id for row_id, _name in rows],))
    mark(cr, [name for name in names if name not in referenced], reason=COLLECTING)
    report.kept_referenced += len(referenced)
    return len(rows)


def _delete_selected(cr: Cursor, store: ObjectStore, prefix: str, report: CollectReport, *, batch_size: int,
                     attachment_table: str) -> tuple[int, bool]:
    """Phase 2, without the table lock (network deletes can take seconds): delete the objects of
    COLLECTING rows still ours. A writer that claimed one meanwhile deleted or locked its row,
    so it is skipped here and the writer uploads again. Returns (rows taken, any progress)."""
    cr.execute(f"""
        SELECT id, store_fname FROM {TABLE}
         WHERE reason = %s AND store_fname LIKE %s
         ORDER BY id LIMIT %s
           FOR UPDATE SKIP LOCKED""", (COLLECTING, _like_prefix(prefix), batch_size))
    rows = cr.fetchall()
    if not rows:
        return 0, False
    ids_by_name: dict[str, list[int]] = {}
    for row_id, name in rows:
        ids_by_name.setdefault(name, []).append(row_id)
    # belt and braces for writers that bypass claim(): a committed reference keeps the object
    cr.execute(f'SELECT DISTINCT store_fname FROM "{attachment_table}" WHERE store_fname = ANY(%s)',
               (sorted(ids_by_name),))
    referenced = {row[0] for row in cr.fetchall()}
    keys = {}
    invalid = set()
    for name in ids_by_name:
        if not _collectable(name):  # marked by an older version or by hand: dropped, never deleted
            invalid.add(name)
            continue
        uri = parse_uri(name)
        assert uri is not None and uri.bucket == store.bucket  # guaranteed by the LIKE prefix
        if name not in referenced:
            keys[uri.key] = name
    failed = store.delete_many(sorted(keys)) if keys else {}
    for key, error in failed.items():
        report.failed += 1
        _logger.warning("object storage GC could not delete %s: %s", keys[key], error)
    collected = sorted(name for key, name in keys.items() if key not in failed)
    done = [row_id for name, ids in ids_by_name.items()
            if name in referenced or name in collected or name in invalid for row_id in ids]
    if done:
        cr.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (done,))
    mark(cr, collected, reason=COLLECTED)
    report.deleted.extend(collected)
    report.kept_referenced += len(referenced)
    return len(rows), bool(done)
