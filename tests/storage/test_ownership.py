"""No GC run deletes an object another database still references (issue 10, items 1, 2 and 5), on real
PostgreSQL clusters and real S3 (SeaweedFS) / Swift servers, for each way a bucket ends up shared:
several databases of one server, a duplicated database (same or regenerated uuid), a restored dump
that only reads, a database of another server; plus the non-prod guard on a prod-owned bucket with an
unstructured name, `odoo-cloud check --connect`, the grace period minimum and the REPEATABLE READ
snapshot of the collector."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
import uuid

import psycopg2
import pytest

import devstack
from odoo_cloud import cli
from odoo_cloud.storage import factory, gc, ownership

from .conftest import backend_env, make_store

SHARED_BACKENDS = ["seaweedfs", "swift-v1"]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class OdooLikeDatabase:
    """A database with what the GC reads of an Odoo database: ir_attachment, database.uuid, GC tables."""

    def __init__(self, server, name: str, database_uuid: str | None = None, create: bool = True):
        self.server = server
        self.name = name
        if create:
            server.create_database(name)
        self.conn = psycopg2.connect(server.dsn(name))
        if create:
            with self.conn.cursor() as cr:
                cr.execute("CREATE TABLE ir_attachment (id serial PRIMARY KEY, store_fname varchar)")
                cr.execute("CREATE TABLE ir_config_parameter (key varchar PRIMARY KEY, value varchar)")
                cr.execute("INSERT INTO ir_config_parameter VALUES ('database.uuid', %s)",
                           (database_uuid or str(uuid.uuid4()),))
                gc.ensure_table(cr)
            self.conn.commit()

    def connect(self, dbname: str):
        return psycopg2.connect(self.server.dsn(dbname))

    def execute(self, query: str, params=()) -> list:
        with self.conn.cursor() as cr:
            cr.execute(query, params)
            rows = cr.fetchall() if cr.description else []
        self.conn.commit()
        return rows

    def attach(self, fname: str) -> None:
        self.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))

    def unlink(self, fname: str) -> None:
        """As an unlink does: the row goes, the name becomes a GC candidate, in one transaction."""
        with self.conn.cursor() as cr:
            cr.execute("DELETE FROM ir_attachment WHERE store_fname = %s", (fname,))
            gc.mark(cr, [fname])
        self.conn.commit()

    def identity(self) -> ownership.DatabaseIdentity:
        with self.conn.cursor() as cr:
            found = ownership.identify(cr)
        self.conn.commit()
        return found

    def register(self, store, role=ownership.OWNER, running_env="test") -> None:
        """What the Odoo glue does at registry load."""
        ownership.register(store, self.identity(), role, running_env)

    def collect(self, store, running_env="test", **options) -> gc.CollectReport:
        with self.conn.cursor() as cr:
            options.setdefault("grace_seconds", 0)
            return gc.collect(cr, store, commit=self.conn.commit, running_env=running_env,
                              connect=self.connect, **options)

    def pending(self) -> list[str]:
        with self.conn.cursor() as cr:
            names = gc.pending(cr)
        self.conn.commit()
        return names

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def databases(postgres_server, unique_prefix):
    made = []

    def make(suffix: str, server=None, **kwargs) -> OdooLikeDatabase:
        name = f"{unique_prefix.replace('-', '_')}_{suffix}"
        db = OdooLikeDatabase(server or postgres_server, name, **kwargs)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


@pytest.fixture
def shared_store(request, unique_prefix):
    """One bucket/container of a real S3 or Swift server, as every database of a prod server sees it."""
    scheme, env = backend_env(request, request.param, unique_prefix)
    return make_store(scheme, env)


def upload(store, content: bytes) -> str:
    store.put(sha1(content), content)
    return store.uri(sha1(content))


@pytest.fixture(autouse=True)
def _fresh_process_state():
    ownership.forget_registrations()
    ownership.set_running_env(None)
    yield
    ownership.set_running_env(None)
    factory.reset()


# ---------------------------------------------------------------- deployments sharing a bucket
@pytest.mark.parametrize("shared_store", SHARED_BACKENDS, indirect=True)
def test_databases_of_one_server_sharing_a_bucket_keep_each_others_objects(databases, shared_store):
    first, second = databases("first"), databases("second")
    second.register(shared_store)
    content = b"referenced by the second database only"
    fname = upload(shared_store, content)
    second.attach(fname)
    first.attach(fname)
    first.unlink(fname)

    report = first.collect(shared_store)
    assert report.refused is None and report.peers == [second.name]
    assert report.deleted == [] and report.kept_referenced == 1
    assert shared_store.get(sha1(content)) == content

    # once nobody references it, the second database's collector deletes it (after checking the first),
    # and the first database's writers learn it is gone
    second.unlink(fname)
    assert second.collect(shared_store, grace_seconds=3600).deleted == [], "young candidate"
    second.execute(f"UPDATE {gc.TABLE} SET marked_at = marked_at - interval '2 hours'")
    report = second.collect(shared_store, grace_seconds=3600)
    assert report.deleted == [fname] and report.peers == [first.name]
    assert not shared_store.exists(sha1(content))
    with first.conn.cursor() as cr:
        assert gc.claim(cr, fname) is True, "a writer of the other database uploads again"
    first.conn.rollback()


@pytest.mark.parametrize("shared_store", ["seaweedfs"], indirect=True)
@pytest.mark.parametrize("regenerated", [False, True], ids=["same-uuid", "regenerated-uuid"])
def test_duplicated_database_keeps_the_originals_objects(databases, postgres_server, shared_store,
                                                         regenerated):
    original = databases("original")
    original.register(shared_store)
    content = b"attachment of the original, copied by the duplicate"
    fname = upload(shared_store, content)
    original.attach(fname)
    original.execute("SELECT 1")
    # Odoo's duplicate: CREATE DATABASE ... TEMPLATE, then (Odoo 18) a new database.uuid
    admin = psycopg2.connect(postgres_server.dsn("postgres"))
    admin.autocommit = True
    original.conn.close()
    with admin.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{original.name}_copy" TEMPLATE "{original.name}"')
    admin.close()
    original.conn = psycopg2.connect(postgres_server.dsn(original.name))
    copy = databases("original_copy", create=False)
    if regenerated:
        copy.execute("UPDATE ir_config_parameter SET value = %s WHERE key = 'database.uuid'",
                     (str(uuid.uuid4()),))
    copy.unlink(fname)

    report = copy.collect(shared_store)
    assert report.refused is None and original.name in report.peers
    assert report.deleted == [] and report.kept_referenced == 1
    assert shared_store.get(sha1(content)) == content


@pytest.mark.parametrize("shared_store", ["swift-v1"], indirect=True)
def test_restored_dump_that_only_reads_is_checked_by_the_owner(databases, postgres_server, shared_store):
    prod = databases("prod")
    prod.register(shared_store)
    content = b"prod attachment, read by a restored copy"
    fname = upload(shared_store, content)
    prod.attach(fname)
    # a restored dump (same uuid) running as integration, reading prod's objects (its own bucket elsewhere)
    with prod.conn.cursor() as cr:
        cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
        prod_uuid = cr.fetchone()[0]
    prod.conn.rollback()
    restored = databases("restored", database_uuid=prod_uuid)
    restored.attach(fname)
    restored.register(shared_store, role=ownership.READER, running_env="integration")
    prod.unlink(fname)

    report = prod.collect(shared_store)
    assert report.refused is None and report.peers == [restored.name]
    assert report.deleted == [] and shared_store.get(sha1(content)) == content


@pytest.fixture(scope="module")
def second_cluster(devstack_dir):
    """Another PostgreSQL server: its databases cannot be checked by a collector of the first."""
    server = devstack.PostgresServer(devstack_dir / "second-cluster")
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("shared_store", SHARED_BACKENDS, indirect=True)
def test_owner_on_another_server_makes_the_gc_refuse_and_say_so_once(databases, second_cluster, shared_store,
                                                                      caplog):
    here = databases("here")
    elsewhere = databases("elsewhere", server=second_cluster)
    elsewhere.register(shared_store)
    content = b"maybe referenced on the other server"
    fname = upload(shared_store, content)
    here.attach(fname)
    here.unlink(fname)

    with caplog.at_level(logging.INFO, logger="odoo_cloud.storage"):
        first = here.collect(shared_store)
        second = here.collect(shared_store)
    for report in (first, second):
        assert report.deleted == [] and report.refused
        assert "another PostgreSQL cluster" in report.refused and elsewhere.name in report.refused
    assert shared_store.get(sha1(content)) == content
    assert here.pending() == [fname], "candidates stay in place"
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and "another PostgreSQL" in r.message]
    assert len(warnings) == 1, [r.message for r in warnings]
    assert shared_store.prefix in warnings[0].message


@pytest.mark.parametrize("shared_store", ["seaweedfs"], indirect=True)
def test_unreachable_peer_makes_the_gc_refuse(databases, shared_store):
    here, peer = databases("here"), databases("peer")
    peer.register(shared_store)
    fname = upload(shared_store, b"peer cannot be reached")
    here.attach(fname)
    here.unlink(fname)

    def refuse(dbname):
        raise psycopg2.OperationalError(f'connection to database "{dbname}" refused')

    with here.conn.cursor() as cr:
        report = gc.collect(cr, shared_store, commit=here.conn.commit, grace_seconds=0, running_env="test",
                            connect=refuse)
    assert report.deleted == [] and "cannot connect" in report.refused
    assert shared_store.exists(sha1(b"peer cannot be reached"))


@pytest.mark.parametrize("shared_store", ["seaweedfs"], indirect=True)
def test_record_of_a_dropped_database_is_stale(databases, postgres_server, shared_store):
    here = databases("here")
    gone = databases("gone")
    gone.register(shared_store)
    gone.close()
    admin = psycopg2.connect(postgres_server.dsn("postgres"))
    admin.autocommit = True
    with admin.cursor() as cr:
        cr.execute(f'DROP DATABASE "{gone.name}"')
    admin.close()
    fname = upload(shared_store, b"only the dropped database used it")
    here.attach(fname)
    here.unlink(fname)
    report = here.collect(shared_store)
    assert report.refused is None and report.deleted == [fname]


# ---------------------------------------------------------------- cross-database claim under REPEATABLE READ
@pytest.mark.parametrize("shared_store", ["seaweedfs"], indirect=True)
def test_writer_of_another_database_with_an_old_snapshot_must_retry(databases, shared_store):
    """A REPEATABLE READ writer of database B whose snapshot predates a collection by database A of the
    shared bucket: its claim fails (Odoo retries), and the retry learns the object is gone."""
    a, b = databases("a"), databases("b")
    b.register(shared_store)
    content = b"collected by A while B's writer is mid-transaction"
    fname = upload(shared_store, content)
    a.attach(fname)
    a.unlink(fname)
    writer = psycopg2.connect(b.server.dsn(b.name))
    writer.set_session(isolation_level="REPEATABLE READ")
    try:
        with writer.cursor() as wcr:
            wcr.execute("SELECT count(*) FROM ir_attachment")  # the snapshot
            assert a.collect(shared_store).deleted == [fname]
            with pytest.raises(psycopg2.errors.SerializationFailure):
                gc.claim(wcr, fname)
        writer.rollback()
        with writer.cursor() as wcr:
            assert gc.claim(wcr, fname) is True, "after the retry: upload again"
        writer.rollback()
    finally:
        writer.close()


# ---------------------------------------------------------------- non-prod on a prod-owned bucket (item 2)
def _unstructured_env(request, backend, bucket, running_env, **extra):
    variable = ("AWS_BUCKETNAME_UNSTRUCTURED" if backend == "seaweedfs"
                else "SWIFT_WRITE_CONTAINER_UNSTRUCTURED")
    return backend_env(request, backend, bucket, RUNNING_ENV=running_env, **{variable: "1"}, **extra)


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_non_prod_refuses_to_write_or_delete_in_a_prod_owned_unstructured_bucket(request, backend, databases,
                                                                                  unique_prefix):
    bucket = unique_prefix + "-attachments"  # no -odoo-prod in the name: only the record tells
    scheme, prod_env = _unstructured_env(request, backend, bucket, "prod")
    prod_store = make_store(scheme, prod_env)
    prod_db = databases("prod")
    prod_db.register(prod_store, running_env="prod")
    kept = upload(prod_store, b"prod data")

    _, staging_env = _unstructured_env(request, backend, bucket, "integration")
    staging = make_store(scheme, staging_env)
    with pytest.raises(ownership.OwnershipRefused,
                       match=r"belongs to prod.*'integration'.*ODOO_CLOUD_PLATFORM_UNSAFE"):
        staging.put(sha1(b"staging data"), b"staging data")
    with pytest.raises(ownership.OwnershipRefused):
        staging.delete(sha1(b"prod data"))
    with pytest.raises(ownership.OwnershipRefused):
        staging.delete_many([sha1(b"prod data")])
    assert not prod_store.exists(sha1(b"staging data"))
    assert prod_store.get(sha1(b"prod data")) == b"prod data"

    # its GC refuses the bucket as well (even with its own candidates there)
    staging_db = databases("staging")
    staging_db.attach(kept)
    staging_db.unlink(kept)
    report = staging_db.collect(staging, running_env="integration")
    assert report.deleted == [] and "belongs to prod" in report.refused
    assert prod_store.get(sha1(b"prod data")) == b"prod data"

    # only ODOO_CLOUD_PLATFORM_UNSAFE goes past it
    factory.reset()
    _, unsafe_env = _unstructured_env(request, backend, bucket, "integration", ODOO_CLOUD_PLATFORM_UNSAFE="1")
    assert make_store(scheme, unsafe_env).put(sha1(b"staging data"), b"staging data") is True


def test_prod_is_never_slowed_by_the_guard(request, unique_prefix):
    scheme, env = _unstructured_env(request, "seaweedfs", unique_prefix, "prod")
    store = make_store(scheme, env)
    listed = []
    original = store.list_objects
    store.list_objects = lambda *a, **k: listed.append(a) or original(*a, **k)
    store.put(sha1(b"x"), b"x")
    assert listed == []


# ---------------------------------------------------------------- odoo-cloud check --connect
def _check(env: dict, *argv) -> tuple[int, str]:
    out = io.StringIO()
    parser, _ = cli.build_parser(with_migrate=False)
    code = cli.run_check(parser.parse_args(["check", *argv]), environ=env, out=out)
    return code, out.getvalue()


def test_check_connect_reports_a_prod_owned_bucket(request, databases, unique_prefix):
    bucket = unique_prefix + "-shared"
    scheme, prod_env = _unstructured_env(request, "seaweedfs", bucket, "prod")
    databases("prod").register(make_store(scheme, prod_env), running_env="prod")
    _, env = _unstructured_env(request, "seaweedfs", bucket, "dev")
    code, text = _check(env, "--env", "dev", "--connect", "--json")
    body = json.loads(text)
    probes = {probe["name"]: probe for probe in body["probes"]}
    assert code == cli.EXIT_UNREACHABLE
    assert probes["s3 ownership"]["status"] == "FAILED"
    detail = probes["s3 ownership"]["detail"]
    assert "UNSAFE SHARING" in detail and "belongs to prod" in detail
    assert probes["s3 store"]["status"] == "FAILED" and "belongs to prod" in probes["s3 store"]["detail"]
    assert not list(make_store(scheme, prod_env).list_objects("odoo-cloud-check/")), "no probe object written"


def test_check_connect_reports_databases_of_two_servers(request, databases, second_cluster, unique_prefix):
    bucket = unique_prefix + "-two-servers"
    scheme, env = _unstructured_env(request, "seaweedfs", bucket, "dev")
    store = make_store(scheme, env)
    databases("one").register(store, running_env="dev")
    databases("two", server=second_cluster).register(store, running_env="dev")
    code, text = _check(env, "--env", "dev", "--connect")
    assert code == cli.EXIT_UNREACHABLE
    assert "connect s3 ownership: FAILED" in text and "2 PostgreSQL cluster(s)" in text


def test_check_connect_lists_the_databases_of_a_safely_shared_bucket(request, databases, unique_prefix):
    scheme, env = _unstructured_env(request, "seaweedfs", unique_prefix, "dev")
    store = make_store(scheme, env)
    one, two = databases("one"), databases("two")
    one.register(store, running_env="dev")
    two.register(store, running_env="dev")
    code, text = _check(env, "--env", "dev", "--connect")
    assert code == cli.EXIT_OK, text
    assert f"2 database(s) of one cluster: {one.name}, {two.name}" in text


# ---------------------------------------------------------------- grace period and snapshot (item 5)
def test_grace_seconds_below_the_minimum_is_refused():
    for value in (0, 1, gc.MIN_GRACE_SECONDS - 1, -5, float("nan")):
        expected = rf"object_storage\.gc\.grace_seconds.*at least {gc.MIN_GRACE_SECONDS}"
        with pytest.raises(ValueError, match=expected):
            gc.check_grace_seconds(value)
    assert gc.check_grace_seconds(gc.MIN_GRACE_SECONDS) == gc.MIN_GRACE_SECONDS
    assert gc.check_grace_seconds(gc.DEFAULT_GRACE_SECONDS) == gc.DEFAULT_GRACE_SECONDS


@pytest.mark.parametrize("shared_store", ["seaweedfs"], indirect=True)
@pytest.mark.parametrize("batches", ["committed-batches", "one-transaction"])
def test_repeatable_read_collector_sees_a_row_committed_while_it_waited_for_its_lock(databases, shared_store,
                                                                                     batches):
    """Odoo's cursors are REPEATABLE READ: the collector's snapshot must be taken after its LOCK TABLE,
    or a row inserted before the lock and committed while it waited is invisible to its check."""
    db = databases("rr")
    content = b"inserted before the lock, committed while the collector waited"
    fname = upload(shared_store, content)
    db.attach(fname)
    db.unlink(fname)
    db.register(shared_store)
    collector = psycopg2.connect(db.server.dsn(db.name))
    collector.set_session(isolation_level="REPEATABLE READ")
    writer = psycopg2.connect(db.server.dsn(db.name))
    result = {}
    try:
        wcr = writer.cursor()
        wcr.execute("INSERT INTO ir_attachment (store_fname) VALUES (%s)", (fname,))

        def run():
            with collector.cursor() as cr:
                commit = collector.commit if batches == "committed-batches" else None
                result["report"] = gc.collect(cr, shared_store, commit=commit, grace_seconds=0,
                                              running_env="test", connect=db.connect)
            collector.commit()

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_lock(db, collector) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive() and _waiting_for_lock(db, collector), "the collector waits for the writer"
        writer.commit()
        thread.join(30)
    finally:
        writer.close()
        collector.close()
    assert result["report"].deleted == [] and result["report"].kept_referenced == 1
    assert shared_store.get(sha1(content)) == content


def _waiting_for_lock(db: OdooLikeDatabase, conn) -> bool:
    rows = db.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                      (conn.get_backend_pid(),))
    return bool(rows) and rows[0][0] == "Lock"
