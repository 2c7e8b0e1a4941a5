"""The store methods Odoo 19 adds or changes, against a real redis-server (issue 16 item 3).

Soft rotation (new id, same first 42 characters, the old one kept briefly with `next_sid` and
`deletion_time`), `delete_old_sessions`, `get_missing_session_identifiers`, `delete_from_identifiers`
on rotated families, hard rotation after a soft one, and the round trips each costs.
"""
import pytest

from odoo_cloud.sessions import codec, is_valid_sid
from odoo_cloud.sessions.keys import IDENTIFIER_LENGTH as ID_LENGTH
from odoo_cloud.sessions.rotation import (
    CREATE_TIME,
    DELETION_DELAY,
    DELETION_TIME,
    GC_PREVIOUS_SESSIONS,
    NEXT_SID,
)

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(make_store, clock):
    return make_store(clock=clock)


def logged_in(store, **data):
    session = store.new()
    session.update(uid=2, login="admin", session_token="t0", **data)
    store.save(session)
    return session


def stored(raw, store, sid):
    value = raw.get(store.keys.session(sid))
    return codec.unpack(value).data if value is not None else None


def warm_up(store):
    """Load every script on the server once, so that command counts show steady-state round trips."""
    session = logged_in(store)
    store.rotate(session, soft=True)
    store.get(session.sid)
    session[CREATE_TIME] = 0
    store.delete_old_sessions(session)
    store.rotate(session)


def test_soft_rotation_keeps_the_identifier_and_leaves_a_pointer_in_one_round_trip(store, raw, commands):
    warm_up(store)
    session = logged_in(store, context={"lang": "fr_FR"})
    old_sid = session.sid
    tokens = []

    def new_token(successor):
        tokens.append(successor.sid)
        successor["session_token"] = "token-of-" + successor.sid[-4:]

    commands.reset()
    store.rotate(session, before_save=new_token, soft=True)
    counts = commands.counts()
    assert counts["evalsha"] == 1 and counts["set"] == 2, counts  # one round trip
    new_sid = session.sid
    assert new_sid != old_sid and is_valid_sid(new_sid) and new_sid[:ID_LENGTH] == old_sid[:ID_LENGTH]
    assert tokens == [new_sid] and session["session_token"] == "token-of-" + new_sid[-4:]

    old = stored(raw, store, old_sid)
    assert old[NEXT_SID] == new_sid and old[DELETION_TIME] == T0 + DELETION_DELAY
    assert old["session_token"] == "t0" and old["context"] == {"lang": "fr_FR"}
    new = stored(raw, store, new_sid)
    assert NEXT_SID not in new and DELETION_TIME not in new
    assert new[GC_PREVIOUS_SESSIONS] is True and new[CREATE_TIME] == T0
    assert new["session_token"] == session["session_token"] and new["uid"] == 2
    assert dict(session) == new and not session.should_rotate
    # the old session keeps an authenticated TTL while concurrent requests may still use it
    assert raw.ttl(store.keys.session(old_sid)) > DELETION_DELAY


def test_a_concurrent_request_adopts_the_successor_instead_of_rotating_again(store, raw):
    session = logged_in(store)
    first, second = store.get(session.sid), store.get(session.sid)  # two requests with the same cookie
    store.rotate(first, soft=True)
    store.rotate(second, soft=True)
    assert second.sid == first.sid
    family = {k.decode() for k in raw.scan_iter(match=store.keys.session_pattern(session.sid[:ID_LENGTH]))}
    assert family == {store.keys.session(session.sid), store.keys.session(first.sid)}


def test_soft_rotation_of_a_session_revoked_meanwhile_writes_nothing(store, raw):
    session = logged_in(store)
    loaded = store.get(session.sid)
    store.delete_from_identifiers([session.sid[:ID_LENGTH]])  # an admin revokes the device
    store.rotate(loaded, soft=True)
    assert not list(raw.scan_iter(match=store.keys.prefix + ":*"))


def test_delete_old_sessions_waits_for_the_delay_then_removes_every_predecessor(store, raw, clock, commands):
    warm_up(store)
    session = logged_in(store)
    first_sid = session.sid
    store.rotate(session, soft=True)
    second_sid = session.sid
    clock.now += 3 * 3600
    store.rotate(session, soft=True)  # a chain: the predecessor of the predecessor is collected too
    third_sid = session.sid

    commands.reset()
    clock.now += DELETION_DELAY  # not past the delay yet (strictly after, as Odoo)
    assert store.delete_old_sessions(session) == 0 and commands.total() == 0
    clock.now += 1
    assert store.delete_old_sessions(session) == 2
    assert commands.counts()["evalsha"] == 1
    assert GC_PREVIOUS_SESSIONS not in session
    assert stored(raw, store, first_sid) is None and stored(raw, store, second_sid) is None
    current = stored(raw, store, third_sid)
    assert current["uid"] == 2 and GC_PREVIOUS_SESSIONS not in current
    assert raw.exists(store.keys.family(third_sid[:ID_LENGTH])) == 0
    commands.reset()
    assert store.delete_old_sessions(session) == 0 and commands.total() == 0  # nothing left to do: free


def test_delete_old_sessions_never_resurrects_a_revoked_session(store, raw, clock):
    session = logged_in(store)
    store.rotate(session, soft=True)
    store.delete_from_identifiers([session.sid[:ID_LENGTH]])
    clock.now += DELETION_DELAY + 1
    store.delete_old_sessions(session)
    assert not list(raw.scan_iter(match=store.keys.prefix + ":*"))


def test_a_hard_rotation_after_a_soft_one_invalidates_the_predecessors_too(store, raw):
    session = logged_in(store)
    first_sid = session.sid
    store.rotate(session, soft=True)
    second_sid = session.sid
    store.rotate(session)  # logout: a brand-new id
    assert session.sid[:ID_LENGTH] != first_sid[:ID_LENGTH]
    assert stored(raw, store, first_sid) is None and stored(raw, store, second_sid) is None
    assert stored(raw, store, session.sid)["uid"] == 2
    assert raw.exists(store.keys.family(first_sid[:ID_LENGTH])) == 0


def test_missing_identifiers_are_those_no_session_starts_with(store, raw, commands):
    alive, rotated, gone = logged_in(store), logged_in(store), logged_in(store)
    store.rotate(rotated, soft=True)
    store.delete(gone)
    unknown = store.generate_key()[:ID_LENGTH]
    hostile = ["*" * ID_LENGTH, alive.sid[:41], alive.sid[:ID_LENGTH] + "x", ""]
    asked = {s.sid[:ID_LENGTH] for s in (alive, rotated, gone)} | {unknown, *hostile}
    commands.reset()
    missing = store.get_missing_session_identifiers(asked)
    assert missing == {gone.sid[:ID_LENGTH], unknown, *hostile}
    counts = commands.counts()
    assert "keys" not in counts and counts["scan"] >= 1
    assert store.get_missing_session_identifiers(set()) == set()
    assert store.get_missing_session_identifiers([alive.sid[:ID_LENGTH]]) == set()  # one identifier
    with pytest.raises(ValueError):
        store.get_missing_session_identifiers(alive.sid[:ID_LENGTH])  # a string, not a collection


def test_revoking_an_identifier_removes_the_whole_rotated_family(store, raw):
    session, other = logged_in(store), logged_in(store)
    first_sid = session.sid
    store.rotate(session, soft=True)
    assert store.delete_from_identifiers([first_sid[:ID_LENGTH]]) == 2
    assert stored(raw, store, first_sid) is None and stored(raw, store, session.sid) is None
    assert raw.exists(store.keys.family(first_sid[:ID_LENGTH])) == 0
    assert stored(raw, store, other.sid)["uid"] == 2
    with pytest.raises(ValueError):
        store.delete_from_identifiers(other.sid[:ID_LENGTH])


def test_generate_key_and_is_valid_key_follow_odoo(store):
    keys = {store.generate_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(k) == 84 and store.is_valid_key(k) for k in keys)
    for bad in ("A" * 83, "A" * 85, "A" * 83 + "\n", "A" * 83 + "/", None, 84, b"A" * 84):
        assert not store.is_valid_key(bad)


def test_a_late_request_on_a_superseded_session_never_hides_it_from_its_successor(store, raw, clock):
    session = logged_in(store)
    store.rotate(session, soft=True)
    first_successor = session.sid
    clock.now += 3 * 3600
    late = store.get(first_successor)  # a request still carrying the first successor's cookie...
    store.rotate(session, soft=True)  # ...while the current tab rotates again
    current = session.sid
    clock.now += DELETION_DELAY + 1
    store.delete_old_sessions(late)  # the late request collects the oldest id, not itself
    still = stored(raw, store, first_successor)
    assert still[NEXT_SID] == current and DELETION_TIME in still  # and does not un-supersede it
    assert store.delete_old_sessions(session) == 1  # the successor collects it afterwards
    family = {k.decode() for k in raw.scan_iter(match=store.keys.session_pattern(current[:ID_LENGTH]))}
    assert family == {store.keys.session(current)}
