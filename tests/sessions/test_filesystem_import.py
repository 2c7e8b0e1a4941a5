"""Moving in: Odoo's filesystem sessions copied into Redis once, never overwriting."""
import json
import os
import time

from odoo_cloud.sessions import codec, import_filesystem_sessions


def write_fs_session(directory, sid, data, age=0.0, legacy=False):
    if legacy:
        path = directory / f"werkzeug_{sid}.sess"
    else:
        (directory / sid[:2]).mkdir(parents=True, exist_ok=True)
        path = directory / sid[:2] / sid
    path.write_text(json.dumps(data), encoding="utf-8")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_import_copies_live_sessions_keeps_their_remaining_lifetime_and_runs_once(store, raw, tmp_path):
    sessions_dir = tmp_path / "sessions"
    sessions_dir.mkdir()
    fresh_auth, old_anon, expired, legacy, already = (store.generate_key() for _ in range(5))
    write_fs_session(sessions_dir, fresh_auth, {"uid": 2, "login": "admin"}, age=3600)
    write_fs_session(sessions_dir, old_anon, {"uid": None}, age=2 * 3600)
    write_fs_session(sessions_dir, expired, {"uid": None}, age=4 * 3600)  # past the 3 h anonymous TTL
    write_fs_session(sessions_dir, legacy, {"uid": 5}, legacy=True)
    write_fs_session(sessions_dir, already, {"uid": 6})
    (sessions_dir / "ab").mkdir(exist_ok=True)
    (sessions_dir / "ab" / "not-a-session-id").write_text("{}")
    broken = store.generate_key()
    write_fs_session(sessions_dir, broken, {"uid": 1}).write_text("{truncated")
    newer = store.new()
    newer.update(uid=6, login="newer in redis")
    newer.sid = already
    store.save(newer)

    report = import_filesystem_sessions(store, sessions_dir)
    assert (report.imported, report.existing, report.expired, report.unreadable) == (3, 1, 1, 1)
    week = 7 * 24 * 3600  # (read the TTLs first: a get slides them back to the full lifetime)
    assert week - 3600 - 10 <= raw.ttl(store.keys.session(fresh_auth)) <= week - 3600
    assert 3600 - 10 <= raw.ttl(store.keys.session(old_anon)) <= 3600
    # (checks, not requests: a request's read would stamp the session as active now)
    assert store.get(fresh_auth, record_activity=False)["login"] == "admin"
    assert store.get(legacy, record_activity=False)["uid"] == 5
    assert store.get(already, record_activity=False)["login"] == "newer in redis"  # never overwritten
    assert not store.get(expired, record_activity=False)
    # the last activity is the file's mtime, so vacuum judges imported sessions like Odoo judged the files
    stored = codec.unpack(raw.get(store.keys.session(fresh_auth)))
    assert abs(stored.active_at - (time.time() - 3600)) < 5

    again = import_filesystem_sessions(store, sessions_dir)
    assert again.skipped_already_done and again.imported == 0
    assert raw.exists(store.keys.meta("filesystem-import-lock")) == 0


def test_import_of_a_missing_directory_imports_nothing(store, tmp_path):
    report = import_filesystem_sessions(store, tmp_path / "nowhere")
    assert report.imported == 0 and not report.skipped_already_done
