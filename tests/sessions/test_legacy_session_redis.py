"""Drop-in switch from camptocamp's session_redis (issue 13 item 5), against the real redis-server.

Sessions are written here exactly as the original writes them (its session.py / json_encoding.py,
branches 16.0 to 18.0, reproduced below): key `session:<sid>` or, with a prefix P, `"%s:%s:" %
("session:", P)` + sid = `session::P:<sid>`; value `json.dumps(dict(session), cls=SessionEncoder)`
in UTF-8 (default separators, ASCII escapes); SET, then EXPIRE. Then our store loads them.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import redis

from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.sessions import (
    RedisSessionStore,
    SessionStoreUnavailable,
    codec,
    generate_sid,
    import_filesystem_sessions,
    legacy,
)
from odoo_cloud.sessions.filesystem_import import ImportReport, purge_allowed, purge_filesystem_sessions

from .conftest import settings_for

WEEK, THREE_HOURS = 7 * 24 * 3600, 3 * 3600


class OriginalEncoder(json.JSONEncoder):
    """What camptocamp's json_encoding.SessionEncoder writes (dates, datetimes, sets as tagged objects)."""

    def default(self, o):
        if isinstance(o, datetime):
            return {"_type": "datetime_isoformat", "value": o.isoformat()}
        if isinstance(o, date):
            return {"_type": "date_isoformat", "value": o.isoformat()}
        if isinstance(o, set):
            return {"_type": "set", "value": tuple(o)}
        return super().default(o)


def original_key(prefix: str | None, sid: str) -> str:
    """RedisSessionStore.__init__ + build_key of the original."""
    key_prefix = "session:"
    if prefix:
        key_prefix = "%s:%s:" % (key_prefix, prefix)  # noqa: UP031 - the original's very expression
    return "%s%s" % (key_prefix, sid)  # noqa: UP031


def write_like_the_original(client: redis.Redis, prefix: str | None, sid: str, data: dict,
                            expiration: int | None = None) -> str:
    """RedisSessionStore.save of the original: SET the JSON, then EXPIRE (uid -> 7 days, else 3 hours)."""
    key = original_key(prefix, sid)
    payload = json.dumps(dict(data), cls=OriginalEncoder).encode("utf-8")
    if client.set(key, payload):
        client.expire(key, expiration or (WEEK if data.get("uid") else THREE_HOURS))
    return key


RICH = {
    "uid": 2, "login": "admin", "db": "prod", "session_token": "f" * 64,
    "context": {"lang": "fr_FR", "tz": "Europe/Zurich", "uid": 2},
    "when": datetime(2024, 1, 2, 3, 4, 5, 678901),
    "aware": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    "day": date(2024, 2, 29),
    "groups": {"a", "b", 3},
    "nested": [{"deep": {date(2020, 1, 1)}}],
    "unicode": "zürich ✓ 日本",
    "foreign": {"_type": "something-else", "value": 1},  # unknown tags stay plain dicts in the original
    "ours_lookalike": {"__oc__": "date", "v": "2020-01-01"},  # a user dict with our tag key stays a dict
}


@pytest.fixture
def prefixed(make_store, unique_prefix):
    return make_store(), unique_prefix


def test_a_prefixed_session_written_by_the_original_is_served_moved_and_deleted(prefixed, raw):
    store, prefix = prefixed
    sid = generate_sid()
    key = write_like_the_original(raw, prefix, sid, RICH)
    assert key == f"session::{prefix}:{sid}"  # the double colon is what the original's code writes
    raw.expire(key, 3600)  # what is left of its lifetime is kept

    session = store.get(sid)

    assert session.sid == sid and not session.is_new
    assert dict(session) == RICH
    assert isinstance(session["when"], datetime) and isinstance(session["day"], date)
    assert raw.exists(key) == 0, "the legacy key is deleted once ours is written"
    stored = codec.unpack(raw.get(store.keys.session(sid)))
    assert stored.kind == "a" and stored.data == RICH
    assert 3590 <= raw.ttl(store.keys.session(sid)) <= 3600
    assert dict(store.get(sid)) == RICH  # from now on, our key


def test_unprefixed_original_keys_are_found_when_no_prefix_is_configured(redis_server, raw):
    settings = load_settings({"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": redis_server.url}).sessions
    store = RedisSessionStore.from_settings(settings)
    sid = generate_sid()
    key = write_like_the_original(raw, None, sid, {"uid": 7, "login": "demo"})
    assert key == f"session:{sid}"
    try:
        assert store.get(sid)["uid"] == 7
        assert raw.exists(key) == 0 and raw.exists(f"odoo:session:{sid}") == 1
    finally:
        raw.delete(f"odoo:session:{sid}")
        store.connection.close()


def test_the_readme_layout_session_prefix_sid_is_found_too(prefixed, raw):
    store, prefix = prefixed
    sid = generate_sid()
    raw.set(f"session:{prefix}:{sid}", json.dumps({"uid": 5}, cls=OriginalEncoder), ex=600)
    assert store.get(sid)["uid"] == 5
    assert raw.exists(f"session:{prefix}:{sid}") == 0


def test_an_anonymous_legacy_session_gets_our_anonymous_ttl(make_store, raw, unique_prefix):
    store = make_store(ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS="600")
    sid = generate_sid()
    write_like_the_original(raw, unique_prefix, sid, {"uid": None, "debug": ""})  # 3 h there
    store.get(sid)
    stored = codec.unpack(raw.get(store.keys.session(sid)))
    assert stored.kind == "n"
    assert 590 <= raw.ttl(store.keys.session(sid)) <= 600


def test_no_round_trip_added_when_our_key_exists_and_one_on_a_miss(prefixed, commands):
    store, _prefix = prefixed
    session = store.new()
    session["uid"] = 1
    store.save(session)
    commands.reset()
    store.get(session.sid)
    hit = commands.counts()  # INFO commandstats also counts what the read script runs inside (get, ttl...)
    assert hit["evalsha"] == 1
    assert not {"strlen", "getrange", "pttl"} & set(hit), "a hit never looks at legacy keys"
    commands.reset()
    assert store.get(generate_sid()).is_new
    miss = commands.counts()
    assert miss["evalsha"] == 1
    assert {name: miss[name] for name in ("strlen", "getrange", "pttl", "exists")} == {
        "strlen": 2, "getrange": 2, "pttl": 2, "exists": 1}  # 2 candidate keys and ours: 1 MULTI/EXEC


def test_the_fallback_can_be_switched_off(make_store, raw, unique_prefix):
    store = make_store(ODOO_SESSION_REDIS_LEGACY_FALLBACK="0")
    assert store.legacy is None
    sid = generate_sid()
    key = write_like_the_original(raw, unique_prefix, sid, {"uid": 2})
    assert store.get(sid).is_new
    assert raw.exists(key) == 1, "switched off: the legacy key is not touched"


@pytest.mark.parametrize("value", [
    b"\xff\xfe not utf-8",
    b"{not json",
    b"[1, 2, 3]",
    b'{"uid": 2, "when": {"_type": "datetime_isoformat"}}',
    b'{"uid": 2, "when": {"_type": "datetime_isoformat", "value": "next tuesday"}}',
    b'{"uid": 2, "day": {"_type": "date_isoformat", "value": 20240101}}',
    b'{"uid": 2, "bag": {"_type": "set", "value": [[1], [2]]}}',
    b'{"uid": 2, "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
], ids=["bad-utf8", "bad-json", "not-an-object", "no-value", "bad-datetime", "bad-date", "unhashable-set",
        "deep-nesting"])
def test_an_undecodable_legacy_value_is_refused_cleanly(prefixed, raw, caplog, value):
    store, prefix = prefixed
    sid = generate_sid()
    key = original_key(prefix, sid)
    raw.set(key, value, ex=600)
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.sessions.legacy"):
        session = store.get(sid)
    assert session.is_new and session.sid != sid
    assert raw.exists(key) == 1, "refused: nothing is deleted"
    assert raw.exists(store.keys.session(sid)) == 0
    text = caplog.text
    assert sid[:6] in text and sid not in text, "the id is logged shortened, never in full"
    assert "next tuesday" not in text and "20240101" not in text, "never the content"


def test_a_legacy_value_above_the_bound_is_refused_without_being_read(prefixed, raw, caplog, commands):
    store, prefix = prefixed
    sid = generate_sid()
    key = original_key(prefix, sid)
    big = json.dumps({"uid": 2, "blob": "x" * legacy.MAX_LEGACY_BYTES}).encode()
    raw.set(key, big, ex=600)
    commands.reset()
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.sessions.legacy"):
        assert store.get(sid).is_new
    counts = commands.counts()
    assert "more than" in caplog.text and sid not in caplog.text
    assert counts.get("get") == 1, "the only GET is the read script's, of our key: never the legacy value"
    assert raw.exists(key) == 1


def test_a_legacy_key_of_another_type_is_ignored(prefixed, raw):
    store, prefix = prefixed
    sid = generate_sid()
    raw.hset(original_key(prefix, sid), "uid", 2)
    assert store.get(sid).is_new


def test_a_session_another_front_end_already_moved_is_never_overwritten(prefixed, raw):
    store, prefix = prefixed
    sid = generate_sid()
    newer = store.new()
    newer.sid = sid
    newer["uid"] = 2
    newer["newer"] = True
    store.save(newer)
    key = write_like_the_original(raw, prefix, sid, {"uid": 2, "older": True})
    adopted = store.legacy.adopt(store, sid)  # as if our GET had missed just before the other one wrote
    assert adopted["newer"] is True and "older" not in adopted
    assert raw.exists(key) == 0


def test_a_legacy_value_rewritten_meanwhile_is_read_again(prefixed, raw, monkeypatch):
    """An old front-end still running the original saves the session between our read and our move."""
    store, prefix = prefixed
    sid = generate_sid()
    write_like_the_original(raw, prefix, sid, {"uid": 2, "step": 1})
    real_read = legacy.LegacySessions._read
    calls = []

    def read_then_other_front_end_writes(self, store_, sid_):
        found = real_read(self, store_, sid_)
        calls.append(found)
        if len(calls) == 1:
            write_like_the_original(raw, prefix, sid, {"uid": 2, "step": 2})
        return found

    monkeypatch.setattr(legacy.LegacySessions, "_read", read_then_other_front_end_writes)
    assert store.get(sid)["step"] == 2
    assert len(calls) == 2


def test_a_redis_outage_between_read_and_move_loses_nothing(make_store, raw, unique_prefix, monkeypatch):
    """The move's write is held by a real server-side pause (CLIENT PAUSE WRITE) longer than our timeout:
    a clean SessionStoreUnavailable; afterwards the session is in Redis (legacy or ours, never neither)
    and the next request is logged in."""
    store = make_store(ODOO_SESSION_REDIS_TIMEOUT="0.3", ODOO_SESSION_REDIS_RETRIES="0")
    sid = generate_sid()
    key = write_like_the_original(raw, unique_prefix, sid, {"uid": 2, "login": "admin"})
    real_move = legacy.LegacySessions._move
    pause_ms = 1500

    def pause_then_move(self, *args, **kwargs):
        raw.client_pause(pause_ms, all=False)  # writes (and scripts) wait; reads are served
        return real_move(self, *args, **kwargs)

    monkeypatch.setattr(legacy.LegacySessions, "_move", pause_then_move)
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable, match="legacy session move"):
        store.get(sid)
    monkeypatch.setattr(legacy.LegacySessions, "_move", real_move)
    time.sleep(max(0.0, pause_ms / 1000 + 0.2 - (time.monotonic() - started)))
    assert raw.exists(key) + raw.exists(store.keys.session(sid)) >= 1, "the session must survive"
    assert store.get(sid)["login"] == "admin"
    assert raw.exists(key) == 0 and raw.exists(store.keys.session(sid)) == 1


def test_redis_down_during_the_legacy_read_is_a_clean_failure(prefixed, raw, redis_server, monkeypatch):
    store, prefix = prefixed
    sid = generate_sid()
    write_like_the_original(raw, prefix, sid, {"uid": 2})
    real_read = legacy.LegacySessions._read

    def stop_then_read(self, *args):
        redis_server.stop()
        return real_read(self, *args)

    monkeypatch.setattr(legacy.LegacySessions, "_read", stop_then_read)
    try:
        with pytest.raises(SessionStoreUnavailable, match="legacy session read"):
            store.get(sid)
    finally:
        redis_server.start()


def test_the_two_step_move_for_cluster_slots_writes_ours_first_and_never_over_a_newer_one(raw, unique_prefix):
    legacy_key, ours = f"session::{unique_prefix}:x", f"{unique_prefix}:session:x"
    raw.set(legacy_key, b"{}")
    assert legacy.LegacySessions.move_in_two_steps(raw, legacy_key, ours, b"mine", 60) == legacy.MOVED
    assert raw.get(ours) == b"mine" and raw.exists(legacy_key) == 0
    raw.set(legacy_key, b"{}")
    assert legacy.LegacySessions.move_in_two_steps(raw, legacy_key, ours, b"other", 60) == legacy.ALREADY_OURS
    assert raw.get(ours) == b"mine" and raw.exists(legacy_key) == 0


def test_revoking_a_device_deletes_its_not_yet_moved_legacy_session(prefixed, raw):
    store, prefix = prefixed
    doomed, kept = generate_sid(), generate_sid()
    doomed_keys = [write_like_the_original(raw, prefix, doomed, {"uid": 2})]
    raw.set(f"session:{prefix}:{doomed}", b"{}")  # the README layout too
    doomed_keys.append(f"session:{prefix}:{doomed}")
    kept_key = write_like_the_original(raw, prefix, kept, {"uid": 2})
    assert store.delete_from_identifiers([doomed[:42]]) == 2
    assert raw.exists(*doomed_keys) == 0 and raw.exists(kept_key) == 1
    assert store.get(doomed).is_new


def test_concurrent_front_ends_moving_the_same_session_agree(make_store, raw, unique_prefix):
    """Four front-ends get the same legacy session at once, 25 times: all four serve it, every time."""
    stores = [make_store() for _ in range(4)]
    for _round in range(25):
        sid = generate_sid()
        write_like_the_original(raw, unique_prefix, sid, RICH)
        results, barrier = [], threading.Barrier(len(stores))

        def load(store, sid=sid, results=results, barrier=barrier):
            barrier.wait()
            results.append(dict(store.get(sid)))

        threads = [threading.Thread(target=load, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [RICH] * len(stores)
        assert raw.exists(original_key(unique_prefix, sid)) == 0


# ------------------------------------------------------------------ variables of the original
def test_the_originals_variable_names_are_accepted_as_aliases(redis_server, unique_prefix):
    settings = settings_for(redis_server.url, unique_prefix,
                            ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS="true",
                            ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS="1")
    assert settings.import_filesystem and settings.purge_filesystem
    both = settings_for(redis_server.url, unique_prefix, ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS="1",
                        ODOO_SESSION_REDIS_IMPORT_FILESYSTEM="yes")
    assert both.import_filesystem, "both spellings set to the same value: fine"


@pytest.mark.parametrize(("ours", "theirs"), [
    ("ODOO_SESSION_REDIS_IMPORT_FILESYSTEM", "ODOO_SESSION_REDIS_COPY_EXISTING_FS_SESSIONS"),
    ("ODOO_SESSION_REDIS_PURGE_FILESYSTEM", "ODOO_SESSION_REDIS_PURGE_EXISTING_FS_SESSIONS"),
])
def test_both_spellings_disagreeing_is_an_error_naming_both(ours, theirs):
    with pytest.raises(ConfigError) as error:
        load_settings({ours: "0", theirs: "true"})
    message = str(error.value)
    assert ours in message and theirs in message
    assert "'0'" in message and "'true'" in message


def test_purge_deletes_only_files_named_like_sessions(tmp_path):
    sid, old_sid = generate_sid(), generate_sid()
    (tmp_path / sid[:2]).mkdir()
    (tmp_path / sid[:2] / sid).write_text("{}")
    (tmp_path / f"werkzeug_{old_sid}.sess").write_text("{}")
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "ab").mkdir(exist_ok=True)
    (tmp_path / "ab" / "not-a-session").write_text("keep me")
    assert purge_filesystem_sessions(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["not-a-session", "notes.txt"]


def test_a_not_yet_moved_session_is_not_missing_for_odoo_19(prefixed, raw):
    store, prefix = prefixed
    waiting, gone = generate_sid(), generate_sid()
    write_like_the_original(raw, prefix, waiting, {"uid": 2})
    assert store.get_missing_session_identifiers({waiting[:42], gone[:42]}) == {gone[:42]}


def test_purge_waits_for_a_complete_import():
    assert purge_allowed(False, None), "no import asked: purge, as the original did"
    assert purge_allowed(True, ImportReport(imported=3))
    assert purge_allowed(True, ImportReport(skipped_already_done=True)), "done by an earlier start"
    assert not purge_allowed(True, None), "the import failed (Redis down): keep the files"
    assert not purge_allowed(True, ImportReport(skipped_already_done=True, in_progress_elsewhere=True))


def test_an_import_held_by_another_instance_says_so(store, tmp_path, raw):
    raw.set(store.keys.meta("filesystem-import-lock"), "4242", ex=60)
    report = import_filesystem_sessions(store, tmp_path)
    assert report.in_progress_elsewhere and not purge_allowed(True, report)
