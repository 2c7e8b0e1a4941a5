"""Attachment migration file -> S3: our engine vs the physical limit vs the original one-row loop.

Same real S3 server (SeaweedFS) and PostgreSQL, same run, same 20 KB objects:
  (a) raw boto3 `put_object` of the objects with a thread pool: what the server can take;
  (b) our engine (`odoo-cloud migrate --to s3`, in a subprocess so its peak RSS is its own), which also
      reads each file, checks its sha1, verifies every object (HEAD: size + MD5), switches rows in
      batches and removes the moved files;
  (c) the original approach: one row at a time in a single transaction. Where Odoo 18 is found (as
      scripts/odoo_tests.py finds it) it is the real thing: an Odoo database with attachment_s3 and
      `for a in attachments: a.write({'raw': a.raw, 'mimetype': a.mimetype})` (what core's _migrate
      does) through our ir.attachment glue; (c') is the same loop written in plain SQL + boto3 (SELECT,
      read, base64 round trip, sha1, put, UPDATE), printed for reference and used when Odoo is absent.
Targets (issue 4): (b) >= 60% of (a); (b) >= 4x (c); engine peak RSS at N rows within 20% of that at
N/5 rows. Exit status 1 when a target is missed.

    .venv/bin/python bench/bench_migration.py [--count 10000] [--size 20480]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402

import devstack  # noqa: E402

DDL = (ROOT / "tests" / "migration" / "ir_attachment.sql").read_text()


def seed(pg, count: int, size: int, base: Path, salt: str) -> tuple[str, Path]:
    """A database with `count` file-stored attachments of `size` distinct random bytes."""
    name = f"bench_{salt}_{count}"
    dsn = pg.create_database(name)
    filestore = base / "filestore" / name
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(DDL)
        rows = []
        for i in range(count):
            data = os.urandom(size)
            sha = hashlib.sha1(data).hexdigest()
            fname = f"{sha[:2]}/{sha}"
            path = filestore / fname
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            rows.append((f"f{i}.bin", "binary", fname, size, sha, "application/octet-stream"))
        psycopg2.extras.execute_values(
            cur, "INSERT INTO ir_attachment (name, type, store_fname, file_size, checksum, mimetype)"
                 " VALUES %s", rows, page_size=1000)
    conn.commit()
    conn.close()
    return dsn, filestore


def files_of(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT store_fname FROM ir_attachment ORDER BY id")
        names = [r[0] for r in cur.fetchall()]
    conn.close()
    return names


def client(s3, pool: int):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint_url, region_name=s3.region, aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=pool,
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))


def raw_boto3(s3, filestore: Path, names: list[str], threads: int) -> float:
    """(a) put_object of every file with a thread pool; returns objects per second."""
    s3c = client(s3, threads)
    bucket = f"raw-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)

    def put(fname: str) -> None:
        data = (filestore / fname).read_bytes()
        s3c.put_object(Bucket=bucket, Key=fname.split("/")[1], Body=data)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, names))
    return len(names) / (time.perf_counter() - started)


def engine(s3, dsn: str, filestore: Path, workers: int, batch: int) -> tuple[float, float, int, dict]:
    """(b) `python -m odoo_cloud.storage.migration --to s3`: (rate by its report, wall rate, peak RSS KiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_"))}
    env.update(AWS_HOST=s3.endpoint_url, AWS_REGION=s3.region, AWS_ACCESS_KEY_ID=s3.access_key,
               AWS_SECRET_ACCESS_KEY=s3.secret_key, AWS_BUCKETNAME=f"eng-{uuid.uuid4().hex[:8]}",
               PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "odoo_cloud.storage.migration", "--to", "s3", "--dsn", dsn,
            "--filestore", str(filestore), "--workers", str(workers), "--batch-size", str(batch), "--json",
            "--progress-interval", "5"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(out.strip().splitlines()[-1])
    if proc.returncode != 0 or not report["ok"] or report["remaining"]:
        raise SystemExit(f"engine run failed: exit {proc.returncode}, {report}")
    return report["moved"] / report["seconds"], report["moved"] / wall, usage.ru_maxrss, report


def orm_loop(s3, dsn: str, filestore: Path) -> float:
    """(c) the original suite's approach: one row at a time, one transaction for everything."""
    s3c = client(s3, 1)
    bucket = f"orm-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    started = time.perf_counter()
    cur.execute("SELECT id FROM ir_attachment WHERE store_fname IS NOT NULL AND store_fname NOT LIKE 's3://%%'"
                " ORDER BY id")
    for (row_id,) in cur.fetchall():
        cur.execute("SELECT store_fname, mimetype FROM ir_attachment WHERE id = %s", (row_id,))
        fname, _mimetype = cur.fetchone()
        datas = base64.b64encode((filestore / fname).read_bytes())  # attach.datas
        data = base64.b64decode(datas)                              # write({'datas': ...})
        sha = hashlib.sha1(data).hexdigest()
        s3c.put_object(Bucket=bucket, Key=sha, Body=data)
        cur.execute("UPDATE ir_attachment SET store_fname = %s, db_datas = NULL, checksum = %s,"
                    " file_size = %s, write_date = now() WHERE id = %s",
                    (f"s3://{bucket}/{sha}", sha, len(data), row_id))
    conn.commit()
    elapsed = time.perf_counter() - started
    cur.execute("SELECT count(*) FROM ir_attachment WHERE store_fname LIKE 's3://%%'")
    rate = cur.fetchone()[0] / elapsed
    conn.close()
    return rate


ORM_LOOP = """
import os, sys, time
params = env["ir.config_parameter"].sudo()
params.set_param("ir_attachment.location", "file")
records = env["ir.attachment"].create([
    {"name": f"b{i}.bin", "raw": os.urandom(SIZE), "mimetype": "application/octet-stream"}
    for i in range(COUNT)])
env.cr.commit()
params.set_param("ir_attachment.location", "s3")
env.invalidate_all()
records = env["ir.attachment"].browse(records.ids)
started = time.perf_counter()
for attachment in records:  # core's _migrate(), one transaction for everything
    attachment.write({"raw": attachment.raw, "mimetype": attachment.mimetype})
env.cr.commit()
elapsed = time.perf_counter() - started
moved = sum(1 for a in records if (a.store_fname or "").startswith("s3://"))
sys.stdout.write(f"ORM-LOOP {moved} {elapsed}\\n")
"""


def orm_loop_odoo(pg, s3, base: Path, count: int, size: int) -> tuple[float | None, str]:
    """(c) in a real Odoo 18 (None and the reason when Odoo is not found or fails)."""
    from devstack.odoo import ODOO_VENV, addons_paths, find_odoo, odoo_command

    python = ODOO_VENV / "bin" / "python"
    if not python.exists():
        return None, f"no {python} (scripts/setup_odoo.sh)"
    root, how = find_odoo(str(python))
    if root is None:
        return None, how
    dbname = f"bench_orm_{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_"))}
    env.update(AWS_HOST=s3.endpoint_url, AWS_REGION=s3.region, AWS_ACCESS_KEY_ID=s3.access_key,
               AWS_SECRET_ACCESS_KEY=s3.secret_key, AWS_BUCKETNAME=dbname.replace("_", "-"),
               PYTHONPATH=str(ROOT))
    opts = ["-d", dbname, "--db_host", pg.host, "--db_port", str(pg.port), "--db_user", pg.user,
            "--addons-path", ",".join(str(p) for p in [*addons_paths(root), ROOT]),
            "--data-dir", str(base / "odoo-data"), "--no-http", "--log-level=warn"]
    cmd = odoo_command(root, python)
    install = subprocess.run([*cmd, *opts, "-i", "attachment_s3", "--stop-after-init", "--without-demo=all"],
                             env=env, capture_output=True, text=True, timeout=600)
    if install.returncode != 0:
        return None, "installing attachment_s3 failed: " + install.stderr[-500:]
    script = ORM_LOOP.replace("SIZE", str(size)).replace("COUNT", str(count))
    shell = subprocess.run([*cmd, "shell", *opts], input=script, env=env, capture_output=True, text=True,
                           timeout=1200)
    for line in shell.stdout.splitlines():
        if line.startswith("ORM-LOOP "):
            _, moved, elapsed = line.split()
            if int(moved) != count:
                return None, f"the ORM loop moved {moved} of {count}"
            return count / float(elapsed), f"Odoo 18 ORM ({how})"
    return None, "the Odoo shell printed no result: " + (shell.stderr or shell.stdout)[-800:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000, help="row count of the memory comparison run")
    parser.add_argument("--baseline-count", type=int, default=2_000, help="rows for the slow (c) loop")
    parser.add_argument("--size", type=int, default=20 * 1024)
    parser.add_argument("--threads", type=int, default=8, help="raw boto3 thread pool")
    parser.add_argument("--workers", type=int, default=8, help="engine workers")
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    pg = devstack.PostgresServer(base).start()
    s3 = devstack.SeaweedFSServer(base).start()
    try:
        t0 = time.perf_counter()
        big_dsn, big_fs = seed(pg, args.count, args.size, base, "big")
        small_dsn, small_fs = seed(pg, args.small, args.size, base, "small")
        orm_dsn, orm_fs = seed(pg, args.baseline_count, args.size, base, "orm")
        print(f"seeded {args.count} + {args.small} + {args.baseline_count} attachments of {args.size} bytes "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        names = files_of(big_dsn)
        # warm the server (first bucket, connections) so no figure pays for it
        raw_boto3(s3, big_fs, names[:200], args.threads)

        raw_rate = raw_boto3(s3, big_fs, names, args.threads)
        print(f"(a) raw boto3 put_object, {args.threads} threads, {len(names)} objects: {raw_rate:.1f} obj/s",
              flush=True)
        eng_rate, eng_wall, rss_big, report = engine(s3, big_dsn, big_fs, args.workers, args.batch_size)
        print(f"(b) engine, {args.workers} workers, batches of {args.batch_size}, {report['moved']} rows: "
              f"{eng_rate:.1f} rows/s ({eng_wall:.1f} rows/s wall incl. interpreter start); "
              f"peak RSS {rss_big / 1024:.1f} MiB", flush=True)
        sql_rate = orm_loop(s3, orm_dsn, orm_fs)
        print(f"(c') one-row loop in plain SQL + boto3, single transaction, {args.baseline_count} rows: "
              f"{sql_rate:.1f} rows/s", flush=True)
        odoo_rate, how = orm_loop_odoo(pg, s3, base, args.baseline_count, args.size)
        if odoo_rate is None:
            print(f"(c) Odoo ORM loop not measured ({how}): the SQL loop (c') is the baseline", flush=True)
            orm_rate = sql_rate
        else:
            orm_rate = odoo_rate
            print("(c) one-row ORM loop (core _migrate through our glue), single transaction, "
                  f"{args.baseline_count} rows: {orm_rate:.1f} rows/s [{how}]", flush=True)
        _rate, _wall, rss_small, _ = engine(s3, small_dsn, small_fs, args.workers, args.batch_size)
        print(f"engine peak RSS: {rss_small / 1024:.1f} MiB at {args.small} rows, "
              f"{rss_big / 1024:.1f} MiB at {args.count} rows", flush=True)
    finally:
        s3.stop()
        pg.stop()

    vs_raw = eng_rate / raw_rate
    vs_orm = eng_rate / orm_rate
    memory = rss_big / rss_small
    print(f"\nengine / raw boto3      = {vs_raw:.2f}  (target >= 0.60)")
    print(f"engine / one-row loop   = {vs_orm:.1f}x (target >= 4x)"
          + ("" if orm_rate == sql_rate else f"; vs the plain-SQL loop (c') {eng_rate / sql_rate:.1f}x"))
    print(f"peak RSS {args.count} / {args.small} = {memory:.2f}  (target <= 1.20)")
    print(f"ceiling: raw boto3 / one-row loop = {raw_rate / orm_rate:.1f}x - no client can beat (b)/(c) "
          "by more than that on this server")
    missed = [name for name, ok in (("vs raw", vs_raw >= 0.6), ("vs loop", vs_orm >= 4),
                                    ("memory", memory <= 1.2)) if not ok]
    print("targets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
