"""ObjectStore contract on every real backend: SeaweedFS S3, Swift's s3api, Swift v1, Swift+Keystone v3."""
from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest
import requests

from odoo_cloud import instrumentation
from odoo_cloud.storage import DeleteRefused, ObjectNotFound, StorageUnavailable
from odoo_cloud.storage.factory import configured_scheme

from .conftest import backend_env, make_store


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 4096, 8 * 1024 * 1024])
def test_round_trip(store, size):
    data = os.urandom(size)
    key = sha1(data)
    assert store.put(key, data) is True
    assert store.get(key) == data
    assert store.exists(key)
    assert store.head(key).size == size
    assert b"".join(store.iter_chunks(key, chunk_size=64 * 1024)) == data
    assert store.uri(key) == f"{store.scheme}://{store.bucket}/{key}"
    assert store.uri("") == store.prefix == f"{store.scheme}://{store.bucket}/"


def test_identical_content_is_stored_once(store):
    data = b"same bytes " * 100
    key = sha1(data)
    assert store.put(key, data) is True
    # known in this process: no network at all
    assert store.put(key, data) is False
    # unknown to this process (another worker): the conditional PUT answers 412
    store.known_keys.clear()
    assert store.put(key, data) is False
    assert store.put(key, data, recheck=True) is False
    assert store.get(key) == data


def test_ranged_reads(store):
    data = bytes(range(256)) * 40
    key = sha1(data)
    store.put(key, data)
    with store.open(key, start=10, end=19) as stream:
        assert (stream.start, stream.end, stream.size, stream.length) == (10, 19, len(data), 10)
        assert stream.read() == data[10:20]
    with store.open(key, start=len(data) - 5) as stream:
        assert stream.read() == data[-5:]
    with store.open(key, chunk_size=1000) as stream:
        chunks = list(stream)
    assert max(len(c) for c in chunks) <= 1000 and b"".join(chunks) == data
    with pytest.raises(ValueError, match="unsatisfiable range"):
        store.open(key, start=len(data) + 10)


def test_missing_object_and_bucket_are_not_found(store, unique_prefix):
    store.ensure_bucket()
    with pytest.raises(ObjectNotFound, match=store.bucket):
        store.get("0" * 40)
    with pytest.raises(ObjectNotFound):
        store.open("0" * 40)
    assert not store.exists("0" * 40)
    with pytest.raises(ObjectNotFound):
        store.get("0" * 40, bucket=unique_prefix + "-nope")


def test_reads_another_bucket_but_deletes_only_its_own(request, backend, unique_prefix):
    scheme, env_old = backend_env(request, backend, unique_prefix + "-prod")
    prod = make_store(scheme, env_old)
    data = b"written by prod"
    key = sha1(data)
    prod.put(key, data)
    _, env_new = backend_env(request, backend, unique_prefix + "-integ")
    integration = make_store(scheme, env_new)
    assert integration.get(key, bucket=prod.bucket) == data
    with integration.open(key, bucket=prod.bucket) as stream:
        assert stream.read() == data
    with pytest.raises(DeleteRefused, match="only deletes from"):
        integration.delete(key, bucket=prod.bucket)
    assert prod.get(key) == data
    prod.delete(key)
    assert not prod.exists(key)
    prod.delete(key)  # already gone: not an error


def test_bucket_is_created_on_first_use_unless_forbidden(request, backend, unique_prefix):
    create_var = "SWIFT_CREATE_CONTAINER" if backend.startswith("swift-v") or backend == "swift-keystone" \
        else "AWS_CREATE_BUCKET"
    scheme, env = backend_env(request, backend, unique_prefix + "-nocreate", **{create_var: "0"})
    forbidden = make_store(scheme, env)
    with pytest.raises(ObjectNotFound, match=f"{create_var}=0"):
        forbidden.put(sha1(b"x"), b"x")
    scheme, env = backend_env(request, backend, unique_prefix + "-create")
    store = make_store(scheme, env)
    assert store.put(sha1(b"x"), b"x") is True
    assert store.get(sha1(b"x")) == b"x"


def test_presigned_url_downloads_with_non_ascii_filename(request, backend, store):
    if store.scheme == "swift":
        pytest.skip("Swift temp URLs: see test_swift_temp_url")
    data = "contenu accentué €".encode()
    key = sha1(data)
    store.put(key, data)
    url = store.presigned_url(key, filename="Résumé été 2026 €.txt", mimetype="text/plain", expires=60)
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.content == data
    disposition = response.headers.get("Content-Disposition", "")
    if disposition:  # SeaweedFS and Swift's s3api both honour response-content-disposition
        assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9%202026%20%E2%82%AC.txt" in disposition
    assert requests.get(url.replace("Signature=", "Signature=0"), timeout=5).status_code in (400, 403)


def test_operations_are_published(store):
    seen = []
    instrumentation.subscribe(seen.append)
    try:
        data = os.urandom(1000)
        store.put(sha1(data), data)
        store.put(sha1(data), data)  # already stored: published with 0 bytes uploaded
        store.get(sha1(data))
        with store.open(sha1(data)) as stream:
            stream.read()
    finally:
        instrumentation.unsubscribe(seen.append)
    scheme = store.scheme
    puts = [op for op in seen if op.name == f"storage.{scheme}.put"]
    assert [op.nbytes for op in puts] == [1000, 0] and all(op.ok for op in puts)
    named = {op.name: op for op in seen}
    assert named[f"storage.{scheme}.get"].nbytes == 1000
    assert named[f"storage.{scheme}.stream"].nbytes == 1000
    assert all(op.seconds > 0 for op in seen)


def test_outage_is_a_clear_error_then_recovers(store, server_of, backend):
    if backend == "swift-keystone":
        pytest.skip("the Keystone proxy error-limits the shared Swift backends for 60 s after they stop "
                    "(error_suppression_interval); swift-v1 covers this client path, "
                    "test_keystone_unreachable the Keystone outage")
    data = os.urandom(2048)
    key = sha1(data)
    store.put(key, data)
    with server_of.outage():
        with pytest.raises(StorageUnavailable, match=f"{store.scheme}://{store.bucket}/{key}") as info:
            store.get(key)
        assert "not found" not in str(info.value)
        other = os.urandom(10)
        with pytest.raises(StorageUnavailable):
            store.put(sha1(other), other)
        with pytest.raises(StorageUnavailable):
            store.open(key)
    assert store.get(key) == data
    assert store.put(sha1(other), other) is True


def test_bad_credentials_are_a_clear_error_without_the_secret(request, backend, unique_prefix):
    secret = "wrong-" + unique_prefix
    if backend in ("seaweedfs", "swift-s3api"):
        scheme, env = backend_env(request, backend, unique_prefix, AWS_SECRET_ACCESS_KEY=secret)
    else:
        scheme, env = backend_env(request, backend, unique_prefix, SWIFT_PASSWORD=secret)
    store = make_store(scheme, env)
    with pytest.raises(StorageUnavailable) as info:
        store.put(sha1(b"x"), b"x")
    message = str(info.value)
    assert secret not in message and secret not in repr(info.value)
    assert store.bucket in message
    with pytest.raises(StorageUnavailable):
        store.get(sha1(b"x"))


def test_configured_scheme_prefers_the_named_bucket(s3_server):
    from odoo_cloud.config import load_settings

    assert configured_scheme(load_settings({"AWS_BUCKETNAME": "b"})) == "s3"
    assert configured_scheme(load_settings({"SWIFT_WRITE_CONTAINER": "c"})) == "swift"
    assert configured_scheme(load_settings({})) is None


@pytest.mark.parametrize("backend", ["seaweedfs", "swift-v1"])
def test_64mb_streams_with_bounded_memory(store):
    size = 64 * 1024 * 1024
    data = os.urandom(size)
    key = sha1(data)
    store.put(key, data)
    del data
    digest = hashlib.sha1()
    tracemalloc.start()
    try:
        with store.open(key, chunk_size=1024 * 1024) as stream:
            for chunk in stream:
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == key
    assert peak < 8 * 1024 * 1024, f"streaming 64 MB allocated up to {peak} bytes"


def test_keystone_unreachable_is_a_clear_error(request, unique_prefix):
    import socket

    ks = request.getfixturevalue("keystone_swift")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scheme, env = backend_env(request, "swift-keystone", unique_prefix)
    env["SWIFT_AUTH_URL"] = f"http://127.0.0.1:{port}/v3"
    store = make_store(scheme, env)
    with pytest.raises(StorageUnavailable, match=f"swift://{unique_prefix}"):
        store.get(sha1(b"x"))
    with pytest.raises(StorageUnavailable) as info:
        store.put(sha1(b"x"), b"x")
    assert ks.password not in str(info.value)


def test_swift_temp_url(swift_server, unique_prefix):
    """Temp URLs need the same key on the account (X-Account-Meta-Temp-URL-Key) and in SWIFT_TEMP_URL_KEY."""
    import swiftclient

    key_value = "tempurl-" + unique_prefix
    conn = swiftclient.Connection(authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key)
    conn.post_account({"X-Account-Meta-Temp-URL-Key": key_value})
    from .conftest import swift_v1_env

    store = make_store("swift", swift_v1_env(swift_server, unique_prefix, SWIFT_TEMP_URL_KEY=key_value))
    data = "données".encode()
    store.put(sha1(data), data)
    url = store.presigned_url(sha1(data), filename="Résumé €.txt", expires=60)
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.content == data
    assert "R%C3%A9sum%C3%A9" in response.headers["Content-Disposition"]
    unsigned = make_store("swift", swift_v1_env(swift_server, unique_prefix))
    assert unsigned.presigned_url(sha1(data)) is None
    assert key_value not in repr(store.temp_url_key)


def test_file_like_reads_cross_chunk_boundaries(store):
    data = os.urandom(10_000)
    store.put(sha1(data), data)
    with store.open(sha1(data), chunk_size=1000) as stream:
        first = stream.read(333)
        rest = b"".join(stream)  # iteration continues where read() stopped
    assert first + rest == data
    with store.open(sha1(data), chunk_size=1000) as stream:
        parts = [stream.read(333) for _ in range(32)]  # 30 full reads, 10 bytes, then b""
    assert b"".join(parts) == data and parts[-1] == b""


@pytest.mark.parametrize("backend", ["seaweedfs", "swift-v1"])
def test_threads_share_one_store(store):
    """Odoo's threaded server calls the same store from many request threads."""
    from concurrent.futures import ThreadPoolExecutor

    def work(n):
        data = f"thread payload {n} ".encode() * (n + 1) * 50
        store.put(sha1(data), data)
        with store.open(sha1(data), chunk_size=512) as stream:
            streamed = b"".join(stream)
        return store.get(sha1(data)) == data == streamed

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(64)))


def test_delete_many_in_the_write_bucket(store):
    blobs = [f"bulk {i}".encode() for i in range(5)]
    for blob in blobs:
        store.put(sha1(blob), blob)
    keys = [sha1(blob) for blob in blobs] + ["0" * 40]  # a key that does not exist is not a failure
    assert store.delete_many(keys) == {}
    assert not any(store.exists(sha1(blob)) for blob in blobs)
    assert store.put(sha1(blobs[0]), blobs[0]) is True  # deleted keys are forgotten by the memory too


def test_list_objects_sorted_paged_and_resumable(store):
    """The listing fsck and the ownership records build on: every key under a prefix, in byte order,
    across pages, with sizes and a modification time; `start_after` resumes."""
    blobs = {sha1(data): data for data in (os.urandom(i + 1) for i in range(7))}
    for key, data in blobs.items():
        assert store.put(key, data)
    probe = f"odoo-cloud-check/{os.urandom(8).hex()}"  # the one other key form a store writes
    assert store.put(probe, b"probe")
    assert [o.key for o in store.list_objects("odoo-cloud-check/")] == [probe]
    listed = [o for o in store.list_objects("", page_size=3) if o.key != probe]
    assert [o.key for o in listed] == sorted(blobs)
    assert [o.size for o in listed] == [len(blobs[k]) for k in sorted(blobs)]
    assert all(o.bucket == store.bucket and o.last_modified and o.last_modified > 1.7e9 for o in listed)
    third = sorted(blobs)[2]
    assert [o.key for o in store.list_objects(start_after=third) if o.key != probe] == sorted(blobs)[3:]
    assert list(store.list_objects("nothing-here/")) == []
