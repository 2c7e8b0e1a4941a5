"""Vacuum judges by last activity (issue 10 item 11), with one round trip per request.

A user active every minute for 30 minutes must survive `vacuum(1800)` 60 s after their last request,
although an unchanged session is never rewritten: the read script of each request restamps the session's
last activity (at most once per granularity), and vacuum compares that stamp with the clock. Time is the
store's injected clock, not sleeps; Redis is real, and what crossed the wire is read from INFO commandstats.
"""
from odoo_cloud.sessions import codec

MINUTE = 60
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def logged_in(store, **data):
    session = store.new()
    session.update(uid=2, login="admin", **data)
    store.save(session)
    return session


def request(store, sid):
    """What Odoo does per request with an unchanged session: load it, save it (skipped: same bytes)."""
    session = store.get(sid)
    assert session.sid == sid, "the session must still exist"
    store.save(session)
    return session


def active_at(raw, store, sid):
    return codec.unpack(raw.get(store.keys.session(sid))).active_at


def test_a_user_active_every_minute_survives_vacuum_one_minute_after_the_last_request(make_store, commands):
    clock = Clock()
    store = make_store(clock=clock)
    session = logged_in(store)
    request(store, session.sid)  # a first request loads the read script on this server
    commands.reset()
    for _ in range(30):
        clock.advance(MINUTE)
        request(store, session.sid)
    counts = commands.counts()
    # one round trip per request, nothing written by the saves (the bytes never changed)
    assert counts["evalsha"] == 30 and "set" not in counts, counts
    assert counts.get("setrange", 0) <= 30
    clock.advance(MINUTE)
    assert store.vacuum(max_lifetime=30 * MINUTE) == 0
    assert store.get(session.sid, record_activity=False).sid == session.sid  # a check, not a request

    # and once really inactive for longer than max_lifetime, it goes
    clock.advance(30 * MINUTE)
    assert store.vacuum(max_lifetime=30 * MINUTE) == 1
    assert store.get(session.sid).sid != session.sid


def test_reads_restamp_activity_at_most_once_per_granularity_inside_the_read(make_store, raw, commands):
    clock = Clock()
    store = make_store(clock=clock)
    granularity = store.expiry.activity_granularity
    session = logged_in(store)
    request(store, session.sid)
    commands.reset()
    for _ in range(5):  # a burst of requests within the granularity: reads only
        clock.advance(granularity / 10)
        request(store, session.sid)
    assert "setrange" not in commands.counts() and active_at(raw, store, session.sid) == int(T0)
    clock.advance(granularity)
    commands.reset()
    loaded = request(store, session.sid)
    # the stamp moved in the same round trip as the read, and the session got what is now stored
    assert commands.counts() == {"evalsha": 1, "get": 1, "ttl": 1, "setrange": 1}
    assert active_at(raw, store, session.sid) == int(clock.now) == loaded.stored.active_at
    assert store.get(session.sid)["login"] == "admin"  # the data is intact after the in-place write


def test_vacuum_keeps_what_was_used_within_max_lifetime_and_only_that(make_store):
    clock = Clock()
    store = make_store(clock=clock)
    used, idle = logged_in(store), logged_in(store)
    for _ in range(10):
        clock.advance(5 * MINUTE)
        request(store, used.sid)
    # idle: last activity 50 min ago; used: 0 min ago
    assert store.vacuum(max_lifetime=49 * MINUTE) == 1
    assert store.get(used.sid, record_activity=False).sid == used.sid
    assert store.get(idle.sid, record_activity=False).sid != idle.sid


def test_reads_that_are_not_requests_do_not_count_as_activity(make_store, raw):
    clock = Clock()
    store = make_store(clock=clock)
    session = logged_in(store)
    clock.advance(10 * MINUTE)
    assert store.get(session.sid, record_activity=False)["uid"] == 2
    assert active_at(raw, store, session.sid) == int(T0)
    assert store.vacuum(max_lifetime=10 * MINUTE - 1) == 1


def test_a_clock_behind_never_moves_the_stamp_back(make_store, raw):
    clock = Clock()
    store = make_store(clock=clock)
    session = logged_in(store)
    clock.advance(-3600)  # a worker whose clock is an hour late
    request(store, session.sid)
    assert active_at(raw, store, session.sid) == int(T0)
