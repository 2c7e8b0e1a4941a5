"""The store's whole Odoo 18 API against a real redis-server."""
import logging
import time
from datetime import date, datetime

import pytest

from odoo_cloud.sessions import codec, is_valid_sid

HOUR = 3600
WEEK = 7 * 24 * HOUR


def saved_session(store, **data):
    session = store.new()
    session.update(data)
    store.save(session)
    return session


def test_new_is_empty_has_a_fresh_valid_id_and_costs_no_redis_call(store, commands):
    first, second = store.new(), store.new()
    assert not first and len(first) == 0 and first.is_new
    assert is_valid_sid(first.sid) and first.sid != second.sid
    assert commands.total() == 0


def test_get_of_an_unknown_id_is_a_fresh_empty_session_with_a_new_id(store):
    sid = store.generate_key()
    session = store.get(sid)
    assert not session and session.is_new and session.sid != sid


def test_save_then_get_round_trips_data_with_dates_and_sets(store):
    session = saved_session(store, uid=2, login="admin", context={"lang": "en_US"},
                            when=datetime(2024, 5, 6, 7, 8, 9), day=date(2024, 5, 6), groups={"a", "b"})
    loaded = store.get(session.sid)
    assert loaded.sid == session.sid and not loaded.is_new
    assert dict(loaded) == dict(session)
    assert isinstance(loaded["groups"], set) and type(loaded["day"]) is date


def test_authenticated_and_anonymous_sessions_get_their_own_ttl(make_store, raw):
    store = make_store(ODOO_SESSION_REDIS_EXPIRATION="5000", ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS="700")
    anonymous = saved_session(store, context={"lang": "en_US"}, uid=None)
    authenticated = saved_session(store, uid=2, login="admin")
    assert 695 <= raw.ttl(store.keys.session(anonymous.sid)) <= 700
    assert 4995 <= raw.ttl(store.keys.session(authenticated.sid)) <= 5000
    # logging in turns the anonymous session into an authenticated one: its TTL follows
    anonymous["uid"] = 7
    store.save(anonymous)
    assert 4995 <= raw.ttl(store.keys.session(anonymous.sid)) <= 5000


def test_default_ttls_are_odoo_lifetime_and_three_hours(store, raw):
    authenticated = saved_session(store, uid=2)
    anonymous = saved_session(store, uid=None)
    assert WEEK - 5 <= raw.ttl(store.keys.session(authenticated.sid)) <= WEEK
    assert 3 * HOUR - 5 <= raw.ttl(store.keys.session(anonymous.sid)) <= 3 * HOUR


def test_expiry_slides_on_read_once_per_refresh_interval_in_the_same_round_trip(make_store, raw, commands):
    store = make_store(ODOO_SESSION_REDIS_EXPIRATION="1000", ODOO_SESSION_REDIS_REFRESH_INTERVAL="100")
    session = saved_session(store, uid=2)
    key = store.keys.session(session.sid)
    store.get(session.sid)  # the first read of this expiry policy on a server loads its script (SCRIPT LOAD)

    raw.expire(key, 950)  # 50 s of activity: within the refresh interval, nothing to do
    commands.reset()
    store.get(session.sid)
    # one round trip (EVALSHA); GET and TTL ran inside it on the server, no EXPIRE
    assert commands.counts() == {"evalsha": 1, "get": 1, "ttl": 1}
    assert raw.ttl(key) <= 950

    raw.expire(key, 850)  # 150 s since the last refresh: the read pushes expiry back
    commands.reset()
    store.get(session.sid)
    assert commands.counts() == {"evalsha": 1, "get": 1, "ttl": 1, "expire": 1}  # still one round trip
    assert 995 <= raw.ttl(key) <= 1000


def test_a_session_past_its_ttl_is_gone(make_store, raw):
    store = make_store(ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS="1")
    session = saved_session(store, uid=None)
    time.sleep(2.1)
    fresh = store.get(session.sid)
    assert not fresh and fresh.sid != session.sid


def test_get_is_one_round_trip_and_an_unchanged_session_is_not_written_again(store, commands):
    session = saved_session(store, uid=2, context={"lang": "en_US"}, tags={"x", "y"})
    commands.reset()
    loaded = store.get(session.sid)
    assert commands.counts() == {"evalsha": 1, "get": 1, "ttl": 1}
    commands.reset()
    loaded["uid"] = 2  # same value
    assert store.save(loaded) is False
    assert commands.total() == 0
    loaded["uid"] = 3
    assert store.save(loaded) is True
    assert commands.counts() == {"set": 1}


def test_an_unchanged_session_is_never_rewritten_its_reads_keep_it_fresh(make_store, raw, commands):
    now = [1_800_000_000.0]
    store = make_store(clock=lambda: now[0], ODOO_SESSION_REDIS_REFRESH_INTERVAL="60")
    session = saved_session(store, uid=2)
    now[0] += 3600
    loaded = store.get(session.sid)  # a request an hour later: restamps its activity in the read itself
    commands.reset()
    assert store.save(loaded) is False
    assert commands.total() == 0
    assert codec.unpack(raw.get(store.keys.session(session.sid))).active_at == int(now[0])


def test_delete_removes_the_session(store, raw):
    session = saved_session(store, uid=2)
    store.delete(session)
    assert raw.exists(store.keys.session(session.sid)) == 0
    assert store.get(session.sid).sid != session.sid


def test_rotate_moves_data_to_a_new_id_and_invalidates_the_old_one_atomically(store, raw, commands):
    store.rotate(saved_session(store, uid=3))  # the first rotation on a server loads the script
    session = saved_session(store, uid=2, login="admin")
    old_sid = session.sid
    seen = []
    commands.reset()
    store.rotate(session, before_save=lambda s: seen.append(s.sid))
    assert session.sid != old_sid and seen == [session.sid] and not session.should_rotate
    counts = commands.counts()
    assert counts["evalsha"] == 1, counts  # one round trip (one script)
    assert counts["set"] == 1 and "multi" not in counts
    assert raw.exists(store.keys.session(old_sid)) == 0
    assert store.get(old_sid).sid != old_sid
    assert store.get(session.sid)["login"] == "admin"


def test_prefixes_isolate_instances_sharing_one_redis(make_store, unique_prefix, raw):
    prod, other = make_store(unique_prefix + "-prod"), make_store(unique_prefix + "-integration")
    session = saved_session(prod, uid=2)
    assert other.get(session.sid).sid != session.sid  # same id, other prefix: unknown there
    other_session = other.new()
    other_session.update(uid=5)
    other_session.sid = session.sid
    other.save(other_session)
    assert prod.get(session.sid)["uid"] == 2 and other.get(session.sid)["uid"] == 5
    assert other.delete_from_identifiers([session.sid[:42]]) == 1
    assert prod.get(session.sid)["uid"] == 2
    keys = {k.decode() for k in raw.scan_iter(match=unique_prefix + "*")}
    assert keys == {prod.keys.session(session.sid)}


@pytest.mark.parametrize("payload", [
    b"ocs1 a 0001700000000 {broken json",
    b'{"uid": 2, "login": "from another store"}',
    b"\x80\x04\x95 pickled werkzeug session",
])
def test_corrupt_or_foreign_data_gives_a_fresh_session_and_a_warning(store, raw, caplog, payload):
    sid = store.generate_key()
    raw.set(store.keys.session(sid), payload)
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.sessions.store"):
        session = store.get(sid)
    assert not session and session.sid != sid
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "fresh session" in warnings[0].getMessage()
    assert sid not in warnings[0].getMessage()  # an id is a credential: only its first characters


def test_a_non_string_redis_value_under_the_key_gives_a_fresh_session(store, raw, caplog):
    sid = store.generate_key()
    raw.hset(store.keys.session(sid), "uid", "2")
    with caplog.at_level(logging.WARNING):
        assert not store.get(sid)
    assert "not a session" in caplog.text


@pytest.mark.parametrize("sid", [
    "A" * 85, "A" * 83, "A" * 83 + "\n", "../../etc/passwd", "A" * 80 + "/../", "*", "A" * 83 + "*",
    "A" * 83 + "é", "", "session:" + "A" * 76, "A" * 10000,
])
def test_hostile_ids_never_reach_redis(store, commands, sid):
    assert store.get(sid).sid != sid
    fake = store.new()
    fake.sid = sid
    store.delete(fake)
    with pytest.raises(ValueError):
        store.save(fake)
    assert commands.total() == 0


def test_revoking_a_device_deletes_only_sessions_starting_with_its_identifier(store, raw):
    victim, other = saved_session(store, uid=2), saved_session(store, uid=3)
    sibling = store.new()  # shares the victim's identifier (first 42 characters): revoked too
    sibling.sid = victim.sid[:42] + other.sid[42:]
    sibling["uid"] = 2
    store.save(sibling)
    assert store.delete_from_identifiers([victim.sid[:42], "*" * 42, victim.sid[:41], "x"]) == 2
    assert raw.exists(store.keys.session(victim.sid), store.keys.session(sibling.sid)) == 0
    assert store.get(other.sid)["uid"] == 3
    assert store.delete_from_identifiers(["*" * 42, "?" * 42, ""]) == 0


def test_revoking_several_identifiers_in_one_call(store):
    sessions = [saved_session(store, uid=i) for i in range(1, 6)]
    assert store.delete_from_identifiers([s.sid[:42] for s in sessions[:3]]) == 3
    assert [bool(store.get(s.sid)) for s in sessions] == [False, False, False, True, True]


def test_vacuum_deletes_sessions_not_saved_within_max_lifetime(make_store, raw):
    now = [1_800_000_000.0]
    store = make_store(clock=lambda: now[0])
    old = saved_session(store, uid=2)
    now[0] += 100
    recent = saved_session(store, uid=3)
    foreign_key = store.keys.session(store.generate_key())
    raw.set(foreign_key, b"not ours")
    now[0] += 50
    assert store.vacuum(max_lifetime=149) == 1  # old was saved 150 s ago
    assert not store.get(old.sid) and store.get(recent.sid)["uid"] == 3
    assert raw.exists(foreign_key) == 1  # vacuum deletes only what it can read as a session
    assert store.vacuum(max_lifetime=0) == 0


def test_vacuum_and_revocation_scan_without_keys(store, commands):
    for uid in range(20):
        saved_session(store, uid=uid + 1)
    commands.reset()
    store.vacuum(max_lifetime=WEEK)
    store.delete_from_identifiers(["b" * 42])
    counts = commands.counts()
    assert "keys" not in counts and counts["scan"] >= 1


def test_operations_are_published_for_metrics(store):
    from odoo_cloud import instrumentation

    seen = []
    instrumentation.subscribe(seen.append)
    try:
        session = saved_session(store, uid=2)
        store.get(session.sid)
        store.delete(session)
    finally:
        instrumentation.unsubscribe(seen.append)
    names = [op.name for op in seen]
    assert names == ["sessions.save", "sessions.get", "sessions.delete"]
    assert seen[0].nbytes > 20 and seen[1].nbytes == seen[0].nbytes and all(op.ok for op in seen)


def test_a_server_that_forgot_the_read_script_gets_it_again(store, raw):
    session = saved_session(store, uid=2, login="admin")
    raw.script_flush()  # what a restarted Redis looks like to a running worker
    assert store.get(session.sid)["login"] == "admin"
    assert store.get(session.sid)["login"] == "admin"
