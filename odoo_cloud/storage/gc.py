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

Phase 1 takes its SHARE lock *before* any other statement of its transaction:
under REPEATABLE READ (Odoo's cursors) the snapshot is taken by the first
query, and rows committed between a snapshot and a later lock would be
invisible to the reference check.

A bucket may be shared by several databases (one server's databases on a
bucket without `{db}`, a duplicated database, a restored dump reading the
original's bucket). Before deleting anything the collector asks
`ownership.plan_collection` who else is known there (ownership records in the
bucket): it refuses the whole bucket — saying so once — unless every other
database is reachable on its own PostgreSQL cluster; phase 2 then checks the
names in each of those databases too (`_RemoteCheck`), under the same kind of
locks, and leaves a `collected-elsewhere` row there that the other database's
writers see when they claim the name (docs/DATA_SAFETY.md).

Cross-database claims: a writer's `claim()` also takes a FOR SHARE lock on one
row of `object_storage_gc_epoch` (256 rows, chosen by a hash of the name). A
collector of another database bumps those rows before its reference check:
it waits for writers between their claim and their commit, and a REPEATABLE
READ writer whose snapshot predates the bump gets a serialization failure on
its claim (Odoo retries with a fresh snapshot, which sees the
`collected-elsewhere` row and uploads again).
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from psycopg2 import sql

from . import ownership
from .base import ObjectStore
from .errors import InvalidKey, StorageError
from .keys import is_content_key, validate_key
from .uri import like_prefix, parse_uri

_logger = logging.getLogger(__name__)

TABLE = "object_storage_gc"
DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_GRACE_SECONDS = 3600
#: below this a writer between its upload and its INSERT (an import, a long cron transaction) could
#: lose its object: longer than Odoo's default limit_time_real (120 s) with a wide margin
MIN_GRACE_SECONDS = 600
GRACE_PARAMETER = "object_storage.gc.grace_seconds"
EPOCH_TABLE = "object_storage_gc_epoch"
EPOCH_PARTS = 256
#: collected names are remembered this long so writers with a stale memory of
#: existing keys (KnownKeys TTL is 10 minutes) learn the object is gone
COLLECTED_RETENTION_SECONDS = 24 * 3600

UNLINK = "unlink"
UPLOAD = "upload"
COLLECTING = "collecting"  # unreferenced, about to be deleted (between the collector's two phases)
COLLECTED = "collected"
#: written into ANOTHER database's table by a collector that is deleting the object from a shared
#: bucket: that database's writers must upload again (same meaning as COLLECTED for claim())
COLLECTED_ELSEWHERE = "collected-elsewhere"
GONE = (COLLECTED, COLLECTING, COLLECTED_ELSEWHERE)

Cursor = Any  # DB-API cursor with %s parameters (psycopg2, odoo.sql_db.Cursor)


def ensure_table(cr: Cursor) -> None:
    """Create the GC tables, or bring older ones up to date: idempotent, so that it is both the install
    and the upgrade path (the Odoo glue runs it from `ir.attachment.init()`, at install and every `-u`).
    A later schema change goes here as an idempotent statement (`ADD COLUMN IF NOT EXISTS`...)."""
    table = sql.Identifier(TABLE)
    cr.execute(sql.SQL("""
        CREATE TABLE IF NOT EXISTS {} (
            id bigserial PRIMARY KEY,
            store_fname varchar NOT NULL,
            reason varchar NOT NULL DEFAULT {},
            marked_at timestamp without time zone NOT NULL DEFAULT (now() at time zone 'utc')
        )""").format(table, sql.Literal(UNLINK)))
    for index, column in ((f"{TABLE}_fname_idx", "store_fname"), (f"{TABLE}_marked_idx", "marked_at")):
        cr.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(index), table, sql.Identifier(column)))
    ensure_epochs(cr, check=False)


def drop_tables(cr: Cursor) -> None:
    """Drop the GC tables (the Odoo glue's uninstall hook). Pending candidates are forgotten: their
    objects are left in the bucket (a leak, never a loss), as nothing collects them any more."""
    cr.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(sql.Identifier(TABLE),
                                                              sql.Identifier(EPOCH_TABLE)))


def ensure_epochs(cr: Cursor, check: bool = True) -> None:
    """The epoch rows `claim()` locks. `check`: look first, so that a registry load of a database
    that has them takes no lock at all."""
    if check:
        cr.execute("SELECT to_regclass(%s) IS NOT NULL", (EPOCH_TABLE,))
        if cr.fetchone()[0]:
            cr.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(EPOCH_TABLE)))
            if cr.fetchone()[0] >= EPOCH_PARTS:
                return
    table = sql.Identifier(EPOCH_TABLE)
    cr.execute(sql.SQL("""
        CREATE TABLE IF NOT EXISTS {} (
            part smallint PRIMARY KEY,
            epoch bigint NOT NULL DEFAULT 0
        )""").format(table))
    cr.execute(sql.SQL("INSERT INTO {} (part) SELECT generate_series(0, %s) ON CONFLICT DO NOTHING")
               .format(table), (EPOCH_PARTS - 1,))


def epoch_part(store_fname: str) -> int:
    """The epoch row guarding `store_fname` (stable across processes and databases)."""
    return hashlib.sha1(store_fname.encode("utf-8")).digest()[0] % EPOCH_PARTS


def lock_epochs(cr: Cursor, store_fnames: Iterable[str]) -> None:
    """FOR SHARE on the epoch rows of `store_fnames`, held until the caller's transaction ends: a
    collector of another database sharing the bucket waits for us, and we for it (see module doc).
    The table is created by `ensure_table` (the Odoo glue runs it at every registry load)."""
    parts = sorted({epoch_part(name) for name in store_fnames})
    if parts:
        cr.execute(f"SELECT part FROM {EPOCH_TABLE} WHERE part = ANY(%s) ORDER BY part FOR SHARE", (parts,))
        cr.fetchall()


def check_grace_seconds(value: float, source: str = GRACE_PARAMETER) -> float:
    """`value` when it is a safe grace period; ValueError naming `source` and the minimum otherwise."""
    if not value >= MIN_GRACE_SECONDS:
        raise ValueError(f"{source}={value!r}: expected at least {MIN_GRACE_SECONDS} seconds (a writer "
                         "between its upload and its INSERT must never see its object collected; "
                         "docs/DATA_SAFETY.md)")
    return value


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


def claim_marks_many(cr: Cursor, store_fnames: Iterable[str]) -> dict[str, set[str]]:
    """The claim protocol, for any number of names in at most three statements: delete (and keep
    locked until our transaction ends) every row of each name; per name, the reasons found,
    COLLECTED included when the object was collected (here or by another database's collector
    sharing the bucket).

    The one implementation behind `claim` (a writer of Odoo) and `claim_many` (the migration engine).
    """
    names = sorted(set(store_fnames))
    if not names:
        return {}
    lock_epochs(cr, names)  # a collector of another database sharing the bucket waits for us
    cr.execute(f"DELETE FROM {TABLE} WHERE store_fname = ANY(%s) RETURNING store_fname, reason", (names,))
    reasons: dict[str, set[str]] = {name: set() for name in names}
    for name, reason in cr.fetchall():
        reasons[name].add(reason)
    undecided = [name for name in names if not set(GONE) & reasons[name]]
    if undecided:
        # READ COMMITTED: a collection committed while our DELETE waited is visible now
        cr.execute(f"SELECT DISTINCT store_fname FROM {TABLE} WHERE store_fname = ANY(%s) AND reason IN %s",
                   (undecided, (COLLECTED, COLLECTED_ELSEWHERE)))
        for (name,) in cr.fetchall():
            reasons[name].add(COLLECTED)
    return reasons


def claim_marks(cr: Cursor, store_fname: str) -> set[str]:
    """`claim_marks_many` for one name: the reasons that name had."""
    return claim_marks_many(cr, [store_fname])[store_fname]


def claim_many(cr: Cursor, store_fnames: Iterable[str]) -> list[str]:
    """Take `store_fnames` out of the GC's hands in the caller's transaction; the names (sorted)
    whose object the GC collected (or was about to): the caller must upload those again before
    referencing them."""
    return [name for name, found in claim_marks_many(cr, store_fnames).items() if set(GONE) & found]


def claim(cr: Cursor, store_fname: str) -> bool:
    """`claim_many` for one name: True when the caller must upload the object again."""
    return bool(claim_many(cr, [store_fname]))


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
    query = f"SELECT DISTINCT store_fname FROM {TABLE} WHERE reason NOT IN %s"
    params: list[Any] = [(COLLECTED, COLLECTED_ELSEWHERE)]
    if prefix:
        query += " AND store_fname LIKE %s"
        params.append(like_prefix(prefix))
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
    #: why nothing was deleted in this bucket (another database cannot be checked, prod's bucket...)
    refused: Optional[str] = None
    #: other databases whose references were checked too
    peers: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.refused:
            return f"refused: {self.refused}"
        return (f"deleted {len(self.deleted)} object(s), {self.kept_referenced} still referenced, "
                f"{self.failed} failed, {self.batches} batch(es) in {self.seconds:.2f}s"
                + (f", also checked in {', '.join(self.peers)}" if self.peers else "")
                + (" (time budget reached)" if self.stopped_by_time else ""))


def collect(cr: Cursor, store: ObjectStore, *, commit: Optional[Callable[[], None]] = None,
            batch_size: int = DEFAULT_BATCH_SIZE, max_seconds: float = DEFAULT_MAX_SECONDS,
            grace_seconds: float = DEFAULT_GRACE_SECONDS, attachment_table: str = "ir_attachment",
            lock_timeout: str = "10s", plan: Optional[ownership.CollectionPlan] = None,
            running_env: Optional[str] = None, unsafe: bool = False,
            connect: Optional[ownership.Connect] = None) -> CollectReport:
    """Delete unreferenced marked objects of `store`'s write bucket, batch by batch.

    `commit` ends each phase's transaction (Odoo: `cr.commit`; psycopg2: `conn.commit`);
    without it a single batch runs in the caller's transaction (which must not have taken its
    snapshot yet under REPEATABLE READ). Marks of other buckets are never acted upon: objects are
    only deleted from the bucket this process writes, and only when `plan` (default:
    `ownership.plan_collection(cr, store, running_env=..., unsafe=..., connect=...)`) does not
    refuse it; the other databases it lists are checked in every batch.
    """
    report = CollectReport()
    started = time.monotonic()
    prefix = store.prefix
    if commit is None:
        # one transaction for everything: its snapshot must come after the lock (see _lock_attachments)
        _lock_attachments(cr, attachment_table, lock_timeout)
    if plan is None:
        plan = ownership.plan_collection(cr, store, running_env=running_env, unsafe=unsafe, connect=connect)
    for note in plan.notes:
        _logger.info("object storage GC of %s: %s", prefix, note)
    if plan.refusal:
        report.refused = plan.refusal
        ownership.say_once(_logger, prefix, plan.refusal)
    else:
        report.peers = list(plan.peers)
    if commit is not None:
        commit()  # phase 1 must start a transaction of its own (its lock before its snapshot)
    while not report.refused:
        if time.monotonic() - started >= max_seconds:
            report.stopped_by_time = True
            break
        picked = _select_unreferenced(cr, prefix, report, batch_size=batch_size, grace_seconds=grace_seconds,
                                      attachment_table=attachment_table, lock_timeout=lock_timeout)
        if commit is not None:
            commit()
        taken, progressed = _delete_selected(cr, store, prefix, report, batch_size=batch_size,
                                             attachment_table=attachment_table, plan=plan,
                                             grace_seconds=grace_seconds, lock_timeout=lock_timeout)
        report.batches += 1
        if commit is None:
            break
        commit()
        # a batch whose deletes all failed would be selected again at once: stop until the next run
        if report.refused or (picked < batch_size and taken < batch_size) or (taken and not progressed):
            break
    cr.execute(f"DELETE FROM {TABLE} WHERE reason IN %s "
               "AND marked_at < (clock_timestamp() at time zone 'utc') - %s * interval '1 second'",
               ((COLLECTED, COLLECTED_ELSEWHERE), COLLECTED_RETENTION_SECONDS))
    report.purged = cr.rowcount
    if commit is not None:
        commit()
    report.seconds = time.monotonic() - started
    _logger.info("object storage GC of %s: %s", prefix, report)
    return report


def _lock_attachments(cr: Cursor, attachment_table: str, lock_timeout: str) -> None:
    """SHARE lock on the attachments: waits for transactions that inserted/updated attachments and are
    not committed yet. Must come before any query of the transaction: under REPEATABLE READ the first
    query takes the snapshot, and rows committed while we waited would be invisible after it (SET and
    LOCK take no snapshot). A no-op when the transaction already holds it."""
    cr.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
    cr.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(attachment_table)))


def _select_unreferenced(cr: Cursor, prefix: str, report: CollectReport, *, batch_size: int,
                         grace_seconds: float, attachment_table: str, lock_timeout: str) -> int:
    """Phase 1, short, under a SHARE lock on the attachments: turn old candidates nobody references
    into one COLLECTING row per name. Returns the number of candidate rows taken. The lock comes
    first (`_lock_attachments`)."""
    _lock_attachments(cr, attachment_table, lock_timeout)
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
               {"candidates": (UNLINK, UPLOAD), "prefix": like_prefix(prefix), "grace": grace_seconds,
                "limit": batch_size})
    rows = cr.fetchall()
    if not rows:
        return 0
    names = sorted({name for _id, name in rows})
    cr.execute(sql.SQL("SELECT DISTINCT store_fname FROM {} WHERE store_fname = ANY(%s)").format(
        sql.Identifier(attachment_table)), (names,))
    referenced = {row[0] for row in cr.fetchall()}
    cr.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", ([row_id for row_id, _name in rows],))
    mark(cr, [name for name in names if name not in referenced], reason=COLLECTING)
    report.kept_referenced += len(referenced)
    return len(rows)


def _delete_selected(cr: Cursor, store: ObjectStore, prefix: str, report: CollectReport, *, batch_size: int,
                     attachment_table: str, plan: Optional[ownership.CollectionPlan] = None,
                     grace_seconds: float = DEFAULT_GRACE_SECONDS,
                     lock_timeout: str = "10s") -> tuple[int, bool]:
    """Phase 2, without the table lock (network deletes can take seconds): delete the objects of
    COLLECTING rows still ours. A writer that claimed one meanwhile deleted or locked its row,
    so it is skipped here and the writer uploads again. The names are also checked in every other
    database of `plan` (their transactions stay open until the objects are deleted). Returns
    (rows taken, any progress)."""
    cr.execute(f"""
        SELECT id, store_fname FROM {TABLE}
         WHERE reason = %s AND store_fname LIKE %s
         ORDER BY id LIMIT %s
           FOR UPDATE SKIP LOCKED""", (COLLECTING, like_prefix(prefix), batch_size))
    rows = cr.fetchall()
    if not rows:
        return 0, False
    ids_by_name: dict[str, list[int]] = {}
    for row_id, name in rows:
        ids_by_name.setdefault(name, []).append(row_id)
    # belt and braces for writers that bypass claim(): a committed reference keeps the object
    cr.execute(sql.SQL("SELECT DISTINCT store_fname FROM {} WHERE store_fname = ANY(%s)").format(
        sql.Identifier(attachment_table)), (sorted(ids_by_name),))
    referenced = {row[0] for row in cr.fetchall()}
    invalid = {name for name in ids_by_name if not _collectable(name)}  # marked by hand or an older
    # version: dropped, never deleted
    remote = _RemoteCheck(plan, attachment_table, grace_seconds, lock_timeout)
    try:
        try:
            referenced |= remote.referenced(sorted(set(ids_by_name) - referenced - invalid))
        except Exception as error:  # any failure elsewhere: delete nothing, say why
            remote.rollback()
            report.refused = (f"not deleting anything from {prefix} in this run: the references in another "
                              f"database could not be checked ({type(error).__name__}: "
                              f"{ownership._one_line(error)})")
            ownership.say_once(_logger, prefix, report.refused)
            return len(rows), False
        keys = {}
        for name in ids_by_name:
            if name in invalid:
                continue
            uri = parse_uri(name)
            assert uri is not None and uri.bucket == store.bucket  # guaranteed by the LIKE prefix
            if name not in referenced:
                keys[uri.key] = name
        try:
            failed = store.delete_many(sorted(keys)) if keys else {}
        except StorageError as error:  # e.g. the non-prod guard could not list the records
            failed = {key: error for key in keys}
    finally:
        remote.commit()  # releases the other databases; their writers now see collected-elsewhere rows
    for key, failure in failed.items():
        report.failed += 1
        _logger.warning("object storage GC could not delete %s: %s", keys[key], failure)
    collected = sorted(name for key, name in keys.items() if key not in failed)
    done = [row_id for name, ids in ids_by_name.items()
            if name in referenced or name in collected or name in invalid for row_id in ids]
    if done:
        cr.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (done,))
    mark(cr, collected, reason=COLLECTED)
    report.deleted.extend(collected)
    report.kept_referenced += len(referenced)
    return len(rows), bool(done)


class _RemoteCheck:
    """The references to a batch of names in the other databases of a plan.

    In each database, in one READ COMMITTED transaction kept open until the objects are deleted:
    bump the epoch rows of the names (waits for writers between their claim and their commit; later
    claims wait for us, and fail with a serialization error under REPEATABLE READ), LOCK its
    ir_attachment in SHARE mode (waits for uncommitted inserts), then a name is kept when a row
    references it or a candidate younger than the grace period says a writer may be about to; the
    other names get a `collected-elsewhere` row, which that database's writers see on claim.
    """

    def __init__(self, plan: Optional[ownership.CollectionPlan], attachment_table: str,
                 grace_seconds: float, lock_timeout: str) -> None:
        self.peers = list(plan.peers) if plan else []
        self.connect = plan.connect if plan else None
        self.attachment_table = attachment_table
        self.grace_seconds = grace_seconds
        self.lock_timeout = lock_timeout
        self.connections: list[Any] = []

    def referenced(self, names: list[str]) -> set[str]:
        if not names or not self.peers:
            return set()
        if self.connect is None:
            raise RuntimeError("the plan names other databases but gives no way to connect to them")
        found: set[str] = set()
        for dbname in self.peers:
            conn = self.connect(dbname)
            self.connections.append(conn)
            found |= self._check(conn, [name for name in names if name not in found])
        return found

    def _check(self, conn: Any, names: list[str]) -> set[str]:
        if not names:
            return set()
        with conn.cursor() as cr:
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute("SET LOCAL lock_timeout = %s", (self.lock_timeout,))
            parts = sorted({epoch_part(name) for name in names})
            cr.execute(f"UPDATE {EPOCH_TABLE} SET epoch = epoch + 1 WHERE part = ANY(%s)", (parts,))
            cr.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(self.attachment_table)))
            cr.execute(sql.SQL("SELECT DISTINCT store_fname FROM {} WHERE store_fname = ANY(%s)").format(
                sql.Identifier(self.attachment_table)), (names,))
            found = {row[0] for row in cr.fetchall()}
            cr.execute(f"""SELECT DISTINCT store_fname FROM {TABLE}
                            WHERE store_fname = ANY(%s) AND reason IN %s
                              AND marked_at > (clock_timestamp() at time zone 'utc')
                                              - %s * interval '1 second'""",
                       (names, (UNLINK, UPLOAD), self.grace_seconds))
            found |= {row[0] for row in cr.fetchall()}
            mark(cr, [name for name in names if name not in found], reason=COLLECTED_ELSEWHERE)
        return found

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, how: str) -> None:
        connections, self.connections = self.connections, []
        for conn in connections:
            try:
                getattr(conn, how)()
            except Exception:  # a lost connection rolls back by itself
                _logger.warning("object storage GC: %s of a connection to another database failed", how,
                                exc_info=True)
            finally:
                try:
                    conn.close()
                except Exception:
                    pass
