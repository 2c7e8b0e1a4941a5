"""`odoo-cloud fsck` against real S3 (SeaweedFS) and Swift servers and a real PostgreSQL: plant each kind
of problem behind the database's back and check that the report names exactly those."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odoo_cloud.storage.base import ObjectInfo
from odoo_cloud.storage.fsck import Reference, _merge
from tests.migration.conftest import store_from

from .conftest import s3_environ, swift_environ

REPO = Path(__file__).resolve().parents[2]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def insert_row(conn, store_fname: str, data: bytes, *, name: str = "doc.bin", res_model="res.partner",
               res_id=1, file_size=None) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ir_attachment (name, type, res_model, res_id, store_fname, checksum, "
                    "file_size, mimetype) VALUES (%s, 'binary', %s, %s, %s, %s, %s, "
                    "'application/octet-stream') RETURNING id",
                    (name, res_model, res_id, store_fname, sha1(data),
                     len(data) if file_size is None else file_size))
        att_id = cur.fetchone()[0]
    conn.commit()
    return att_id


def fsck(environ: dict, *args: str, timeout: float = 120) -> tuple[int, dict | None, str, str]:
    argv = [sys.executable, "-m", "odoo_cloud.cli", "fsck", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_"))}
    env.update(environ)
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    report = None
    if "--json" in args and proc.stdout.strip():
        report = json.loads(proc.stdout.strip().splitlines()[0])
    return proc.returncode, report, proc.stdout, proc.stderr


@pytest.fixture(params=["s3", "swift"])
def backend(request, unique_prefix):
    pg = request.getfixturevalue("postgres_server")
    libpq = {"PGHOST": pg.host, "PGPORT": str(pg.port), "PGUSER": pg.user}
    if request.param == "s3":
        environ = s3_environ(request.getfixturevalue("s3_server"), unique_prefix)
        server = request.getfixturevalue("s3_server")
    else:
        environ = swift_environ(request.getfixturevalue("swift_server"), unique_prefix)
        server = request.getfixturevalue("swift_server")
    store = store_from(environ, request.param)
    store.ensure_bucket()
    return request.param, {**environ, **libpq}, store, server


def planted(store, conn, other_bucket: str):
    """A healthy object, a missing one, two damaged ones, an orphan, a foreign row, a non-content key."""
    blobs = {name: os.urandom(3000) for name in ("ok", "missing", "resized", "rewritten", "orphan")}
    ids = {}
    for name, data in blobs.items():
        store.put(sha1(data), data)
        if name != "orphan":
            ids[name] = insert_row(conn, store.uri(sha1(data)), data, name=f"{name}.bin")
    # the same object referenced twice (dedup) is one object, two rows
    ids["ok-twin"] = insert_row(conn, store.uri(sha1(blobs["ok"])), blobs["ok"], name="twin.bin")
    store._delete(sha1(blobs["missing"]))                                  # deleted behind our back
    store.known_keys.clear()
    _overwrite(store, sha1(blobs["resized"]), os.urandom(10))              # other size
    _overwrite(store, sha1(blobs["rewritten"]), os.urandom(3000))          # same size, other bytes
    store._put_if_absent(".odoo-cloud/owners/not-a-content-key.json", b"{}")  # the suite's own records
    foreign = f"{store.scheme}://{other_bucket}/{sha1(b'elsewhere')}"
    ids["foreign"] = insert_row(conn, foreign, b"elsewhere", name="foreign.bin")
    return blobs, ids, foreign


def _overwrite(store, key: str, data: bytes) -> None:
    """Replace an object's bytes as a bad lifecycle rule or a hand copy would (no conditional PUT)."""
    if store.scheme == "s3":
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
    else:
        with store.pool.connection() as conn:
            conn.put_object(store.bucket, key, data)


def test_report_names_exactly_the_planted_problems(backend, make_db):
    scheme, environ, store, _server = backend
    name, _dsn, conn = make_db(grace_seconds=1)
    blobs, ids, foreign = planted(store, conn, "someone-elses-bucket")
    time.sleep(1.2)  # the orphan is now past the grace period
    code, report, _out, err = fsck(environ, "-d", name, "--json")
    assert code == 1, err
    assert report["missing"]["count"] == 1 and report["missing"]["rows"] == 1
    missing = report["missing"]["examples"][0]
    assert (missing["key"], missing["id"], missing["res_model"], missing["res_id"], missing["name"],
            missing["file_size"]) == (sha1(blobs["missing"]), ids["missing"], "res.partner", 1, "missing.bin",
                                      3000)
    # size check from the listing alone: only the resized one
    assert [ex["key"] for ex in report["damaged"]["examples"]] == [sha1(blobs["resized"])]
    assert [ex["key"] for ex in report["orphans"]["examples"]] == [sha1(blobs["orphan"])]
    assert report["orphans"]["bytes"] == 3000 and report["oldest_orphan_age_seconds"] >= 1
    assert report["foreign_by_bucket"] == {f"{scheme}://someone-elses-bucket": 1}
    assert report["foreign"]["examples"][0]["store_fname"] == foreign
    assert report["other_objects"] == 1 and report["references"] == 5  # ok, twin, resized, rewritten, missing
    # --verify checksum downloads and finds the same-size rewrite too
    code, report, _out, err = fsck(environ, "-d", name, "--json", "--verify", "checksum")
    assert code == 1, err
    assert sorted(ex["key"] for ex in report["damaged"]["examples"]) == sorted(
        [sha1(blobs["resized"]), sha1(blobs["rewritten"])])
    # the readable summary puts data loss first and names the row
    code, _report, out, err = fsck(environ, "-d", name)
    assert code == 1
    assert out.splitlines()[2].startswith("  MISSING: 1 object(s)") and f"attachment {ids['missing']}" in out


def test_clean_store_exits_0_and_young_orphans_are_pending(backend, make_db):
    _scheme, environ, store, _server = backend
    name, _dsn, conn = make_db(grace_seconds=3600)
    for _ in range(3):
        data = os.urandom(100)
        store.put(sha1(data), data)
        insert_row(conn, store.uri(sha1(data)), data)
    young = os.urandom(50)
    store.put(sha1(young), young)  # an upload whose row is not committed yet, or an unlink's object
    code, report, _out, err = fsck(environ, "-d", name, "--json")
    assert code == 0, err
    assert report["ok"] and report["objects"] == 4 and report["pending_orphans"] == 1
    assert report["orphans"]["count"] == 0 and report["missing"]["count"] == 0


def test_an_object_referenced_by_another_database_is_no_orphan(backend, make_db):
    _scheme, environ, store, _server = backend
    first, _dsn, conn1 = make_db()
    second, _dsn2, conn2 = make_db()
    mine, theirs = os.urandom(200), os.urandom(300)
    for conn, data in ((conn1, mine), (conn2, theirs)):
        store.put(sha1(data), data)
        insert_row(conn, store.uri(sha1(data)), data)
    time.sleep(1.2)
    code, report, _out, _err = fsck(environ, "-d", first, "-d", second, "--json")
    assert code == 0 and report["references"] == 2 and report["orphans"]["count"] == 0
    code, report, _out, _err = fsck(environ, "-d", first, "--json")
    assert code == 1 and [ex["key"] for ex in report["orphans"]["examples"]] == [sha1(theirs)]


def test_unreachable_store_or_database_cannot_check(backend, make_db):
    scheme, environ, _store, server = backend
    name, _dsn, _conn = make_db()
    fast = {"AWS_MAX_ATTEMPTS": "1", "AWS_CONNECT_TIMEOUT": "1"} if scheme == "s3" else {
        "SWIFT_RETRIES": "0", "SWIFT_CONNECT_TIMEOUT": "1"}
    with server.outage():
        code, _report, _out, err = fsck({**environ, **fast}, "-d", name, "--json")
    assert code == 3, err
    assert "cannot check" in err and "Traceback" not in err
    code, _report, _out, err = fsck(environ, "-d", "no_such_database_here", "--json")
    assert code == 3 and "cannot connect to the database" in err


def test_usage_errors_exit_2(backend, make_db):
    _scheme, environ, _store, _server = backend
    name, _dsn, _conn = make_db(grace_seconds=3600)
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "10min")
    assert code == 2 and "grace period" in err
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans")
    assert code == 2 and "--older-than" in err
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "soon")
    assert code == 2 and "expected a duration" in err


def backdate_gc_marks(conn, seconds: int = 3600) -> None:
    """What waiting for the GC's grace period (at least gc.MIN_GRACE_SECONDS) looks like to the GC."""
    with conn.cursor() as cur:
        cur.execute("UPDATE object_storage_gc SET marked_at = marked_at - %s * interval '1 second'",
                    (seconds,))
    conn.commit()


def test_delete_orphans_only_when_asked_and_through_the_gc(backend, make_db):
    _scheme, environ, store, _server = backend
    name, _dsn, conn = make_db(grace_seconds=1)
    kept, orphan = os.urandom(400), os.urandom(500)
    for data in (kept, orphan):
        store.put(sha1(data), data)
    insert_row(conn, store.uri(sha1(kept)), kept)
    time.sleep(1.2)
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s")
    assert code == 1 and "dry run" in err
    assert store.exists(sha1(orphan))
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s", "--apply")
    assert code == 1 and "1 orphan(s) handed to the GC" in err
    assert store.exists(sha1(orphan))  # marked now: the GC waits its grace period like for any unlink
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s", "--apply")
    assert store.exists(sha1(orphan))  # still younger than the GC's floor (gc.MIN_GRACE_SECONDS)
    # a row referencing it meanwhile (an upload that found the object already stored) saves it:
    # the GC re-checks the references when it collects
    young_ref = insert_row(conn, store.uri(sha1(orphan)), orphan)
    backdate_gc_marks(conn)
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s", "--apply")
    assert code == 0 and "1 still referenced" in err and store.exists(sha1(orphan))
    with conn.cursor() as cur:
        cur.execute("DELETE FROM ir_attachment WHERE id = %s", (young_ref,))
    conn.commit()
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s", "--apply")
    assert "1 orphan(s) handed to the GC" in err and store.exists(sha1(orphan))
    backdate_gc_marks(conn)
    code, _r, _o, err = fsck(environ, "-d", name, "--delete-orphans", "--older-than", "1s", "--apply")
    assert f"the GC deleted {store.uri(sha1(orphan))}" in err
    assert not store.exists(sha1(orphan)) and store.get(sha1(kept)) == kept
    code, report, _o, _err = fsck(environ, "-d", name, "--json")
    assert code == 0 and report["orphans"]["count"] == 0


def test_orphan_deletion_respects_another_database_recorded_in_the_bucket(backend, make_db):
    """B shares A's bucket and references an object A does not: fsck -d A sees an orphan, says that
    B is recorded there, and the GC (which checks B on the same cluster) keeps B's object."""
    _scheme, environ, store, _server = backend
    first, _dsn, conn1 = make_db(grace_seconds=1)
    second, _dsn2, conn2 = make_db(grace_seconds=1)
    theirs = os.urandom(300)
    store.put(sha1(theirs), theirs)
    insert_row(conn2, store.uri(sha1(theirs)), theirs)
    # B's GC ran once (or B loaded its registry): B is recorded as an owner of the bucket
    code, _r, _o, err = fsck(environ, "-d", second, "--delete-orphans", "--older-than", "1s", "--apply")
    assert code == 0, err
    time.sleep(1.2)
    code, report, _o, _err = fsck(environ, "-d", first, "--json")
    assert code == 1 and [ex["key"] for ex in report["orphans"]["examples"]] == [sha1(theirs)]
    assert report["unchecked_databases"] == [second]
    code, _r, _o, err = fsck(environ, "-d", first, "--delete-orphans", "--older-than", "1s", "--apply")
    backdate_gc_marks(conn1)
    code, _r, _o, err = fsck(environ, "-d", first, "--delete-orphans", "--older-than", "1s", "--apply")
    assert store.get(sha1(theirs)) == theirs and "the GC deleted" not in err


def test_reupload_missing_from_a_filestore_when_the_sha1_matches(backend, make_db, tmp_path):
    _scheme, environ, store, _server = backend
    name, _dsn, conn = make_db()
    good, bad = os.urandom(700), os.urandom(800)
    for data in (good, bad):
        store.put(sha1(data), data)
        insert_row(conn, store.uri(sha1(data)), data)
        store._delete(sha1(data))
    store.known_keys.clear()
    dump = tmp_path / "dump"
    (dump / "filestore" / sha1(good)[:2]).mkdir(parents=True)
    (dump / "filestore" / sha1(good)[:2] / sha1(good)).write_bytes(good)
    (dump / "filestore" / sha1(bad)[:2]).mkdir(parents=True, exist_ok=True)
    (dump / "filestore" / sha1(bad)[:2] / sha1(bad)).write_bytes(b"not the right bytes")
    code, _r, _o, err = fsck(environ, "-d", name, "--reupload-from", str(dump))
    assert code == 1 and "would restore" in err and not store.exists(sha1(good))
    code, _r, _o, err = fsck(environ, "-d", name, "--reupload-from", str(dump), "--apply")
    assert "restored 1 missing object(s)" in err and "1 with other bytes" in err
    assert store.get(sha1(good)) == good and not store.exists(sha1(bad))
    code, report, _o, _e = fsck(environ, "-d", name, "--json")
    assert report["missing"]["count"] == 1 and report["missing"]["examples"][0]["key"] == sha1(bad)


keys = st.lists(st.text(alphabet="0123456789abcdef.-/é", min_size=1, max_size=6), max_size=30)


@settings(max_examples=200, deadline=None)
@given(keys, keys)
def test_merge_is_the_join_of_two_sorted_streams(stored, referenced):
    """The merge-join equals the set-based answer on any pair of sorted key streams."""
    objects = [ObjectInfo("b", key, 1) for key in sorted(set(stored))]
    grouped = [(key, [Reference("db", key, i, None, None, None, None, None)])
               for i, key in enumerate(sorted(set(referenced)))]
    out = list(_merge(objects, grouped))
    assert [key for key, _o, _r in out] == sorted(set(stored) | set(referenced))
    for key, obj, rows in out:
        assert (obj is not None) == (key in stored) and bool(rows) == (key in referenced)
