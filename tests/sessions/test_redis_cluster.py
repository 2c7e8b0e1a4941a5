"""The session store on a real Redis Cluster (3 masters, 1 replica each): layout, every operation,
a real master failover and a whole-cluster outage; TLS on a second, TLS-only cluster."""
from __future__ import annotations

import json
import time

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

import devstack
from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.preflight import probe_redis
from odoo_cloud.readiness import redis_check
from odoo_cloud.sessions import (
    RedisSessionStore,
    SessionStoreUnavailable,
    codec,
    generate_sid,
    import_filesystem_sessions,
)
from odoo_cloud.sessions.cluster import masters, ping
from odoo_cloud.sessions.connection import build_client, failure_deadline
from odoo_cloud.sessions.keys import IDENTIFIER_LENGTH, KeyLayout
from odoo_cloud.sessions.rotation import CREATE_TIME, DELETION_DELAY

from .test_legacy_session_redis import write_like_the_original


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def cluster_settings(url: str, prefix: str, **extra: str):
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": url, "ODOO_SESSION_REDIS_PREFIX": prefix,
               "ODOO_SESSION_REDIS_CLUSTER": "1"}
    environ.update(extra)
    return load_settings(environ).sessions


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_cluster_store(redis_cluster, unique_prefix, clock):
    made = []

    def make(**extra: str) -> RedisSessionStore:
        store = RedisSessionStore.from_settings(cluster_settings(redis_cluster.url, unique_prefix, **extra),
                                                clock=clock)
        made.append(store)
        return store

    yield make
    for store in made:
        store.connection.close()


@pytest.fixture
def store(make_cluster_store):
    return make_cluster_store()


@pytest.fixture
def raw(redis_cluster):
    """A plain RedisCluster client, to look at what the store wrote."""
    client = RedisCluster.from_url(redis_cluster.url)
    yield client
    client.close()


def logged_in(store, **data):
    session = store.new()
    session.update(uid=2, login="admin", session_token="t0", **data)
    store.save(session)
    return session


def stored(raw, store, sid):
    value = raw.get(store.keys.session(sid))
    return codec.unpack(value).data if value is not None else None


def all_keys(redis_cluster, prefix: str) -> list[str]:
    """Every key of `prefix` on every master, asked node by node (what a SCAN of one node would miss)."""
    found = []
    for port in redis_cluster.topology():
        node = redis.Redis(host="127.0.0.1", port=port)
        try:
            found += [k.decode() for k in node.scan_iter(match=prefix + ":*", count=1000)]
        finally:
            node.close()
    return found


class ClusterCommands:
    """Commands the masters executed (INFO commandstats summed over them): what really crossed the wire."""

    IGNORED = {"info", "config|resetstat", "ping", "cluster|slots", "cluster|shards", "cluster|nodes",
               "replconf", "command", "command|docs", "readonly"}

    def __init__(self, redis_cluster) -> None:
        self.clients = [redis.Redis(host="127.0.0.1", port=port) for port in redis_cluster.topology()]

    def reset(self) -> None:
        for client in self.clients:
            client.config_resetstat()

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for client in self.clients:
            for name, values in client.info("commandstats").items():
                command = name[len("cmdstat_"):]
                if command not in self.IGNORED:
                    found[command] = found.get(command, 0) + values["calls"]
        return found

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def commands(redis_cluster):
    counter = ClusterCommands(redis_cluster)
    yield counter
    counter.close()


# ------------------------------------------------------------------------------------------- layout
def test_cluster_settings_build_a_cluster_client_and_a_hash_tagged_layout(store, redis_cluster):
    assert isinstance(store.connection.client, RedisCluster)
    assert store.keys.hash_tag
    sid = store.generate_key()
    assert store.keys.session(sid) == f"{store.keys.prefix}:session:{{{sid[:42]}}}{sid[42:]}"
    assert store.keys.sid_of(store.keys.session(sid).encode()) == sid
    assert "(cluster)" in store.connection.display_url


def test_a_session_its_successors_and_its_family_share_one_slot_on_the_server(store, raw):
    session = logged_in(store)
    first = session.sid
    store.rotate(session, soft=True)  # Odoo 19: same identifier, new rest
    keys = [store.keys.session(first), store.keys.session(session.sid), store.keys.family(first[:42])]
    slots = {int(raw.execute_command("CLUSTER KEYSLOT", key)) for key in keys}  # the server's own hashing
    assert len(slots) == 1 and slots == {key_slot(keys[0].encode())}
    # and different sessions spread over the slots (the tag is the identifier, not the prefix)
    others = {key_slot(store.keys.session(store.generate_key()).encode()) for _ in range(50)}
    assert len(others) > 40


def test_a_prefix_with_a_brace_is_refused_on_a_cluster():
    """Redis hashes the first {...} of a key: a brace in the prefix would put every session in one slot.
    (ODOO_SESSION_REDIS_PREFIX cannot contain one; KeyLayout refuses it from code too.)"""
    with pytest.raises(ValueError, match="must not contain"):
        KeyLayout("acme{odoo}", hash_tag=True)
    with pytest.raises(ConfigError):
        load_settings({"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_PREFIX": "acme{odoo}"})


def test_single_server_keys_keep_their_layout(make_store):
    """No cluster: keys stay `<prefix>:session:<sid>`, so an upgrade logs nobody out."""
    plain = make_store()
    sid = plain.generate_key()
    assert not plain.keys.hash_tag and plain.keys.session(sid).endswith(":session:" + sid)


# ------------------------------------------------------------------------------------------- operations
def test_ping_and_scans_reach_every_master_and_only_masters(store, redis_cluster):
    """What readiness and `check --connect` PING, and what vacuum/revocation SCAN: the masters."""
    client = store.connection.client
    assert ping(client) is True
    assert sorted(node.connection_pool.connection_kwargs["port"] for node in masters(client)) == sorted(
        redis_cluster.topology())


def test_the_readiness_check_pings_the_cluster(store):
    check = redis_check(store.connection.settings, 2.0)
    check.prepare()
    assert check.probe() == f"PING {store.connection.display_url}"


def test_filesystem_sessions_are_imported_into_the_cluster(store, tmp_path):
    directory = tmp_path / "sessions"
    sids = [store.generate_key() for _ in range(12)]
    for n, sid in enumerate(sids):
        (directory / sid[:2]).mkdir(parents=True, exist_ok=True)
        (directory / sid[:2] / sid).write_text(json.dumps({"uid": 2, "n": n}), encoding="utf-8")
    report = import_filesystem_sessions(store, directory)
    assert (report.imported, report.existing) == (12, 0)
    assert [store.get(sid, record_activity=False)["n"] for sid in sids] == list(range(12))
    assert import_filesystem_sessions(store, directory).skipped_already_done


def test_save_and_load_are_one_command_each_on_the_cluster(store, commands):
    session = logged_in(store, lang="fr_FR")
    store.get(session.sid)  # the read script is loaded on its master
    commands.reset()
    loaded = store.get(session.sid)
    assert loaded.sid == session.sid and loaded["lang"] == "fr_FR"
    counts = commands.counts()
    assert counts.pop("evalsha") == 1 and set(counts) <= {"get", "ttl"}  # what the one script ran inside
    commands.reset()
    loaded["lang"] = "de_DE"
    assert store.save(loaded)
    assert store.save(loaded) is False  # unchanged: nothing sent
    assert commands.counts() == {"set": 1}
    assert store.get(loaded.sid)["lang"] == "de_DE"


def test_sessions_on_every_master_are_stored_and_read_back(store, redis_cluster, raw):
    sessions = [logged_in(store, n=n) for n in range(60)]
    owners = {raw.get_node_from_key(store.keys.session(s.sid)).port for s in sessions}
    assert owners == set(redis_cluster.topology())  # 60 random ids land on all three masters
    assert [store.get(s.sid)["n"] for s in sessions] == list(range(60))


def test_hard_rotation_across_slots_drops_the_old_id_and_its_predecessors(store, raw):
    session = logged_in(store)
    first = session.sid
    store.rotate(session, soft=True)
    second = session.sid
    old_slot = key_slot(store.keys.session(first).encode())
    elsewhere = next(sid for sid in iter(store.generate_key, None)
                     if key_slot(store.keys.session(sid).encode()) != old_slot)
    store.generate_key = lambda salt=None: elsewhere  # a brand-new id in another slot (1 in 16384 is not)
    store.rotate(session)  # logout/login
    assert session.sid == elsewhere
    assert stored(raw, store, first) is None and stored(raw, store, second) is None
    assert raw.exists(store.keys.family(first[:IDENTIFIER_LENGTH])) == 0
    assert stored(raw, store, session.sid)["uid"] == 2
    assert store.get(first).sid != first  # the old id gives a fresh session


def test_hard_rotation_of_a_new_session_and_delete(store, raw):
    session = store.new()
    session["uid"] = 5
    store.rotate(session)  # never stored: nothing to drop
    assert stored(raw, store, session.sid)["uid"] == 5
    store.delete(session)
    assert stored(raw, store, session.sid) is None


def test_soft_rotation_chain_and_delete_old_sessions_in_one_slot(store, raw, clock):
    session = logged_in(store)
    first = session.sid
    store.rotate(session, soft=True)
    second = session.sid
    clock.now += 3 * 3600
    store.rotate(session, soft=True)
    assert stored(raw, store, first)["next_sid"] == second
    clock.now += DELETION_DELAY + 1
    assert store.delete_old_sessions(session) == 2
    assert stored(raw, store, first) is None and stored(raw, store, second) is None
    assert stored(raw, store, session.sid)["uid"] == 2
    session[CREATE_TIME] = 0
    assert store.delete_old_sessions(session) == 0


def test_vacuum_walks_every_master(store, redis_cluster, clock):
    idle = [logged_in(store, n=n) for n in range(40)]
    clock.now += 3600
    active = [logged_in(store, n=n) for n in range(5)]
    assert store.vacuum(max_lifetime=1800) == 40
    prefix = store.keys.prefix
    left = all_keys(redis_cluster, prefix)
    assert sorted(left) == sorted(store.keys.session(s.sid) for s in active)
    assert all(store.get(s.sid).sid != s.sid for s in idle[:3])


def test_device_revocation_and_missing_identifiers_across_masters(store, redis_cluster):
    sessions = [logged_in(store, n=n) for n in range(30)]
    rotated = sessions[0]
    store.rotate(rotated, soft=True)
    doomed = [s.sid[:IDENTIFIER_LENGTH] for s in sessions[:10]]
    assert store.delete_from_identifiers(doomed) == 11  # the rotated one had a predecessor
    missing = store.get_missing_session_identifiers([s.sid[:IDENTIFIER_LENGTH] for s in sessions])
    assert missing == set(doomed)
    assert store.get_missing_session_identifiers([sessions[20].sid[:IDENTIFIER_LENGTH]]) == set()
    assert not any("family" in key for key in all_keys(redis_cluster, store.keys.prefix))


def test_sessions_the_original_left_on_a_cluster_move_on_first_use_and_revoke_across_masters(store, raw,
                                                                                          redis_cluster):
    """Issue 13 item 5 on a cluster: camptocamp's keys (`session::<prefix>:<sid>`, no hash tag) land on any
    master; each is read, moved to our hash-tagged key (two steps: different slots) and served; a revoked
    device's not yet moved session is found by scanning every master."""
    prefix = store.keys.prefix
    sids = [generate_sid() for _ in range(12)]
    legacy_keys = {sid: write_like_the_original(raw, prefix, sid, {"uid": 2, "login": "admin", "n": n})
                   for n, sid in enumerate(sids)}
    assert len({raw.cluster_keyslot(key) for key in legacy_keys.values()}) > 1
    assert len({redis_cluster_node(raw, key) for key in legacy_keys.values()}) > 1  # several masters

    moved, revoked, kept = sids[:6], sids[6:9], sids[9:]
    for n, sid in enumerate(moved):
        session = store.get(sid)
        assert not session.is_new and session["n"] == n
        assert raw.exists(legacy_keys[sid]) == 0
        assert stored(raw, store, sid)["n"] == n
    assert store.get_missing_session_identifiers([s[:IDENTIFIER_LENGTH] for s in sids]) == set()
    assert store.delete_from_identifiers([s[:IDENTIFIER_LENGTH] for s in revoked]) == 3
    assert all(store.get(sid).is_new for sid in revoked)
    assert all(raw.exists(legacy_keys[sid]) == 1 for sid in kept)
    assert [store.get(sid)["n"] for sid in kept] == [9, 10, 11]


def redis_cluster_node(raw, key: str) -> str:
    return raw.get_node_from_key(key).name


# ------------------------------------------------------------------------------------------- failures
def test_a_logged_in_session_survives_a_master_failover(store, redis_cluster, raw):
    session = logged_in(store, name="alice")
    key = store.keys.session(session.sid)
    slot = key_slot(key.encode())
    master = redis_cluster.master_of_slot(slot)
    # replication is asynchronous: WAIT until the replica acknowledged the write, then crash the master
    node = redis.Redis(host="127.0.0.1", port=master.port)
    try:
        assert node.execute_command("WAIT", 1, 5000) == 1
    finally:
        node.close()
    redis_cluster.kill_node(master)
    try:
        outcomes = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                loaded = store.get(session.sid)
            except SessionStoreUnavailable as exc:  # while the cluster elects the replica: a clean failure
                assert time.monotonic() - started < failure_deadline(store.connection.settings) + 1.0
                assert "unavailable during get" in str(exc)
                outcomes.add("unavailable")
                time.sleep(0.1)
                continue
            if loaded.sid == session.sid:
                outcomes.add("served")
                break
            pytest.fail("the session was lost in the failover")  # a fresh session: data gone
        assert "served" in outcomes, outcomes
        promoted = redis_cluster.wait_promoted(master, slot)
        assert promoted.port != master.port
        assert loaded["name"] == "alice" and loaded["uid"] == 2
        loaded["step"] = 1
        store.save(loaded)  # writes go to the new master
        assert store.get(session.sid)["step"] == 1
    finally:
        redis_cluster.restart_node(master)  # rejoins as a replica of the promoted node
        redis_cluster.wait_healthy()
    assert store.get(session.sid)["step"] == 1


def test_the_whole_cluster_down_gives_the_clean_unavailable_error_then_recovers(store, redis_cluster,
                                                                                 unique_prefix,
                                                                                 make_cluster_store):
    session = logged_in(store)
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_CLUSTER": "1",
               "ODOO_SESSION_REDIS_HOST": "127.0.0.1", "ODOO_SESSION_REDIS_PORT": str(redis_cluster.port),
               "ODOO_SESSION_REDIS_PREFIX": unique_prefix}
    probe = probe_redis(load_settings(environ), 2.0)  # `odoo-cloud check --connect`: every master PINGed
    assert probe.ok is True and "(cluster)" in probe.detail
    with redis_cluster.outage():
        assert probe_redis(load_settings(environ), 1.0).ok is False
        built_while_down = make_cluster_store()
        with pytest.raises(SessionStoreUnavailable):
            built_while_down.get(session.sid)  # the client cannot even read the slot map: clean error
        for call in (lambda: store.get(session.sid), lambda: store.save(session),
                     lambda: store.rotate(session), lambda: store.vacuum(60),
                     lambda: store.delete_from_identifiers([session.sid[:42]])):
            session["touch"] = time.monotonic()  # changed: the save must reach Redis
            started = time.monotonic()
            with pytest.raises(SessionStoreUnavailable) as caught:
                call()
            assert time.monotonic() - started < failure_deadline(store.connection.settings) * 3 + 1.0
            assert "(cluster)" in str(caught.value)
    # no persistence in the test cluster: the data is gone, the service is back with the same store object
    fresh = logged_in(store, after=True)
    assert store.get(fresh.sid)["after"] is True
    assert built_while_down.get(fresh.sid)["after"] is True  # its client is built once the cluster is back


# ------------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(("environ", "variable", "says"), [
    ({"ODOO_SESSION_REDIS_CLUSTER": "1", "ODOO_SESSION_REDIS_SENTINEL_HOST": "s1",
      "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m"}, "ODOO_SESSION_REDIS_CLUSTER", "Sentinel"),
    ({"ODOO_SESSION_REDIS_CLUSTER": "1", "ODOO_SESSION_REDIS_URL": "unix:///run/redis.sock"},
     "ODOO_SESSION_REDIS_URL", "Unix socket"),
    ({"ODOO_SESSION_REDIS_CLUSTER": "1", "ODOO_SESSION_REDIS_URL": "redis://h:6379/3"},
     "ODOO_SESSION_REDIS_URL", "single database"),
    ({"ODOO_SESSION_REDIS_CLUSTER": "1", "ODOO_SESSION_REDIS_URL": "redis://h:6379?db=2"},
     "ODOO_SESSION_REDIS_URL", "single database"),
    ({"ODOO_SESSION_REDIS_CLUSTER": "yes please"}, "ODOO_SESSION_REDIS_CLUSTER", "1/true/yes/on"),
    ({"ODOO_SESSION_REDIS_SSL": "1", "ODOO_SESSION_REDIS_URL": "redis://h:6379/0"},
     "ODOO_SESSION_REDIS_SSL", "rediss://"),
    ({"ODOO_SESSION_REDIS_SSL_CERT_REQS": "sometimes"}, "ODOO_SESSION_REDIS_SSL_CERT_REQS",
     "none, optional, required"),
])
def test_wrong_cluster_and_tls_settings_name_the_variable_and_the_expected_form(environ, variable, says):
    with pytest.raises(ConfigError) as caught:
        load_settings({"ODOO_SESSION_REDIS": "1", **environ})
    assert variable in caught.value.variables
    assert says in str(caught.value)


def test_cluster_and_tls_settings_are_read():
    settings = load_settings({"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_CLUSTER": "true",
                              "ODOO_SESSION_REDIS_SSL": "on", "ODOO_SESSION_REDIS_SSL_CERT_REQS": "None",
                              "ODOO_SESSION_REDIS_HOST": "redis-cluster"}).sessions
    assert (settings.cluster, settings.ssl, settings.ssl_cert_reqs) == (True, True, "none")
    assert settings.display_url == "rediss://redis-cluster:6379 (cluster)"
    defaults = load_settings({"ODOO_SESSION_REDIS": "1"}).sessions
    assert (defaults.cluster, defaults.ssl, defaults.ssl_cert_reqs) == (False, False, "required")


# ------------------------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_cluster(devstack_dir):
    """A TLS-only cluster (client, bus and replication links), self-signed CA; 3 masters, no replica."""
    server = devstack.RedisClusterServer(devstack_dir, replicas=0, tls=True, name="redis-cluster-tls")
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_tls_cluster_through_a_rediss_url_with_its_ca(tls_cluster, unique_prefix, clock):
    url = f"{tls_cluster.url}?ssl_ca_certs={tls_cluster.ca_path}"
    store = RedisSessionStore.from_settings(cluster_settings(url, unique_prefix), clock=clock)
    try:
        sessions = [logged_in(store, n=n) for n in range(20)]
        assert [store.get(s.sid)["n"] for s in sessions] == list(range(20))
        assert store.vacuum(max_lifetime=600) == 0
        clock.now += 601
        assert store.vacuum(max_lifetime=600) == 20  # every master walked over TLS
    finally:
        store.connection.close()


def test_tls_flag_and_certificate_check_on_host_and_port(tls_cluster, unique_prefix):
    base = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_CLUSTER": "1", "ODOO_SESSION_REDIS_SSL": "1",
            "ODOO_SESSION_REDIS_HOST": "127.0.0.1", "ODOO_SESSION_REDIS_PORT": str(tls_cluster.port),
            "ODOO_SESSION_REDIS_PREFIX": unique_prefix}
    unchecked = RedisSessionStore.from_settings(
        load_settings({**base, "ODOO_SESSION_REDIS_SSL_CERT_REQS": "none"}).sessions)
    checked = RedisSessionStore.from_settings(load_settings(base).sessions)  # default: required
    plain = RedisSessionStore.from_settings(
        load_settings({**base, "ODOO_SESSION_REDIS_SSL": "0"}).sessions)
    try:
        session = logged_in(unchecked)
        assert unchecked.get(session.sid)["uid"] == 2
        with pytest.raises(SessionStoreUnavailable) as caught:  # self-signed CA unknown to the system
            checked.get(session.sid)
        assert "certificate verify failed" in str(caught.value)
        with pytest.raises(SessionStoreUnavailable):  # plain text to a TLS port
            plain.get(session.sid)
    finally:
        for store in (unchecked, checked, plain):
            store.connection.close()


def test_tls_flag_on_a_single_server(redis_tls_server, unique_prefix):
    """ODOO_SESSION_REDIS_SSL applies to host/port connections to one server too."""
    url, _ca = redis_tls_server
    port = url.rsplit(":", 1)[1].split("/")[0]
    settings = load_settings({
        "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_SSL": "1", "ODOO_SESSION_REDIS_SSL_CERT_REQS": "none",
        "ODOO_SESSION_REDIS_HOST": "127.0.0.1", "ODOO_SESSION_REDIS_PORT": port,
        "ODOO_SESSION_REDIS_PREFIX": unique_prefix}).sessions
    client = build_client(settings)
    try:
        assert client.connection_pool.connection_class.__name__ == "SSLConnection"
        assert client.ping() is True
    finally:
        client.close()


def test_tls_flag_reaches_the_sentinels_and_the_master_they_name():
    """Sentinel over TLS is wired, not run: the clients built (nothing connects before the first command)
    speak TLS to the sentinels and to the master, with the certificate check asked for."""
    settings = load_settings({
        "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_SSL": "1",
        "ODOO_SESSION_REDIS_SSL_CERT_REQS": "optional", "ODOO_SESSION_REDIS_SENTINEL_HOST": "127.0.0.1:1",
        "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m"}).sessions
    master = build_client(settings)
    try:
        pool = master.connection_pool
        assert pool.connection_class.__name__ == "SentinelManagedSSLConnection"
        assert pool.connection_kwargs["ssl_cert_reqs"] == "optional"
        sentinels = pool.sentinel_manager.sentinels
        assert [s.connection_pool.connection_class.__name__ for s in sentinels] == ["SSLConnection"]
        assert sentinels[0].connection_pool.connection_kwargs["ssl_cert_reqs"] == "optional"
    finally:
        master.close()
