"""The engine against a real S3 server (SeaweedFS): both directions, rules, shared content, verification."""
from __future__ import annotations

import hashlib

from odoo_cloud.storage.migration import Engine, Filestore, Location, Options, connect
from odoo_cloud.storage.migration.objects import ObjectWriter, StoreReader

from . import seed as seeding
from .conftest import s3_environ, store_from


def run(dsn, filestore, target, *, writer=None, stores=(), **options):
    db = connect(dsn)
    try:
        return Engine(db, target, filestore=Filestore(filestore), writer=writer,
                      read_object=StoreReader({s.scheme: s for s in stores}) if stores else None,
                      options=Options(**options)).run()
    finally:
        db.close()


def to_store(dsn, filestore, store, **options):
    writer = ObjectWriter(store)
    return run(dsn, filestore, Location.object(writer.uri_prefix), writer=writer, stores=[store], **options)


def test_file_and_db_to_s3_and_back(attachment_db, filestore, s3_server, unique_prefix):
    dsn, conn = attachment_db
    store = store_from(s3_environ(s3_server, unique_prefix), "s3")
    seeded = seeding.seed(conn, filestore, 200)
    report = to_store(dsn, filestore, store, batch_size=30, workers=6)
    assert report.ok and report.remaining == 0
    after = seeding.rows(conn)
    client = s3_server.client()
    for row_id, (fname, data, checksum, _size) in after.items():
        assert checksum == seeded.expected[row_id]
        if row_id in seeded.rule_ids:  # small PNGs: kept in the database by the default rules
            assert fname is None and hashlib.sha1(data).hexdigest() == checksum
        else:
            assert fname == f"s3://{unique_prefix}/{checksum}" and data is None
            body = client.get_object(Bucket=unique_prefix, Key=checksum)["Body"].read()
            assert hashlib.sha1(body).hexdigest() == checksum
    assert report.kept_in_db == sum(1 for i in seeded.rule_ids if before_in_file(i, seeded, conn))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=unique_prefix).get("Contents", [])]
    assert len(keys) == len({seeded.expected[i] for i in seeded.expected if i not in seeded.rule_ids})
    assert [p for p in filestore.rglob("*") if p.is_file()] == []

    back = run(dsn, filestore, Location.file(), stores=[store], batch_size=50)
    assert back.ok and back.remaining == 0
    for row_id, (fname, data, checksum, _size) in seeding.rows(conn).items():
        assert data is None and fname == f"{checksum[:2]}/{checksum}"
        assert hashlib.sha1((filestore / fname).read_bytes()).hexdigest() == seeded.expected[row_id]


def before_in_file(row_id, seeded, conn):
    # the seed puts ~30% of rows in the DB; small images already there stay and are not "moved"
    return (row_id - min(seeded.expected)) * 7919 % 100 >= 30


def test_missing_object_is_reported(attachment_db, filestore, s3_server, unique_prefix):
    dsn, conn = attachment_db
    store = store_from(s3_environ(s3_server, unique_prefix), "s3")
    seeding.seed(conn, filestore, 20, db_share=1.0, images_every=0, shared_every=0)
    assert to_store(dsn, filestore, store).ok
    victim = seeding.rows(conn)[min(seeding.rows(conn))]
    s3_server.client().delete_object(Bucket=unique_prefix, Key=victim[2])
    report = run(dsn, filestore, Location.db(), stores=[store])
    assert report.failed == 1 and report.moved == 19
    assert f"missing object s3://{unique_prefix}/{victim[2]}" in report.failures[0].reason
    assert seeding.rows(conn)[min(seeding.rows(conn))][0] == victim[0]  # untouched, not emptied


def test_object_collected_meanwhile_is_uploaded_again(attachment_db, filestore, s3_server, unique_prefix):
    """The storage GC protocol: the store remembers the key as present, the GC deleted it since;
    the engine's claim sees it was collected and uploads again before switching the rows."""
    from odoo_cloud.storage import gc as object_gc

    dsn, conn = attachment_db
    store = store_from(s3_environ(s3_server, unique_prefix), "s3")
    seeded = seeding.seed(conn, filestore, 3, db_share=1.0, images_every=0, shared_every=0)
    sha = seeded.expected[min(seeded.expected)]
    with conn.cursor() as cur:
        object_gc.ensure_table(cur)
    conn.commit()
    store.put(sha, seeding.rows(conn)[min(seeded.expected)][1])  # in the store's in-process memory now
    with conn.cursor() as cur:
        object_gc.mark(cur, [store.uri(sha)])
    conn.commit()
    from odoo_cloud.storage.s3 import S3Store

    other_process = S3Store(store._client, store.bucket)  # its own memory of keys, like another worker
    with conn.cursor() as cur:
        deleted = object_gc.collect(cur, other_process, commit=conn.commit, grace_seconds=0).deleted
    assert deleted == [store.uri(sha)] and not other_process.exists(sha)
    assert store.put(sha, b"ignored") is False  # the engine's store still believes the key exists
    report = to_store(dsn, filestore, store)
    assert report.ok and report.moved == 3
    assert store.get(sha) == seeding.content(0, 2048)


def test_bucket_to_bucket_after_a_rename(attachment_db, filestore, s3_server, unique_prefix):
    """Rows in the old bucket move to the new one; the old objects are left to the GC of their bucket
    (a process only ever deletes from the bucket it writes to)."""
    from odoo_cloud.storage import gc as object_gc

    dsn, conn = attachment_db
    old = store_from(s3_environ(s3_server, unique_prefix + "-old"), "s3")
    new = store_from(s3_environ(s3_server, unique_prefix + "-new"), "s3")
    seeded = seeding.seed(conn, filestore, 30, images_every=0)
    assert to_store(dsn, filestore, old).ok
    writer = ObjectWriter(new)
    report = run(dsn, filestore, Location.object(writer.uri_prefix), writer=writer, stores=[new],
                 batch_size=7)
    assert report.ok and report.remaining == 0 and report.moved == 30
    for row_id, (fname, _data, checksum, _size) in seeding.rows(conn).items():
        assert fname == new.uri(checksum)
        assert hashlib.sha1(new.get(checksum)).hexdigest() == seeded.expected[row_id]
    conn.commit()
    with conn.cursor() as cur:
        marked = set(object_gc.pending(cur, f"s3://{old.bucket}/"))
        assert marked == {old.uri(s) for s in seeded.expected.values()}
        assert object_gc.collect(cur, new, commit=conn.commit, grace_seconds=0).deleted == []
    assert all(old.exists(s) for s in seeded.expected.values())  # never deleted by the new bucket's GC


def test_verify_modes_and_a_damaged_object(attachment_db, filestore, s3_server, unique_prefix):
    """head/read verification of objects that already exist: a damaged one fails its rows, others move."""
    dsn, conn = attachment_db
    store = store_from(s3_environ(s3_server, unique_prefix), "s3")
    seeded = seeding.seed(conn, filestore, 12, db_share=1.0, images_every=0, shared_every=0)
    victim = min(seeded.expected)
    # an object under the victim's key with other bytes (as a broken upload or a tampered bucket would)
    s3_server.client().put_object(Bucket=unique_prefix, Key=seeded.expected[victim], Body=b"damaged")
    for mode in ("head", "read"):
        writer = ObjectWriter(store, verify=mode)
        report = run(dsn, filestore, Location.object(writer.uri_prefix), writer=writer, stores=[store])
        assert report.failed == 1 and report.failures[0].attachment_id == victim, mode
        assert "the row keeps its current copy" in report.failures[0].reason
    after = seeding.rows(conn)
    assert after[victim][0] is None and hashlib.sha1(after[victim][1]).hexdigest() == seeded.expected[victim]
    assert all(after[i][0] == store.uri(seeded.expected[i]) for i in seeded.expected if i != victim)
