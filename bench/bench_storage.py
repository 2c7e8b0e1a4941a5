#!/usr/bin/env python3
"""Object stores vs their raw client on the same server, same run: get/put of 4 KB, 256 KB and 8 MB,
the cost of put's "already stored?" check, and the peak RSS of a 64 MB streamed download.

    .venv/bin/python bench/bench_storage.py [--rounds 5] [--backends seaweedfs,swift-s3api,swift-v1]

Each measured pair uses the same bytes under the same key (content-addressed sha1) in two buckets of
the same server; raw and store calls alternate, so drift hits both; figures are medians. Targets
(issue 3): store/raw <= 1.05 for get and for the put of a new object at 256 KB and 8 MB; peak RSS
growth of a 64 MB streamed read < 32 MB. The exit status is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import devstack
from devstack.memory import reset_peak_rss, status_kib
from odoo_cloud.config import load_settings
from odoo_cloud.storage import factory

SIZES = {"4 KB": 4 * 1024, "256 KB": 256 * 1024, "8 MB": 8 * 1024 * 1024}
ITERATIONS = {"4 KB": 40, "256 KB": 24, "8 MB": 10}
TARGET = 1.05
TARGET_SIZES = ("256 KB", "8 MB")
RSS_LIMIT_MB = 32


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def timed_cpu(fn) -> tuple[float, float]:
    """(wall, this process's CPU) seconds: CPU shows the client-side cost without server noise."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


class Raw:
    """The raw client doing what the store does, without the store."""

    def __init__(self, backend: str, server, bucket: str):
        self.backend = backend
        self.bucket = bucket
        if backend == "swift-v1":
            import swiftclient

            self.conn = swiftclient.Connection(authurl=server.auth_url, user=server.user, key=server.key,
                                               retries=2, timeout=60)
            self.conn.put_container(bucket)
            self.conn.put_container(bucket + "-cond")
        else:
            self.client = server.client() if backend == "seaweedfs" else server.s3_client()
            self.client.create_bucket(Bucket=bucket)
            self.client.create_bucket(Bucket=bucket + "-cond")

    def put(self, key: str, data: bytes) -> None:
        if self.backend == "swift-v1":
            self.conn.put_object(self.bucket, key, data, content_length=len(data))
        else:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def put_conditional(self, key: str, data: bytes) -> None:
        """The raw client sending the same `If-None-Match: *` the store sends (to another bucket)."""
        if self.backend == "swift-v1":
            self.conn.put_object(self.bucket + "-cond", key, data, content_length=len(data),
                                 headers={"If-None-Match": "*"})
        else:
            self.client.put_object(Bucket=self.bucket + "-cond", Key=key, Body=data, IfNoneMatch="*")

    def get(self, key: str) -> bytes:
        if self.backend == "swift-v1":
            return self.conn.get_object(self.bucket, key)[1]
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> None:
        if self.backend == "swift-v1":
            self.conn.head_object(self.bucket, key)
        else:
            self.client.head_object(Bucket=self.bucket, Key=key)


def build(backend: str, servers: dict, bucket: str):
    if backend == "seaweedfs":
        s = servers["seaweedfs"]
        env = {"AWS_HOST": s.endpoint_url, "AWS_REGION": s.region, "AWS_ACCESS_KEY_ID": s.access_key,
               "AWS_SECRET_ACCESS_KEY": s.secret_key, "AWS_BUCKETNAME": bucket}
        scheme, server = "s3", s
    elif backend == "swift-s3api":
        s = servers["swift"]
        env = {"AWS_HOST": s.s3_endpoint_url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": s.s3_access_key,
               "AWS_SECRET_ACCESS_KEY": s.s3_secret_key, "AWS_BUCKETNAME": bucket}
        scheme, server = "s3", s
    else:
        s = servers["swift"]
        env = {"SWIFT_AUTH_URL": s.auth_url, "SWIFT_ACCOUNT": s.user, "SWIFT_PASSWORD": s.key,
               "SWIFT_WRITE_CONTAINER": bucket}
        scheme, server = "swift", s
    store = factory.build_store(scheme, load_settings(env))
    store.ensure_bucket()
    return store, Raw(backend, server, bucket + "-raw")


def bench_backend(backend: str, servers: dict, rounds: int) -> tuple[list[str], list[str]]:
    store, raw = build(backend, servers, f"bench-{backend}-{os.getpid()}")
    lines, missed = [], []
    # warm both paths (connection pools, first-client costs)
    warm = os.urandom(1024)
    raw.put(sha1(warm), warm), raw.get(sha1(warm)), store.put(sha1(warm), warm), store.get(sha1(warm))
    for label, size in SIZES.items():
        samples = {"put raw": [], "put store": [], "put cond": [], "get raw": [], "get store": []}
        cpu = {name: [] for name in samples}
        paired = {"put": [], "get": [], "put cond": []}
        exist = {"known (memory)": [], "conditional PUT 412": [], "HEAD (avoided)": []}
        for _ in range(rounds):
            for i in range(ITERATIONS[label]):
                data = os.urandom(size)
                key = sha1(data)
                # default arguments bind this iteration's key/data (the calls run right away anyway)
                order = [("store", lambda key=key, data=data: store.put(key, data)),
                         ("raw", lambda key=key, data=data: raw.put(key, data)),
                         ("cond", lambda key=key, data=data: raw.put_conditional(key, data))]
                gets = [("store", lambda key=key: store.get(key)), ("raw", lambda key=key: raw.get(key))]
                if i % 2:
                    order, gets = order[::-1], gets[::-1]
                this = {}
                for who, call in order:
                    this[f"put {who}"] = timed_cpu(call)
                for who, call in gets:
                    this[f"get {who}"] = timed_cpu(call)
                for name, (wall, spent) in this.items():
                    samples[name].append(wall)
                    cpu[name].append(spent)
                paired["put"].append(this["put store"][0] / this["put raw"][0])
                paired["get"].append(this["get store"][0] / this["get raw"][0])
                paired["put cond"].append(this["put store"][0] / this["put cond"][0])
                # put of an existing key: what the "already stored?" check costs
                exist["known (memory)"].append(timed(lambda key=key, data=data: store.put(key, data)))
                store.known_keys.discard((store.bucket, key))
                exist["conditional PUT 412"].append(timed(lambda key=key, data=data: store.put(key, data)))
                exist["HEAD (avoided)"].append(timed(lambda key=key: raw.head(key)))
        med = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        cpu_med = {name: statistics.median(values) * 1000 for name, values in cpu.items()}
        for op in ("get", "put"):
            ratio = statistics.median(paired[op])
            flag = ""
            if label in TARGET_SIZES and ratio > TARGET:
                flag = f"  MISSED target {TARGET}"
                missed.append(f"{backend} {op} {label} {ratio:.3f}")
            name = "put (new object)" if op == "put" else op
            extra = ""
            if op == "put":
                extra = (f"; vs raw with the same If-None-Match {statistics.median(paired['put cond']):5.3f}")
            lines.append(f"{backend:12} {name:17} {label:>6}: store {med[f'{op} store']:8.2f} ms  "
                         f"raw {med[f'{op} raw']:8.2f} ms  ratio {ratio:5.3f}{flag}  "
                         f"(client CPU {cpu_med[f'{op} store']:.2f}/{cpu_med[f'{op} raw']:.2f} ms{extra})")
        exist_med = {name: statistics.median(values) * 1000 for name, values in exist.items()}
        lines.append(f"{backend:12} put (existing)    {label:>6}: "
                     f"in-process memory {exist_med['known (memory)']:.3f} ms;"
                     f" unknown -> conditional PUT answered 412 {exist_med['conditional PUT 412']:.2f} ms"
                     f" (= {exist_med['conditional PUT 412'] / med['put raw']:.2f}x a raw new put);"
                     f" a HEAD-first check would add {exist_med['HEAD (avoided)']:.2f} ms to every new put"
                     f" ({exist_med['HEAD (avoided)'] / med['put raw'] * 100:.0f}% of a raw put)")
    return lines, missed


def bench_stream_rss(backend: str, servers: dict) -> tuple[str, bool]:
    store, _ = build(backend, servers, f"bench-rss-{backend}-{os.getpid()}")
    data = os.urandom(64 * 1024 * 1024)
    key = sha1(data)
    store.put(key, data)
    del data
    before = reset_peak_rss()
    digest = hashlib.sha1()
    started = time.perf_counter()
    with store.open(key, chunk_size=256 * 1024) as stream:
        for chunk in stream:
            digest.update(chunk)
    seconds = time.perf_counter() - started
    streamed = (status_kib("VmHWM") - before) / 1024
    assert digest.hexdigest() == key
    before = reset_peak_rss()
    whole = store.get(key)
    control = (status_kib("VmHWM") - before) / 1024
    del whole
    ok = streamed < RSS_LIMIT_MB
    return (f"{backend:12} 64 MB streamed read: peak RSS +{streamed:.1f} MB in {seconds:.2f} s "
            f"(limit {RSS_LIMIT_MB} MB; control, whole-object get: +{control:.1f} MB)"
            + ("" if ok else "  MISSED")), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="seaweedfs,swift-s3api,swift-v1")
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        servers = {}
        if "seaweedfs" in backends:
            servers["seaweedfs"] = devstack.SeaweedFSServer(tmp).start()
        if {"swift-s3api", "swift-v1"} & set(backends):
            servers["swift"] = devstack.SwiftServer(tmp).start()
        try:
            all_lines, missed, rss_lines, rss_ok = [], [], [], True
            for backend in backends:
                lines, miss = bench_backend(backend, servers, args.rounds)
                all_lines += lines
                missed += miss
                line, ok = bench_stream_rss(backend, servers)
                rss_lines.append(line)
                rss_ok &= ok
        finally:
            for server in servers.values():
                server.stop()
    print("\nstore vs raw client (ratio = median of per-pair ratios, store and raw calls adjacent and their "
          "order alternating; times are medians; same server, same run)")
    print("\n".join(all_lines))
    print("\n".join(rss_lines))
    print("the Odoo download path (/web/content, 64 MB) is measured by the Odoo test "
          "test_64mb_download_keeps_worker_memory_bounded (its log line gives the peak RSS growth)")
    if missed or not rss_ok:
        print("MISSED: " + "; ".join(missed or ["RSS"]))
        return 1
    print(f"all targets met (<= {TARGET}x at {', '.join(TARGET_SIZES)}; streamed RSS < {RSS_LIMIT_MB} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
