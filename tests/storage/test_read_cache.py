"""The host-wide read cache of content-addressed objects, against real S3 (SeaweedFS) and Swift servers.

"No request to the store" is proven the hard way: the server is stopped and the read still answers."""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from odoo_cloud import instrumentation
from odoo_cloud.storage import ObjectNotFound
from odoo_cloud.storage import cache as cache_module
from odoo_cloud.storage.cache import ReadCache

from .conftest import backend_env, make_store


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@pytest.fixture(params=["seaweedfs", "swift-v1"])
def cached(request, unique_prefix, tmp_path):
    """(store with a 4 MiB cache whose objects are at most 1 MiB, its server, the cache directory)."""
    directory = tmp_path / "cache"
    scheme, env = backend_env(request, request.param, unique_prefix,
                              ATTACHMENT_STORAGE_CACHE_SIZE=str(4 * 1024 * 1024),
                              ATTACHMENT_STORAGE_CACHE_DIR=str(directory),
                              ATTACHMENT_STORAGE_CACHE_MAX_OBJECT_SIZE=str(1024 * 1024))
    store = make_store(scheme, env)
    server = request.getfixturevalue("s3_server" if request.param == "seaweedfs" else "swift_server")
    return store, server, directory


@pytest.fixture
def operations():
    seen = []
    instrumentation.subscribe(seen.append)
    yield seen
    instrumentation.unsubscribe(seen.append)


def test_second_read_makes_no_request_to_the_store(cached, operations):
    store, server, directory = cached
    data = os.urandom(100 * 1024)
    key = sha1(data)
    store.put(key, data)
    assert store.get(key) == data                     # miss: fetched, verified, kept
    assert (directory / "objects" / key[:2] / key).read_bytes() == data
    with server.outage():                             # the store cannot answer anything now
        assert store.get(key) == data
        with store.open(key, start=10, end=20) as stream:   # ranges come from the cached file
            assert stream.read() == data[10:21]
            assert (stream.start, stream.end, stream.size) == (10, 20, len(data))
        assert b"".join(store.iter_chunks(key, chunk_size=7000)) == data
    names = [op.name for op in operations]
    assert names.count("storage.cache.hit") == 3 and names.count("storage.cache.fill") == 1
    assert names.count(f"storage.{store.scheme}.get") == 1


def test_a_whole_streamed_download_fills_the_cache_a_partial_one_does_not(cached):
    store, server, directory = cached
    data = os.urandom(300 * 1024)
    key = sha1(data)
    store.put(key, data)
    with store.open(key, chunk_size=64 * 1024) as stream:
        assert stream.read(1000) == data[:1000]       # the client goes away after 1000 bytes
    assert not (directory / "objects" / key[:2] / key).exists()
    assert not list((directory / "tmp").iterdir())    # nothing half-written left behind
    with store.open(key, start=5) as stream:          # a range is not the object: not cached
        assert stream.read() == data[5:]
    assert not (directory / "objects" / key[:2] / key).exists()
    assert b"".join(store.iter_chunks(key, chunk_size=64 * 1024)) == data
    with server.outage():
        assert store.get(key) == data


def test_objects_above_the_threshold_are_streamed_not_cached(cached):
    store, _server, directory = cached
    big = os.urandom(1024 * 1024 + 1)
    store.put(sha1(big), big)
    assert store.get(sha1(big)) == big
    assert b"".join(store.iter_chunks(sha1(big))) == big
    assert not list((directory / "objects").rglob(sha1(big)))


def test_a_corrupted_cache_file_is_detected_and_fetched_again(cached, caplog):
    store, _server, directory = cached
    data = os.urandom(50 * 1024)
    key = sha1(data)
    store.put(key, data)
    store.get(key)
    path = directory / "objects" / key[:2] / key
    path.write_bytes(b"X" + data[1:])                 # a bit flip on disk
    with caplog.at_level(logging.ERROR, logger="odoo_cloud.storage.cache"):
        assert store.get(key) == data
    assert "corrupted" in caplog.text
    assert path.read_bytes() == data                  # fetched again and republished
    path.write_bytes(data[:-1])                       # a truncated file, read through open()
    with store.open(key) as stream:
        assert stream.read() == data


@pytest.fixture
def hashings(monkeypatch):
    """How many times the cache hashed something (fills and hit verifications)."""
    count = [0]

    def counting_sha1(*args):
        count[0] += 1
        return hashlib.sha1(*args)

    monkeypatch.setattr(cache_module, "hashlib", type("hashlib", (), {"sha1": staticmethod(counting_sha1)}))
    return count


def settle(path: Path, seconds_ago: float = 10.0) -> None:
    """As if the file had been written `seconds_ago` (its access time too)."""
    then = int((time.time() - seconds_ago) * 1e9)
    os.utime(path, ns=(then, then))


def test_a_verified_hit_is_not_hashed_again_until_its_file_changes(tmp_path, hashings, caplog):
    """A hit costs what serving a local file costs; any write to the file makes the next hit hash it."""
    cache = ReadCache(tmp_path / "c", 4 * 1024 * 1024)
    data = os.urandom(300 * 1024)
    key = sha1(data)
    assert cache.put(key, data)
    settle(cache.path(key))
    before = hashings[0]
    assert cache.get(key) == data                     # first hit of this process: hashed
    assert hashings[0] == before + 1
    for _ in range(3):
        assert cache.get(key) == data                 # unchanged file: not hashed again
        with cache.open(key) as handle:
            assert handle.read() == data
    assert hashings[0] == before + 1
    stat = cache.path(key).stat()                     # a hit marks the use, leaves the mtime alone
    assert stat.st_atime > time.time() - 60 and stat.st_mtime < time.time() - 5
    cache.path(key).write_bytes(b"garbage" + data[7:])  # same size, written in place
    with caplog.at_level(logging.ERROR, logger="odoo_cloud.storage.cache"):
        assert cache.get(key) is None                 # hashed again: detected, removed, a miss
    assert "corrupted" in caplog.text and not cache.path(key).exists()


def test_a_write_in_the_clock_tick_of_the_verification_is_still_detected(tmp_path):
    """A file modified just before it was hashed is not trusted at the next hit: a write in the same
    tick of the kernel's file clock would leave the modification time unchanged."""
    cache = ReadCache(tmp_path / "c", 4 * 1024 * 1024)
    data = os.urandom(50 * 1024)
    key = sha1(data)
    assert cache.put(key, data)                       # modified now
    path = cache.path(key)
    assert cache.get(key) == data                     # verified, but too recent to be remembered
    stat = path.stat()
    path.write_bytes(b"X" + data[1:])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same modification time
    assert cache.get(key) is None


def test_a_silently_changed_file_is_hashed_by_a_new_process_and_after_the_reverify_delay(tmp_path,
                                                                                          monkeypatch):
    """A change that keeps size and modification time (not a normal write) escapes a process's memory of
    verified files only until a new process starts or REVERIFY_SECONDS pass."""
    directory = tmp_path / "c"
    cache = ReadCache(directory, 4 * 1024 * 1024)
    data = os.urandom(50 * 1024)
    key = sha1(data)
    assert cache.put(key, data)
    path = cache.path(key)
    settle(path)
    assert cache.get(key) == data                     # verified and remembered
    stat = path.stat()
    with open(path, "r+b") as handle:                 # bit rot: same inode, size and times
        handle.write(b"X")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ReadCache(directory, 4 * 1024 * 1024).get(key) is None   # another process hashes it
    assert cache.put(key, data)
    settle(path)
    assert cache.get(key) == data
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.write(b"X")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(cache_module, "REVERIFY_SECONDS", 0.0)
    assert cache.get(key) is None                     # the memory of a verification expires


def test_bytes_that_do_not_hash_to_their_key_are_never_cached(cached, caplog):
    store, _server, directory = cached
    good, bad = os.urandom(2000), os.urandom(2000)
    key = sha1(good)
    store.ensure_bucket()
    if store.scheme == "s3":                          # a damaged object, written behind our back
        store.client.put_object(Bucket=store.bucket, Key=key, Body=bad)
    else:
        with store.pool.connection() as conn:
            conn.put_object(store.bucket, key, bad)
    with caplog.at_level(logging.ERROR, logger="odoo_cloud.storage.cache"):
        assert store.get(key) == bad                  # what the store holds, as without a cache
    assert "not cached" in caplog.text and not list((directory / "objects").rglob(key))


def test_the_cache_stays_within_its_bound_and_evicts_the_least_recently_used(tmp_path):
    cache = ReadCache(tmp_path / "c", 1024 * 1024, max_object_bytes=200 * 1024)
    blobs = [os.urandom(100 * 1024) for _ in range(30)]
    first = sha1(blobs[0])
    for i, data in enumerate(blobs):
        assert cache.put(sha1(data), data)
        if i % 3 == 0:
            assert cache.get(first) == blobs[0]       # kept hot
        on_disk = sum(p.stat().st_size for p in (tmp_path / "c" / "objects").rglob("*") if p.is_file())
        assert on_disk <= 1024 * 1024
    assert cache.get(first) == blobs[0]
    assert cache.get(sha1(blobs[1])) is None          # cold and old: evicted
    assert int((tmp_path / "c" / "size").read_text()) == on_disk


def _reader(directory: str, keys: list[str], blobs: dict[str, bytes], out) -> None:
    cache = ReadCache(directory, 2 * 1024 * 1024)
    bad = 0
    for _ in range(20):
        for key in keys:
            got = cache.get(key)
            if got is None:
                cache.put(key, blobs[key])
            elif got != blobs[key]:
                bad += 1
    out.put(bad)


def test_concurrent_fills_from_several_processes_never_tear(tmp_path):
    blobs = {sha1(d): d for d in (os.urandom(150 * 1024) for _ in range(24))}
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_reader, args=(str(tmp_path / "c"), list(blobs), blobs, out))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [out.get(timeout=5) for _ in procs] == [0, 0, 0, 0]
    cache = ReadCache(tmp_path / "c", 2 * 1024 * 1024)
    for path in (tmp_path / "c" / "objects").rglob("*"):
        if path.is_file():
            assert sha1(path.read_bytes()) == path.name
    on_disk = sum(p.stat().st_size for p in (tmp_path / "c" / "objects").rglob("*") if p.is_file())
    assert on_disk <= cache.max_bytes


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=False,
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs to fill up here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_degrades_to_direct_reads_with_one_warning(cached, tiny_tmpfs, caplog):
    store, _server, _directory = cached
    store.read_cache = ReadCache(tiny_tmpfs, 4 * 1024 * 1024, max_object_bytes=1024 * 1024)
    (tiny_tmpfs / "filler").write_bytes(b"\0" * 200 * 1024)   # the pod's ephemeral storage is nearly full
    blobs = [os.urandom(100 * 1024) for _ in range(3)]
    for data in blobs:
        store.put(sha1(data), data)
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.storage.cache"):
        for _ in range(2):
            for data in blobs:
                assert store.get(sha1(data)) == data
                assert b"".join(store.iter_chunks(sha1(data))) == data
    warnings = [r for r in caplog.records if "reading from the object store directly" in r.getMessage()]
    assert len(warnings) == 1
    assert not [p for p in (tiny_tmpfs / "tmp").iterdir()]    # no partial file left on the full disk


def test_an_unusable_cache_directory_degrades_too(cached, tmp_path, caplog):
    store, _server, _directory = cached
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_bytes(b"")
    store.read_cache = ReadCache(not_a_dir, 4 * 1024 * 1024)
    data = os.urandom(1000)
    store.put(sha1(data), data)
    with caplog.at_level(logging.WARNING, logger="odoo_cloud.storage.cache"):
        assert store.get(sha1(data)) == data and store.get(sha1(data)) == data
    assert sum("reading from the object store directly" in r.getMessage() for r in caplog.records) == 1


def test_verification_of_an_upload_bypasses_the_cache(cached):
    store, server, _directory = cached
    data = os.urandom(1000)
    store.put(sha1(data), data)
    store.get(sha1(data))
    with server.outage(), pytest.raises(Exception) as raised:
        store.get(sha1(data), use_cache=False)
    assert not isinstance(raised.value, AssertionError)
    store.known_keys.clear()


def test_missing_objects_and_deletes_do_not_depend_on_the_cache(cached):
    store, _server, directory = cached
    data = os.urandom(4000)
    key = sha1(data)
    store.put(key, data)
    store.get(key)
    store.delete(key)
    assert not store.exists(key)                      # head/exists ask the store, never the cache
    with pytest.raises(ObjectNotFound):
        store.get("0" * 40)
    assert Path(directory / "objects" / key[:2] / key).exists()  # a content address stays valid
