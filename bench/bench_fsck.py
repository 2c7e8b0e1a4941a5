#!/usr/bin/env python3
"""`odoo-cloud fsck` vs a raw full listing of the bucket with the same client, same server, same run;
and fsck's peak memory at 10k and 100k objects.

    .venv/bin/python bench/bench_fsck.py [--objects 100000] [--small 10000] [--rounds 3]

A real SeaweedFS and a real PostgreSQL are started; the bucket gets N tiny content-addressed objects
and the database N rows referencing them (plus a few missing objects and orphans, so the merge has
work to do). Raw = boto3's ListObjectsV2 paginator walking the whole bucket; ours = the fsck engine
(listing + server-side cursor over ir_attachment + merge). Rounds alternate raw and ours; medians.
Peak memory: each size is checked in a fresh process that reports its own peak RSS.
Targets (issue 12): fsck/raw <= 1.5 at N objects; peak RSS at N <= 1.2 x peak RSS at the small size
(i.e. memory does not grow with the object count). The exit status is 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.memory import status_kib  # noqa: E402  # after the path insert

TIME_TARGET = 1.5
MEMORY_TARGET = 1.2


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def populate(server, conn, bucket: str, count: int) -> None:
    """`count` objects of 16-32 bytes under their sha1, `count` rows minus 10 (orphans), plus 10 rows
    whose object is missing."""
    import psycopg2.extras

    client = server.client()
    client.create_bucket(Bucket=bucket)
    blobs = [f"{bucket}:{i}".encode() * 2 for i in range(count)]
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda data: client.put_object(Bucket=bucket, Key=sha1(data), Body=data), blobs))
    rows = [(f"f{i}", "binary", f"s3://{bucket}/{sha1(data)}", sha1(data), len(data))
            for i, data in enumerate(blobs[10:])]
    rows += [(f"m{i}", "binary", f"s3://{bucket}/{sha1(b'gone' + bytes([i]))}", sha1(b"gone" + bytes([i])), 5)
             for i in range(10)]
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO ir_attachment (name, type, store_fname, checksum, file_size) VALUES %s", rows,
            page_size=5000)
    conn.commit()
    print(f"  {bucket}: {count} objects + {len(rows)} rows in {time.monotonic() - started:.1f} s", flush=True)


def raw_listing(client, bucket: str) -> int:
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000})
    for page in pages:
        count += len(page.get("Contents", ()))
    return count


def environ(server, bucket: str) -> dict[str, str]:
    return {"AWS_HOST": server.endpoint_url, "AWS_REGION": server.region,
            "AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_BUCKETNAME": bucket, "AWS_CREATE_BUCKET": "0"}


def run_fsck(store, dsn: str):
    import psycopg2

    from odoo_cloud.storage.fsck import Fsck

    conn = psycopg2.connect(dsn)
    try:
        return Fsck(store, [("bench", conn)]).run()
    finally:
        conn.close()


def child(dsn: str, bucket: str) -> None:
    """Measure one fsck in this fresh process; print its report counters and peak RSS."""
    from odoo_cloud.config import load_settings
    from odoo_cloud.storage.factory import build_store

    store = build_store("s3", load_settings(os.environ))
    report = run_fsck(store, dsn)
    peak_kib = status_kib("VmHWM")  # not ru_maxrss: it carries the parent's peak across fork+exec
    print(json.dumps({"objects": report.objects, "missing": report.missing.count,
                      "orphans": report.orphans.count + report.pending_orphans, "peak_mib": peak_kib / 1024}))


def main() -> int:  # noqa: PLR0915  # one linear scenario: servers, measure, report
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("DSN", "BUCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    import psycopg2

    import devstack
    from odoo_cloud.config import load_settings
    from odoo_cloud.storage.factory import build_store

    with tempfile.TemporaryDirectory(prefix="bench-fsck-") as tmp:
        s3 = devstack.SeaweedFSServer(Path(tmp) / "s3").start()
        pg = devstack.PostgresServer(Path(tmp) / "pg").start()
        try:
            sizes = {"small": args.small, "large": args.objects}
            dsns, buckets = {}, {}
            for label, count in sizes.items():
                buckets[label] = f"bench-fsck-{label}"
                dsns[label] = pg.create_database(f"fsck_{label}")
                conn = psycopg2.connect(dsns[label])
                with conn.cursor() as cur:
                    cur.execute((ROOT / "tests" / "migration" / "ir_attachment.sql").read_text())
                conn.commit()
                populate(s3, conn, buckets[label], count)
                conn.close()
            client = s3.client()
            store = build_store("s3", load_settings(environ(s3, buckets["large"])))
            raw_times, ours_times = [], []
            for round_ in range(args.rounds):
                started = time.perf_counter()
                listed = raw_listing(client, buckets["large"])
                raw_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                report = run_fsck(store, dsns["large"])
                ours_times.append(time.perf_counter() - started)
                assert listed == report.objects == args.objects, (listed, report.objects)
                assert report.missing.count == 10 and report.pending_orphans + report.orphans.count == 10
                print(f"  round {round_ + 1}: raw listing {raw_times[-1]:.2f} s, fsck {ours_times[-1]:.2f} s",
                      flush=True)
            ratio = statistics.median(ours_times) / statistics.median(raw_times)
            peaks = {}
            for label in sizes:
                env = {**os.environ, **environ(s3, buckets[label]), "PYTHONPATH": str(ROOT)}
                out = subprocess.run([sys.executable, __file__, "--child", dsns[label], buckets[label]],
                                     env=env, check=True, capture_output=True, text=True).stdout
                peaks[label] = json.loads(out.strip().splitlines()[-1])["peak_mib"]
        finally:
            s3.stop()
            pg.stop()
    memory_ratio = peaks["large"] / peaks["small"]
    print(f"fsck of {args.objects} objects: median {statistics.median(ours_times):.2f} s vs raw listing "
          f"{statistics.median(raw_times):.2f} s -> ratio {ratio:.2f} (target <= {TIME_TARGET})")
    print(f"peak RSS: {peaks['small']:.1f} MiB at {args.small} objects, {peaks['large']:.1f} MiB at "
          f"{args.objects} -> ratio {memory_ratio:.2f} (target <= {MEMORY_TARGET})")
    missed = [name for name, ok in (("time", ratio <= TIME_TARGET), ("memory", memory_ratio <= MEMORY_TARGET))
              if not ok]
    print("targets met" if not missed else f"targets MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
