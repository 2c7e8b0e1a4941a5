"""GC protocol on real PostgreSQL + real S3: transactional marks, bounded batches, the write-bucket
guard, rolled-back unlinks, and writers racing the collector."""
from __future__ import annotations

import hashlib
import threading
import time

import psycopg2
import pytest

from odoo_cloud.storage import gc, ownership

from .conftest import make_store, s3_env


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.fixture
def db(postgres_server, unique_prefix):
    dsn = postgres_server.create_database(unique_prefix.replace("-", "_"))
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cr:
        cr.execute("CREATE TABLE ir_attachment (id serial PRIMARY KEY, store_fname varchar)")
        gc.ensure_table(cr)
        gc.ensure_table(cr)  # idempotent
    conn.commit()
    yield dsn, conn
    conn.close()


@pytest.fixture
def s3_store(s3_server, unique_prefix):
    return make_store("s3", s3_env(s3_server.endpoint_url, s3_server.region, s3_server.access_key,
                                   s3_server.secret_key, unique_prefix))


def claim_one(cr, fname) -> bool:
    """The migration engine's caller of the claim protocol (`claim_many`), asked about one name."""
    return gc.claim_many(cr, [fname]) == [fname]


#: both callers of the one claim implementation: Odoo's writers (`claim`) and the migration engine
#: (`claim_many`); every claim test below runs against both
@pytest.fixture(params=[gc.claim, claim_one], ids=["claim", "claim_many"])
def claim(request):
    return request.param


def mark_committed(conn, names) -> None:
    """Marks as a committed unlink leaves them."""
    with conn.cursor() as cr:
        gc.mark(cr, names)
    conn.commit()


def collect_now(conn, store, **options):
    """One collection without grace period, committing batch by batch as the autovacuum job does."""
    with conn.cursor() as cr:
        return gc.collect(cr, store, commit=conn.commit, grace_seconds=0, **options)


def upload(store, content: bytes) -> str:
    store.put(sha1(content), content)
    return store.uri(sha1(content))


def test_unreferenced_objects_are_collected_referenced_kept(db, s3_store):
    _, conn = db
    orphan, used = upload(s3_store, b"orphan"), upload(s3_store, b"used")
    with conn.cursor() as cr:
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (used,))
        assert gc.mark(cr, [orphan, used, "ab/abcdef-local-file"]) == 2  # local names are not ours
    conn.commit()
    report = collect_now(conn, s3_store)
    assert report.deleted == [orphan] and report.kept_referenced == 1 and report.failed == 0
    assert not s3_store.exists(sha1(b"orphan"))
    assert s3_store.get(sha1(b"used")) == b"used"
    with conn.cursor() as cr:
        assert gc.pending(cr) == []


def test_rolled_back_unlink_loses_nothing(db, s3_store):
    _, conn = db
    fname = upload(s3_store, b"precious")
    with conn.cursor() as cr:
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
    conn.commit()
    with conn.cursor() as cr:  # an unlink that fails later in its transaction
        cr.execute("DELETE FROM ir_attachment WHERE store_fname = %s", (fname,))
        gc.mark(cr, [fname])
    conn.rollback()
    report = collect_now(conn, s3_store)
    assert report.deleted == []
    assert s3_store.get(sha1(b"precious")) == b"precious"


def test_young_marks_wait_for_the_grace_period(db, s3_store):
    _, conn = db
    fname = upload(s3_store, b"just uploaded, INSERT not done yet")
    mark_committed(conn, [fname])
    with conn.cursor() as cr:
        assert gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=3600).deleted == []
        assert gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0).deleted == [fname]


def test_never_deletes_from_a_bucket_it_does_not_write(db, s3_server, s3_store, unique_prefix):
    _, conn = db
    prod = make_store("s3", s3_env(s3_server.endpoint_url, s3_server.region, s3_server.access_key,
                                   s3_server.secret_key, unique_prefix + "-prod"))
    foreign = upload(prod, b"prod data")
    mark_committed(conn, [foreign])
    report = collect_now(conn, s3_store)
    assert report.deleted == []
    assert prod.get(sha1(b"prod data")) == b"prod data"


def test_batches_are_bounded_by_count_and_time(db, s3_store):
    _, conn = db
    names = [upload(s3_store, f"object {i}".encode()) for i in range(5)]
    mark_committed(conn, names)
    with conn.cursor() as cr:
        stopped = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0, max_seconds=0)
        assert stopped.stopped_by_time and stopped.deleted == []
        report = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0, batch_size=2)
    assert report.batches == 3 and sorted(report.deleted) == sorted(names)
    assert not any(s3_store.exists(n.rsplit("/", 1)[1]) for n in names)


def test_writer_reusing_a_collected_key_learns_it_must_upload_again(db, s3_store, claim):
    _, conn = db
    content = b"deleted then re-created"
    fname = upload(s3_store, content)
    mark_committed(conn, [fname])
    assert collect_now(conn, s3_store).deleted == [fname]
    # another process still "knows" the key: claim tells it the object was collected
    s3_store.known_keys.add((s3_store.bucket, sha1(content)))
    with conn.cursor() as cr:
        assert claim(cr, fname) is True
        assert s3_store.put(sha1(content), content, recheck=True) is True
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
        assert claim(cr, fname) is False  # nothing marked any more
    conn.commit()
    assert s3_store.get(sha1(content)) == content


def test_claim_in_an_open_transaction_protects_the_object_from_a_concurrent_collector(db, s3_store):
    dsn, conn = db
    content = b"reused by a concurrent create"
    fname = upload(s3_store, content)
    mark_committed(conn, [fname])
    writer = psycopg2.connect(dsn)
    try:
        with writer.cursor() as wcr:
            assert gc.claim_marks(wcr, fname) == {gc.UNLINK}  # deleted and locked, not committed yet
            # the collector skips the locked mark instead of deleting the object
            with conn.cursor() as cr:
                report = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0)
            assert report.deleted == []
            wcr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
        writer.commit()
    finally:
        writer.close()
    assert s3_store.get(sha1(content)) == content


def test_claim_many_tells_which_of_many_names_were_collected(db, s3_store):
    """The engine claims a batch at once: per name the same answer as one claim each, rows of
    every name removed, unmarked and duplicate names harmless."""
    _, conn = db
    gone, marked = upload(s3_store, b"collected before the batch"), upload(s3_store, b"still marked")
    unmarked = upload(s3_store, b"never marked")
    mark_committed(conn, [gone])
    assert collect_now(conn, s3_store).deleted == [gone]
    mark_committed(conn, [marked])
    with conn.cursor() as cr:
        assert gc.claim_many(cr, []) == []
        assert gc.claim_many(cr, [marked, gone, unmarked, gone]) == [gone]
        assert gc.pending(cr) == [] and gc.status(cr, gone) == set()
    conn.commit()


def test_collector_waits_for_an_uncommitted_insert(db, s3_store):
    """A writer that inserted its row (ROW EXCLUSIVE) before the collector's SHARE lock: the
    collector waits for it and then sees the reference."""
    dsn, conn = db
    content = b"inserted, not committed"
    fname = upload(s3_store, content)
    mark_committed(conn, [fname])
    writer = psycopg2.connect(dsn)
    result = {}
    try:
        wcr = writer.cursor()
        wcr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))

        def run():
            with conn.cursor() as cr:
                result["report"] = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # blocked on the SHARE lock
        writer.commit()
        thread.join(10)
    finally:
        writer.close()
    assert result["report"].deleted == [] and result["report"].kept_referenced == 1
    assert s3_store.get(sha1(content)) == content


def test_failed_deletes_keep_the_mark_and_stop_the_run(db, s3_server, s3_store):
    _, conn = db
    fname = upload(s3_store, b"server goes away")
    mark_committed(conn, [fname])
    with conn.cursor() as cr:
        plan = ownership.plan_collection(cr, s3_store)  # sole owner, decided while the store answers
    conn.commit()
    with s3_server.outage():
        with conn.cursor() as cr:
            report = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0, plan=plan)
    assert report.failed == 1 and report.deleted == [] and report.batches == 1
    with s3_server.outage():  # without a plan: the records cannot be read, nothing is even tried
        with conn.cursor() as cr:
            refused = gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0)
    assert refused.refused and "cannot read the ownership records" in refused.refused
    assert refused.failed == 0 and refused.deleted == []
    with conn.cursor() as cr:
        assert gc.pending(cr) == [fname]
        assert gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0).deleted == [fname]


def autonomous_marker(dsn):
    """Marks through a connection of its own, committed at once (like the Odoo glue does)."""
    calls = []

    def mark(names):
        calls.append(list(names))
        conn = psycopg2.connect(dsn)
        try:
            with conn.cursor() as cr:
                gc.mark(cr, names, reason=gc.UPLOAD)
            conn.commit()
        finally:
            conn.close()

    return mark, calls


def test_upload_of_a_rolled_back_create_is_collected(db, s3_store):
    dsn, conn = db
    mark, calls = autonomous_marker(dsn)
    content = b"created in a transaction that rolls back"
    with conn.cursor() as cr:
        fname = gc.write_object(cr, s3_store, sha1(content), content, mark)
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
    conn.rollback()
    assert calls == [[fname]]
    assert collect_now(conn, s3_store).deleted == [fname]
    assert not s3_store.exists(sha1(content))


def test_committed_create_keeps_its_object_and_existing_objects_are_not_remarked(db, s3_store):
    dsn, conn = db
    mark, calls = autonomous_marker(dsn)
    content = b"created and committed"
    with conn.cursor() as cr:
        fname = gc.write_object(cr, s3_store, sha1(content), content, mark)
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
        # the same content again (a copy): no upload, no new mark
        assert gc.write_object(cr, s3_store, sha1(content), content, mark) == fname
    conn.commit()
    assert len(calls) == 1
    with conn.cursor() as cr:
        assert gc.status(cr, fname) == set()  # the second write claimed the fresh-upload mark
        gc.mark(cr, [fname])  # as an unlink of another row with the same content would
    conn.commit()
    report = collect_now(conn, s3_store)
    assert report.deleted == [] and report.kept_referenced == 1
    assert s3_store.get(sha1(content)) == content


def test_rewriting_collected_content_uploads_again_and_survives_rollback_as_a_candidate(db, s3_store):
    dsn, conn = db
    mark, calls = autonomous_marker(dsn)
    content = b"collected, then written again"
    fname = upload(s3_store, content)
    mark_committed(conn, [fname])
    assert collect_now(conn, s3_store).deleted == [fname]
    s3_store.known_keys.add((s3_store.bucket, sha1(content)))  # stale memory of this process
    with conn.cursor() as cr:
        assert gc.write_object(cr, s3_store, sha1(content), content, mark) == fname
    # marked (committed) before the upload, so the rollback below leaves a candidate
    assert calls == [[fname]]
    assert s3_store.get(sha1(content)) == content  # uploaded again despite the stale memory
    conn.rollback()
    with conn.cursor() as cr:
        assert gc.status(cr, fname) == {gc.COLLECTED, gc.UPLOAD}
        assert gc.collect(cr, s3_store, commit=conn.commit, grace_seconds=0).deleted == [fname]


def test_repeatable_read_writer_marking_its_own_fresh_upload(db, s3_store, claim):
    """Odoo's cursors are REPEATABLE READ: create (fresh upload marked autonomously, after our
    snapshot) then overwrite in the same transaction must not raise a serialization failure."""
    dsn, conn = db
    mark, _ = autonomous_marker(dsn)
    conn.set_session(isolation_level="REPEATABLE READ")
    first, second = b"first version, RR", b"second version, RR"
    with conn.cursor() as cr:
        cr.execute("SELECT 1")  # take the snapshot
        old = gc.write_object(cr, s3_store, sha1(first), first, mark)
        cr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s) RETURNING id", (old,))
        row_id = cr.fetchone()[0]
        new = gc.write_object(cr, s3_store, sha1(second), second, mark)
        cr.execute("UPDATE ir_attachment SET store_fname = %s WHERE id = %s", (new, row_id))
        gc.mark(cr, [old])
        assert claim(cr, old) is False  # rewriting the first content again in the same transaction
    conn.commit()
    conn.set_session(isolation_level="READ COMMITTED")
    report = collect_now(conn, s3_store)
    assert new not in report.deleted
    assert s3_store.get(sha1(second)) == second


def test_writer_claiming_between_the_collector_phases_keeps_its_object(db, s3_store, claim):
    """Phase 1 decided the object is unreferenced and committed; a writer then claims the name
    (re-uploads because the claim says it is being collected); phase 2 must skip it."""
    dsn, conn = db
    mark, _ = autonomous_marker(dsn)
    content = b"claimed between the phases"
    fname = upload(s3_store, content)
    mark_committed(conn, [fname])
    with conn.cursor() as cr:
        report = gc.CollectReport()
        assert gc._select_unreferenced(cr, s3_store.prefix, report, batch_size=10, grace_seconds=0,
                                       attachment_table="ir_attachment", lock_timeout="10s") == 1
    conn.commit()
    writer = psycopg2.connect(dsn)
    try:
        with writer.cursor() as wcr:
            assert claim(wcr, fname) is True  # being collected: upload again, do not trust memory
            assert gc.write_object(wcr, s3_store, sha1(content), content, mark) == fname
            wcr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))
            with conn.cursor() as cr:  # phase 2 runs while the writer's transaction is open
                taken, _ = gc._delete_selected(cr, s3_store, s3_store.prefix, report, batch_size=10,
                                               attachment_table="ir_attachment")
            conn.commit()
            assert taken == 0 and report.deleted == []
        writer.commit()
    finally:
        writer.close()
    assert s3_store.get(sha1(content)) == content


def test_the_tables_are_created_upgraded_and_dropped_by_the_core(db):
    """Install/upgrade (ensure_table: idempotent, refills missing epoch rows) and uninstall (drop_tables)."""
    _dsn, conn = db

    def tables(cr):
        cr.execute("SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
                   (gc.TABLE, gc.EPOCH_TABLE))
        return cr.fetchone()

    with conn.cursor() as cr:
        cr.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (gc.TABLE,))
        assert [row[0] for row in cr.fetchall()] == [
            "object_storage_gc_fname_idx", "object_storage_gc_marked_idx", "object_storage_gc_pkey"]
        cr.execute(f"DELETE FROM {gc.EPOCH_TABLE} WHERE part >= 10")  # an older install's partial table
        gc.ensure_table(cr)
        cr.execute(f"SELECT count(*) FROM {gc.EPOCH_TABLE}")
        assert cr.fetchone()[0] == gc.EPOCH_PARTS
        gc.mark(cr, ["s3://bucket/" + "a" * 40])
        cr.execute(f"SELECT reason FROM {gc.TABLE}")
        assert cr.fetchall() == [(gc.UNLINK,)]
        gc.drop_tables(cr)
        assert tables(cr) == (False, False)
        gc.drop_tables(cr)  # idempotent
        gc.ensure_table(cr)
        assert tables(cr) == (True, True)
    conn.commit()
