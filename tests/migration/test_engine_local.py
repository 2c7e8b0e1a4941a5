"""The engine between the database and the local filestore, on a real PostgreSQL ir_attachment table."""
from __future__ import annotations

import hashlib
import logging

import pytest

from odoo_cloud.storage.migration import Engine, Filestore, Location, Options, PsycopgDatabase, connect

from . import seed as seeding


def run(dsn, filestore, target, **options):
    db = connect(dsn)
    try:
        return Engine(db, target, filestore=Filestore(filestore), options=Options(**options)).run()
    finally:
        db.close()


def assert_all_in_db(conn, seeded, skip=()):
    for row_id, (fname, data, checksum, size) in seeding.rows(conn).items():
        if row_id in skip:
            continue
        assert fname is None, row_id
        assert hashlib.sha1(data).hexdigest() == seeded.expected[row_id] == checksum
        assert size == len(data)


def assert_all_in_filestore(conn, filestore, seeded):
    for row_id, (fname, data, checksum, _size) in seeding.rows(conn).items():
        assert data is None, row_id
        assert fname == f"{checksum[:2]}/{checksum}"
        body = (filestore / fname).read_bytes()
        assert hashlib.sha1(body).hexdigest() == seeded.expected[row_id] == checksum


def local_files(filestore):
    return sorted(p.relative_to(filestore).as_posix() for p in filestore.rglob("*") if p.is_file())


def test_file_to_db_and_back(attachment_db, filestore):
    dsn, conn = attachment_db
    seeded = seeding.seed(conn, filestore, 300)
    before = seeding.rows(conn)
    in_files = {i for i, r in before.items() if r[0]}
    report = run(dsn, filestore, Location.db(), batch_size=40, workers=4)
    assert report.ok and report.remaining == 0
    assert report.moved == report.pending_at_start == len(in_files)
    assert_all_in_db(conn, seeded)
    assert local_files(filestore) == []  # old copies collected, checklist emptied
    assert report.old_copies_removed == len({before[i][0] for i in in_files})

    report = run(dsn, filestore, Location.file(), batch_size=64, workers=3)
    assert report.ok and report.remaining == 0 and report.moved == 300
    assert_all_in_filestore(conn, filestore, seeded)
    # content shared by several rows is one file
    assert len([f for f in local_files(filestore) if not f.startswith("checklist/")]) == len(seeded.shared)
    # a second run has nothing to do
    assert run(dsn, filestore, Location.file()).moved == 0


def test_missing_local_file_is_reported_not_emptied(attachment_db, filestore, caplog):
    dsn, conn = attachment_db
    seeded = seeding.seed(conn, filestore, 60, db_share=0.0, missing=3)
    with caplog.at_level(logging.INFO, logger="odoo_cloud.storage.migration"):
        report = run(dsn, filestore, Location.db(), batch_size=7)
    assert not report.ok
    assert report.failed == report.remaining == len(seeded.missing) >= 3
    assert {f.attachment_id for f in report.failures} == seeded.missing
    assert all("missing local file" in f.reason for f in report.failures)
    after = seeding.rows(conn)
    for row_id in seeded.missing:  # untouched: still pointing at the (missing) file, no empty bytes
        assert after[row_id][0] is not None and after[row_id][1] is None
    assert_all_in_db(conn, seeded, skip=seeded.missing)
    assert f"failed {len(seeded.missing)}," in caplog.text and "missing local file" in caplog.text


def test_dry_run_counts_and_changes_nothing(attachment_db, filestore):
    dsn, conn = attachment_db
    seeding.seed(conn, filestore, 100)
    before = seeding.rows(conn)
    report = run(dsn, filestore, Location.db(), dry_run=True)
    assert report.dry_run and report.moved == 0
    in_files = sum(1 for r in before.values() if r[0])
    assert report.pending_at_start == in_files and report.by_source == {"file": in_files}
    assert seeding.rows(conn) == before
    s3 = run(dsn, filestore, Location.object("s3://bucket"), dry_run=True)
    # everything except small images already in the DB must move; small images in files go to the DB
    assert s3.by_source["db"] + s3.by_source["file"] == s3.pending_at_start
    assert s3.kept_in_db == sum(1 for i, r in before.items() if r[0] and i % 15 == 1)


def test_limit_and_checksum_mismatch(attachment_db, filestore):
    dsn, conn = attachment_db
    seeded = seeding.seed(conn, filestore, 50, db_share=1.0)
    with conn.cursor() as cur:
        cur.execute("UPDATE ir_attachment SET checksum = repeat('0', 40) WHERE id = %s",
                    (min(seeded.expected),))
    conn.commit()
    report = run(dsn, filestore, Location.file(), limit=20, batch_size=6)
    assert report.moved == 19 and report.failed == 1
    assert "the row records 0000" in report.failures[0].reason
    report = run(dsn, filestore, Location.file())
    assert report.moved == 30 and report.remaining == 1


def test_options_are_validated():
    with pytest.raises(ValueError, match="batch size"):
        Options(batch_size=0)
    with pytest.raises(ValueError, match="workers"):
        Options(workers=0)


def test_runs_inside_a_transaction_without_committing(attachment_db, filestore):
    """The Odoo glue's test mode: savepoints per batch, nothing committed, nothing deleted."""
    import psycopg2

    from odoo_cloud.storage.migration import NoCommitDatabase

    dsn, conn = attachment_db
    seeded = seeding.seed(conn, filestore, 30, db_share=0.0)
    inner = PsycopgDatabase(psycopg2.connect(dsn))
    report = Engine(NoCommitDatabase(inner), Location.db(), filestore=Filestore(filestore),
                    options=Options(batch_size=8)).run()
    assert report.moved == 30 and report.old_copies_removed == 0
    inner.rollback()
    inner.close()
    assert all(r[0] for r in seeding.rows(conn).values())  # rolled back: still in files
    assert all((filestore / f"{s[:2]}/{s}").exists() for s in seeded.expected.values())
