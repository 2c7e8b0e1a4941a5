"""Issue 10 item 5 (migration parts), on the real PostgreSQL and a real filesystem.

* Files written to the filestore are fsynced (the file, then its directory) before the commit that
  switches their rows — and lets the old copy be collected. A power loss cannot be provoked here, so
  `os.fsync` is observed by a pass-through recorder (it still syncs) next to the real commits.
* Rows another runner holds (FOR UPDATE SKIP LOCKED) are reported as skipped and give exit status 5,
  never 0: first with rows held by this test's own transaction, then with two real runners at once.
"""
from __future__ import annotations

import os
from pathlib import Path

import psycopg2

from odoo_cloud.storage.migration.db import PsycopgDatabase
from odoo_cloud.storage.migration.engine import Engine, Options
from odoo_cloud.storage.migration.filestore import Filestore
from odoo_cloud.storage.migration.location import Location

from . import seed as seeding
from .test_cli_scenario import cli, finish


def in_db_only(conn, filestore, count):
    return seeding.seed(conn, filestore, count, db_share=1.0, images_every=0, shared_every=0)


def test_filestore_writes_are_durable_before_the_switch_commits(attachment_db, filestore, monkeypatch):
    dsn, conn = attachment_db
    seeded = in_db_only(conn, filestore, 12)
    events: list[tuple[str, str]] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    database = PsycopgDatabase(psycopg2.connect(dsn))
    real_commit = database.commit

    def observed_commit():
        real_commit()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ir_attachment WHERE store_fname IS NOT NULL")
            events.append(("commit", str(cur.fetchone()[0])))
        conn.commit()

    database.commit = observed_commit
    report = Engine(database, Location.file(), filestore=Filestore(filestore),
                    options=Options(batch_size=100, workers=4)).run()
    database.close()
    assert report.moved == 12 and report.ok
    switch = next(i for i, (kind, value) in enumerate(events) if kind == "commit" and value != "0")
    assert events[switch] == ("commit", "12"), events  # one batch switched every row
    synced_before = {value for kind, value in events[:switch] if kind == "fsync"}
    files = sorted(p for p in filestore.rglob("*") if p.is_file() and "checklist" not in p.parts)
    assert len(files) == len(set(seeded.expected.values())) == 12
    for path in files:
        # the data (written to a temporary name, then renamed) and the rename (the directory)
        assert any(Path(s).parent == path.parent and Path(s).name.startswith(f".{path.name}.")
                   for s in synced_before), (path, synced_before)
        assert str(path.parent) in synced_before, path
    assert str(filestore) in synced_before  # the new shard directories' entries


def test_rows_held_by_another_transaction_are_skipped_with_exit_5(attachment_db, filestore):
    dsn, conn = attachment_db
    in_db_only(conn, filestore, 30)
    holder = psycopg2.connect(dsn)
    with holder.cursor() as cur:  # what a second runner does with its batch
        cur.execute("SELECT id FROM ir_attachment WHERE id IN (SELECT id FROM ir_attachment ORDER BY id"
                    " OFFSET 10 LIMIT 5) ORDER BY id FOR UPDATE")
        held = [row[0] for row in cur.fetchall()]
    try:
        code, report, err = finish(cli(dsn, filestore, "file", {}, "--batch-size", "4"))
    finally:
        holder.rollback()
        holder.close()
    assert code == 5, err[-3000:]
    assert (report["moved"], report["skipped"], report["failed"], report["remaining"]) == (25, 5, 0, 5)
    assert "5 attachment(s) were skipped because another runner held them" in err
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM ir_attachment WHERE store_fname IS NULL ORDER BY id")
        assert [row[0] for row in cur.fetchall()] == held
    conn.commit()
    code, report, err = finish(cli(dsn, filestore, "file", {}))
    assert code == 0 and (report["moved"], report["skipped"], report["remaining"]) == (5, 0, 0), err


def test_two_runners_at_once_say_which_rows_they_left_to_the_other(attachment_db, filestore):
    dsn, conn = attachment_db
    count = 1500
    in_db_only(conn, filestore, count)
    runners = [cli(dsn, filestore, "file", {}, "--batch-size", "10", "--workers", "2") for _ in range(2)]
    results = [finish(proc) for proc in runners]
    for code, report, err in results:
        assert report is not None and report["failed"] == 0, err[-3000:]
        assert code == (5 if report["skipped"] else 0), (code, report)
    assert sum(report["moved"] for _, report, _ in results) == count  # each row moved exactly once
    assert all(report["moved"] > 0 for _, report, _ in results)  # both really worked...
    assert any(report["skipped"] > 0 for _, report, _ in results)  # ...on the same rows at the same time
    code, report, err = finish(cli(dsn, filestore, "file", {}))
    assert code == 0 and report["moved"] == report["skipped"] == report["remaining"] == 0, err
