"""Issue 4 item 7, end to end through the command line on real servers.

A few thousand attachments over filestore and database (shared content, small images kept in the DB by
the rules, local files gone missing) go to S3 in a subprocess that is SIGKILLed mid-run, then resumed;
then to Swift with two runners at once, to the database, and back to the filestore. Every attachment is
checked byte for byte (sha1) after every leg.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from odoo_cloud.storage import gc as object_gc

from . import seed as seeding
from .conftest import s3_environ, store_from, swift_environ

REPO = Path(__file__).resolve().parents[2]
COUNT = 2000


def cli(dsn, filestore, target, environ, *extra):
    argv = [sys.executable, "-m", "odoo_cloud.storage.migration", "--to", target, "--dsn", dsn,
            "--filestore", str(filestore), "--json", "--progress-interval", "1", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_"))}
    env.update(environ)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=120):
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    print(f"{proc.args[4]}: {time.monotonic() - t0:.1f} s")
    report = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    return proc.returncode, report, err


def count(conn, where, params=()):
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM ir_attachment WHERE {where}", params)
        n = cur.fetchone()[0]
    conn.commit()
    return n


T0 = [time.monotonic()]


def lap(what):
    now = time.monotonic()
    print(f"[{what}] {now - T0[0]:.1f} s")
    T0[0] = now


def check_every_attachment(conn, seeded, filestore, stores):
    """Every row's current copy has exactly the content it was seeded with; returns where they are.

    Objects are downloaded (in parallel, each distinct one once) and their sha1 compared."""
    places, objects = {}, {}
    table = seeding.rows(conn)
    conn.commit()
    for row_id, (fname, data, checksum, size) in table.items():
        assert checksum == seeded.expected[row_id]
        if row_id in seeded.missing:
            assert fname == f"{checksum[:2]}/{checksum}" and data is None  # untouched
            places[row_id] = "missing"
            continue
        if fname is None:
            body, place = data, "db"
        elif "://" in fname:
            assert data is None
            places[row_id] = fname.rsplit("/", 1)[0]
            objects.setdefault(fname, []).append(row_id)
            continue
        else:
            body, place = (filestore / fname).read_bytes(), "file"
            assert data is None
        assert hashlib.sha1(body).hexdigest() == seeded.expected[row_id], row_id
        assert size == len(body)
        places[row_id] = place

    def download(fname):
        scheme, rest = fname.split("://", 1)
        bucket, key = rest.split("/", 1)
        return fname, stores[scheme].get(key, bucket=bucket)

    with ThreadPoolExecutor(8) as pool:
        for fname, body in pool.map(download, objects):
            for row_id in objects[fname]:
                assert hashlib.sha1(body).hexdigest() == seeded.expected[row_id], (row_id, fname)
                assert table[row_id][3] == len(body)
    lap("check")
    return places


def local_files(filestore):
    return [p for p in filestore.rglob("*") if p.is_file()]


def test_kill_resume_two_runners_and_all_the_way_back(attachment_db, filestore, s3_server, swift_server,
                                                      unique_prefix):
    dsn, conn = attachment_db
    # 400 distinct contents, each shared by ~5 rows (Swift on these 2-core machines takes ~50 PUT/s:
    # the legs through it dominate the test's time)
    seeded = seeding.seed(conn, filestore, COUNT, size=1024, distinct=400, missing=5)
    s3_env = s3_environ(s3_server, unique_prefix)
    swift_env = swift_environ(swift_server, unique_prefix)
    both_env = {**s3_env, **swift_env}
    stores = {"s3": store_from(s3_env, "s3"), "swift": store_from(swift_env, "swift")}
    pending_s3 = count(conn, "store_fname IS NOT NULL OR id <> ALL(%s)", (sorted(seeded.rule_ids),))

    # dry run: counts only
    code, report, _ = finish(cli(dsn, filestore, "s3", s3_env, "--dry-run"))
    assert code == 0 and report["dry_run"] and report["pending_at_start"] == pending_s3

    # 1. to S3, SIGKILLed in the middle
    proc = cli(dsn, filestore, "s3", s3_env, "--batch-size", "50", "--workers", "8")
    deadline = time.monotonic() + 120
    while count(conn, "store_fname LIKE 's3://%%'") < 400:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    moved_before_kill = count(conn, "store_fname LIKE 's3://%%'")
    assert 400 <= moved_before_kill < pending_s3 - 100, "the kill must land in the middle"
    # never a half-switched row: an object reference with DB bytes still there
    assert count(conn, "store_fname IS NOT NULL AND db_datas IS NOT NULL") == 0
    check_every_attachment(conn, seeded, filestore, stores)  # consistent right after the kill

    code, report, err = finish(cli(dsn, filestore, "s3", s3_env, "--batch-size", "100"))
    assert code == 1, err  # the missing files are reported: exit status a deploy script can test
    assert report["failed"] == report["remaining"] == len(seeded.missing) > 5
    assert {f["attachment_id"] for f in report["failures"]} == seeded.missing
    assert all("missing local file" in f["reason"] for f in report["failures"])
    assert "migration to s3://" in err and "attachments/s, ETA" in err  # progress and summary lines
    places = check_every_attachment(conn, seeded, filestore, stores)
    assert {i for i, p in places.items() if p == "db"} == seeded.rule_ids - seeded.missing
    assert set(places.values()) == {"db", f"s3://{unique_prefix}", "missing"}
    assert local_files(filestore) == []  # moved files removed, checklist swept (killed run included)
    # a missing file never became an empty object
    client = s3_server.client()
    keys = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=unique_prefix)
            for o in page.get("Contents", [])}
    assert hashlib.sha1(b"").hexdigest() not in keys
    assert not keys & {seeded.expected[i] for i in seeded.missing}
    assert keys == {seeded.expected[i] for i, p in places.items() if p.startswith("s3://")}

    # 2. to Swift with two runners at once
    runners = [cli(dsn, filestore, "swift", both_env, "--batch-size", "40", "--workers", "4")
               for _ in range(2)]
    results = [finish(p) for p in runners]
    assert all(code == 1 for code, _, _ in results), [err[-2000:] for _, _, err in results]
    moved = [r["moved"] for _, r, _ in results]
    assert all(m > 0 for m in moved), moved  # both really worked
    # nothing done twice
    assert sum(moved) == len([i for i, p in places.items() if p.startswith("s3://")])
    places = check_every_attachment(conn, seeded, filestore, stores)
    assert set(places.values()) == {"db", f"swift://{unique_prefix}", "missing"}
    # the old S3 objects were handed to the GC in the switch transaction; collected once unreferenced
    conn.commit()  # collect() compares marks with now(): start a fresh transaction
    with conn.cursor() as cur:
        marked = set(object_gc.pending(cur, f"s3://{unique_prefix}/"))
        # (+ the never-uploaded keys of the missing files, marked before their upload was attempted)
        assert marked >= {f"s3://{unique_prefix}/{k}" for k in keys}
        gc_report = object_gc.collect(cur, stores["s3"], commit=conn.commit, grace_seconds=0)
    assert set(gc_report.deleted) == marked
    left = client.list_objects_v2(Bucket=unique_prefix).get("Contents", [])
    # only the database's ownership record remains (docs/DATA_SAFETY.md)
    assert [o["Key"] for o in left if not o["Key"].startswith(".odoo-cloud/owners/")] == []

    # 3. to the database, 4. back to the filestore
    code, report, err = finish(cli(dsn, filestore, "db", both_env))
    assert code == 1 and report["failed"] == len(seeded.missing), err
    assert set(check_every_attachment(conn, seeded, filestore, stores).values()) == {"db", "missing"}
    code, report, err = finish(cli(dsn, filestore, "file", both_env, "--workers", "2"))
    assert code == 0 and report["remaining"] == 0, err
    assert set(check_every_attachment(conn, seeded, filestore, stores).values()) == {"file", "missing"}
    assert count(conn, "db_datas IS NOT NULL") == 0
