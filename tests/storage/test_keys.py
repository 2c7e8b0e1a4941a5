"""Issue 10 item 3: keys that could address another bucket/container never reach a client.

Property tests of the one validator (odoo_cloud.storage.keys), then every public path — reads, presign,
streams, listing, writes, deletes, the GC and the migration — on every real backend, with a second
bucket/container holding an object that must stay there and never be requested. Requests are observed
at the HTTP transport (urllib3, under both boto3 and swiftclient/keystoneauth): a pass-through recorder,
nothing is answered in the servers' place.
"""
from __future__ import annotations

import hashlib
import os
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import urllib3.connectionpool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odoo_cloud.storage import InvalidKey, ObjectNotFound, StorageError, gc, parse_uri
from odoo_cloud.storage.keys import (
    MAX_KEY_BYTES,
    PROBE_PREFIX,
    is_content_key,
    validate_bucket,
    validate_key,
    validate_prefix,
)
from odoo_cloud.storage.migration.db import PsycopgDatabase
from odoo_cloud.storage.migration.engine import Engine
from odoo_cloud.storage.migration.location import Location
from odoo_cloud.storage.migration.objects import StoreReader

from .conftest import backend_env, make_store

IR_ATTACHMENT_DDL = (Path(__file__).parents[1] / "migration" / "ir_attachment.sql").read_text()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# ------------------------------------------------------------------ the validator, property-based
SEGMENT_CHARS = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"), blacklist_characters="/\\")
good_segment = st.text(SEGMENT_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
bad_segment = st.sampled_from(["", ".", ".."])
hostile_char = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x1F), st.just("\x7f"), st.just("\\"),
    st.characters(min_codepoint=0x80, max_codepoint=0x9F),  # C1, NEL included
    st.sampled_from(["\u2028", "\u2029", "\u200b", "\u202e", "\ufeff", "\ud800"]))


@st.composite
def key_with_bad_segment(draw):
    segments = draw(st.lists(good_segment, min_size=0, max_size=4))
    position = draw(st.integers(0, len(segments)))
    segments.insert(position, draw(bad_segment))
    return "/".join(segments)


@st.composite
def key_with_hostile_char(draw):
    key = draw(st.text(SEGMENT_CHARS, min_size=0, max_size=20))
    position = draw(st.integers(0, len(key)))
    return key[:position] + draw(hostile_char) + key[position:]


@settings(max_examples=500, deadline=None)
@given(key_with_bad_segment())
def test_every_key_with_an_empty_or_dot_segment_is_refused(key):
    for write in (False, True):
        with pytest.raises(InvalidKey):
            validate_key(key, write=write)
    with pytest.raises(InvalidKey):
        parse_uri(f"swift://container/{key}")


@settings(max_examples=500, deadline=None)
@given(key_with_hostile_char())
def test_every_key_with_a_control_character_or_backslash_is_refused(key):
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        validate_key(key, write=True)
    with pytest.raises(InvalidKey):
        parse_uri(f"s3://bucket/{key}")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_every_content_key_is_accepted_for_reads_writes_and_uris(data):
    key = sha1(data)
    assert validate_key(key) == key and validate_key(key, write=True) == key and is_content_key(key)
    uri = parse_uri(f"s3://acme-odoo-prod/{key}")
    assert (uri.bucket, uri.key) == ("acme-odoo-prod", key)


@settings(max_examples=300, deadline=None)
@given(st.lists(good_segment, min_size=1, max_size=5).map("/".join))
def test_well_formed_keys_are_readable_but_never_written(key):
    assert validate_key(key) == key
    if not (is_content_key(key) or key.startswith(PROBE_PREFIX)):
        with pytest.raises(InvalidKey, match="only content keys"):
            validate_key(key, write=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(string.printable, min_size=1, max_size=40))
def test_bucket_names_addressing_a_path_are_refused(name):
    alphabet = set(string.ascii_letters + string.digits + "._-")
    # `.`, `..`, a slash, a backslash, a space or a control character anywhere: refused
    hostile = not name[0].isalnum() or not set(name) <= alphabet
    if hostile:
        with pytest.raises(InvalidKey, match="bucket/container name"):
            validate_bucket(name)
        if "/" not in name:  # (with a slash, the URI names another bucket and key, both checked)
            with pytest.raises(InvalidKey):
                parse_uri(f"swift://{name}/{'a' * 40}")
    else:
        assert validate_bucket(name) == name


def test_the_forms_this_code_produces_and_the_length_bound():
    assert validate_key(PROBE_PREFIX + "0123456789abcdef", write=True)
    assert validate_key(".odoo-cloud/owner")  # internal records are readable keys (written by primitives)
    for refused in ("A" * 40, "a" * 39, "a" * 41, "g" * 40, "a" * 40 + "\n", "x/" + "a" * 40,
                    PROBE_PREFIX + "0123456789abcdef0", "../" + "a" * 40, ".odoo-cloud/owner"):
        with pytest.raises(InvalidKey):
            validate_key(refused, write=True)
    validate_key("k" * MAX_KEY_BYTES)
    for too_long in ("k" * (MAX_KEY_BYTES + 1), "é" * (MAX_KEY_BYTES // 2 + 1), "k" * 10_000_000):
        with pytest.raises(InvalidKey, match="longer than") as info:
            validate_key(too_long)
        assert len(str(info.value)) < 400  # the refused value is never echoed whole
    assert validate_prefix("") == "" and validate_prefix("list/") == "list/" and validate_prefix("ab")
    for refused in ("../", "/x", "a//", "a/../"):
        with pytest.raises(InvalidKey):
            validate_prefix(refused)
    for name in ("", ".", "..", "a/b", "a\\b", " a", "a\nb", "x" * 256):
        with pytest.raises(InvalidKey):
            validate_bucket(name)
    assert validate_bucket("acme-odoo-prod") and validate_bucket("Odoo_db.1")


# ------------------------------------------------------------------ every public path, real backends
class Requests:
    """Every HTTP request leaving this process (boto3 and swiftclient both send through urllib3)."""

    def __init__(self, monkeypatch):
        self.seen: list[tuple[str, str]] = []
        real = urllib3.connectionpool.HTTPConnectionPool.urlopen

        def urlopen(pool, method, url, *args, **kwargs):
            self.seen.append((method, url))
            return real(pool, method, url, *args, **kwargs)

        monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", urlopen)

    def touching(self, bucket: str) -> list[tuple[str, str]]:
        """Requests addressed to `bucket`: the container of a Swift path (/v1/<account>/<container>/...),
        the bucket of a path-style S3 one (/<bucket>/...)."""
        found = []
        for method, url in self.seen:
            segments = urlsplit(url).path.split("/")[1:]
            addressed = segments[2:3] if segments[:1] == ["v1"] else segments[:1]
            if addressed == [bucket]:
                found.append((method, url))
        return found


@pytest.fixture
def victim(request, backend, unique_prefix):
    """A second bucket/container with one object, written by its own store."""
    scheme, env = backend_env(request, backend, unique_prefix + "-victim")
    store = make_store(scheme, env)
    data = b"belongs to another bucket " + os.urandom(8)
    store.put(sha1(data), data)
    return store, sha1(data), data


def escapes(victim_bucket: str, key: str) -> list[str]:
    return [f"../{victim_bucket}/{key}", f"./../{victim_bucket}/{key}", f"x/../../{victim_bucket}/{key}",
            f"/../{victim_bucket}/{key}", f"..\\{victim_bucket}\\{key}", f"..//{victim_bucket}/{key}",
            f"../{victim_bucket}/{key}\r\nX-Injected: 1", f"\u2028../{victim_bucket}/{key}"]


def test_no_public_method_reaches_another_bucket(store, victim, monkeypatch):
    other, key, data = victim
    store.put(sha1(b"mine"), b"mine")
    calls = Requests(monkeypatch)
    assert store.get(sha1(b"mine")) == b"mine"
    assert calls.touching(store.bucket), "the recorder sees this store's requests"
    calls.seen.clear()
    for hostile in escapes(other.bucket, key):
        for method, args in (("get", ()), ("head", ()), ("exists", ()), ("open", ()), ("presigned_url", ()),
                             ("put", (b"overwrite",)), ("delete", ()), ("uri", ())):
            with pytest.raises(InvalidKey):
                getattr(store, method)(hostile, *args)
                pytest.fail(f"{method}({hostile!r}) was not refused")
        with pytest.raises(InvalidKey):
            list(store.iter_chunks(hostile))
        with pytest.raises(InvalidKey):
            store.delete_many([sha1(b"mine"), hostile])
        with pytest.raises(InvalidKey):
            list(store.list_objects(start_after=hostile))
    with pytest.raises(InvalidKey):
        list(store.list_objects(f"../{other.bucket}/"))
    for bucket in ("..", f"{store.bucket}/../{other.bucket}", f"../{other.bucket}", ".", ""):
        for method in ("get", "head", "open", "presigned_url", "delete"):
            with pytest.raises(InvalidKey):
                getattr(store, method)(key, bucket=bucket)
                pytest.fail(f"{method}(bucket={bucket!r}) was not refused")
        with pytest.raises(InvalidKey):
            list(store.list_objects(bucket=bucket))
    assert calls.seen == [], "refused before any request"
    # a percent-encoded dot segment is a legal key: sent quoted, it names an object of this bucket only
    with pytest.raises(ObjectNotFound):
        store.get(f"%2e%2e/{other.bucket}/{key}")
    assert calls.touching(store.bucket) and not calls.touching(other.bucket)
    assert store.get(sha1(b"mine")) == b"mine", "delete_many refused the whole call: nothing deleted"
    assert other.get(key) == data


def test_gc_never_acts_on_a_hostile_mark(store, victim, postgres_server, unique_prefix, monkeypatch):
    other, key, data = victim
    dsn = postgres_server.create_database(unique_prefix.replace("-", "_"))
    conn = psycopg2.connect(dsn)
    try:
        orphan = store.uri(sha1(b"orphan"))
        store.put(sha1(b"orphan"), b"orphan")
        hostile = [f"{store.prefix}../{other.bucket}/{key}", f"{store.prefix}x/../../{other.bucket}/{key}",
                   f"{store.prefix}not-a-content-key"]
        with conn.cursor() as cr:
            cr.execute("CREATE TABLE ir_attachment (id serial PRIMARY KEY, store_fname varchar)")
            gc.ensure_table(cr)
            assert gc.mark(cr, [*hostile, orphan]) == 1, "only the content key is marked"
            # rows an older version (or a hand) left behind, as candidates and between the two phases
            old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=3)
            for name in hostile:
                for reason in (gc.UNLINK, gc.COLLECTING):
                    cr.execute(f"INSERT INTO {gc.TABLE} (store_fname, reason, marked_at) VALUES (%s, %s, %s)",
                               (name, reason, old))
            cr.execute(f"UPDATE {gc.TABLE} SET marked_at = %s", (old,))
        conn.commit()
        calls = Requests(monkeypatch)
        with conn.cursor() as cr:
            report = gc.collect(cr, store, commit=conn.commit)
            assert report.deleted == [orphan], report
            cr.execute(f"SELECT store_fname FROM {gc.TABLE} WHERE reason <> %s", (gc.COLLECTED,))
            assert cr.fetchall() == [], "hostile marks are dropped, not retried forever"
        assert not calls.touching(other.bucket) and not any(".." in url for _, url in calls.seen)
        assert not store.exists(sha1(b"orphan"))
    finally:
        conn.close()
    assert other.get(key) == data


def test_migration_never_reads_through_a_hostile_reference(store, victim, postgres_server, unique_prefix,
                                                          monkeypatch, tmp_path):
    other, key, data = victim
    dsn = postgres_server.create_database(unique_prefix.replace("-", "_") + "_mig")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cr:
            cr.execute(IR_ATTACHMENT_DDL)
        refs = [f"{store.scheme}://{store.bucket}/../{other.bucket}/{key}",
                f"{store.scheme}://../{other.bucket}/{key}", f"{store.scheme}://{other.bucket}/./{key}"]
        with conn.cursor() as cr:
            for n, ref in enumerate(refs, 1):
                cr.execute("INSERT INTO ir_attachment (id, name, type, store_fname, checksum, file_size)"
                           " VALUES (%s, %s, 'binary', %s, %s, %s)", (n, f"f{n}", ref, key, len(data)))
        conn.commit()
        calls = Requests(monkeypatch)
        database = PsycopgDatabase(psycopg2.connect(dsn))
        report = Engine(database, Location.db(), read_object=StoreReader({store.scheme: store})).run()
        database.close()
        assert report.moved == 0 and report.failed == len(refs)
        assert all("invalid object reference" in f.reason for f in report.failures), report.failures
        assert not calls.touching(other.bucket)
        with conn.cursor() as cr:
            cr.execute("SELECT store_fname, db_datas FROM ir_attachment ORDER BY id")
            assert cr.fetchall() == [(ref, None) for ref in refs], "rows keep their reference, nothing read"
    finally:
        conn.close()
    assert other.get(key) == data


def test_a_bad_write_bucket_is_refused_naming_the_variable(request, backend):
    with pytest.raises(StorageError, match=r"SWIFT_WRITE_CONTAINER|AWS_BUCKETNAME") as info:
        scheme, env = backend_env(request, backend, "..")
        make_store(scheme, env)
    assert isinstance(info.value, InvalidKey)
