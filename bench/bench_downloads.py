#!/usr/bin/env python3
"""Downloads through a real Odoo: stock (filestore) vs the suite on S3 with the read cache off and on.

    .venv/bin/python bench/bench_downloads.py [--series 18.0|19.0] [--rounds 3] [--requests 60]
                                              [--clients 4] [--flows "100 KB"]

Same machine, same run: a real PostgreSQL and SeaweedFS; three odoo-bin processes (threaded) —
`stock` (a database with only `web`, attachments in the filestore), `suite` (attachment_s3, every
attachment in S3, `ATTACHMENT_STORAGE_CACHE_SIZE=0`) and `suite+cache` (same database, a 256 MiB
cache, warmed by two passes). `--clients` threads download public attachments through
`/web/content`: 100 KB, 1 MB, and "a page of 40 thumbnails" (40 small images fetched one after the
other; latency per page). Variants alternate within each round (the first one turns with the
rounds); figures are medians over rounds of throughput and of p50/p99 latency. Targets (issue 15),
for every flow with the cache warm: throughput >= 0.9x stock and p99 <= 1.2x stock. The cache-off
figures are printed as the cold path. The cache directory's size is checked against its bound. Exit
status 1 when a target is missed.

Each server's CPU time per download (or page) is printed too: on a machine shared with other work the
wall-clock figures move by tens of percent from round to round, the CPU a front-end spends on one
download much less, and it is what the suite adds to a request (docs/READ_CACHE.md, "Cost of a hit").
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import devstack  # noqa: E402
from devstack.odoo import OdooSeries, find_venv_odoo, get_series  # noqa: E402
from devstack.odoo_env import s3_variables  # noqa: E402
from devstack.odoo_server import OdooHttpServer, install_database  # noqa: E402

THROUGHPUT_TARGET = 0.9
P99_TARGET = 1.2
CACHE_BYTES = 256 * 1024 * 1024
FLOWS = ("100 KB", "1 MB", "page of 40 thumbnails")


def png(seed: int, side: int = 48) -> bytes:
    """A real, small, distinct PNG (what a thumbnail is), without Pillow."""
    raw = b"".join(b"\0" + bytes((seed * 7 + x * 3 + y) % 256 for x in range(side * 3)) for y in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = side.to_bytes(4, "big") * 2 + bytes((8, 2, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


class Odoo(OdooHttpServer):
    """A threaded odoo-bin serving one database (devstack.odoo_server), its memory and CPU time."""

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def install(root: Path, pg, dbname: str, modules: str, data_dir: Path, *, series: OdooSeries) -> None:
    install_database(root, pg, dbname, modules, data_dir=data_dir, timeout=900, series=series)


def create_attachments(odoo: Odoo) -> dict[str, list[int]]:
    def create(name: str, data: bytes, mimetype: str) -> int:
        return odoo.rpc("ir.attachment", "create", {"name": name, "datas": base64.b64encode(data).decode(),
                                                    "mimetype": mimetype, "public": True})

    return {"100 KB": [create("doc-100k.bin", os.urandom(100 * 1024), "application/octet-stream")],
            "1 MB": [create("doc-1m.bin", os.urandom(1024 * 1024), "application/octet-stream")],
            "page of 40 thumbnails": [create(f"thumb-{i}.png", png(i), "image/png") for i in range(40)]}


def measure(url: str, ids: list[int], clients: int, count: int) -> tuple[float, float, float]:
    """(throughput per second, p50 s, p99 s) of `count` units (a download, or a page of len(ids))."""
    def unit(session: requests.Session) -> float:
        started = time.perf_counter()
        for att_id in ids:
            response = session.get(f"{url}/web/content/{att_id}", timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"{url}/web/content/{att_id}: {response.status_code}")
        return time.perf_counter() - started

    sessions = [requests.Session() for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda i: unit(sessions[i % clients]), range(count)))
    wall = time.perf_counter() - started
    latencies.sort()
    return count / wall, latencies[len(latencies) // 2], latencies[min(len(latencies) - 1,
                                                                       int(len(latencies) * 0.99))]


def main() -> int:  # noqa: C901, PLR0912, PLR0915  # one linear scenario: servers, measure, report
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=60, help="downloads (or pages) per measurement")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--series", default="18.0", help="the Odoo series to run (18.0 or 19.0)")
    parser.add_argument("--flows", action="append", choices=FLOWS,
                        help="measure only these flows (repeatable; default: all)")
    args = parser.parse_args()
    flows = tuple(args.flows or FLOWS)
    series = get_series(args.series)
    root, why = find_venv_odoo(series.name)
    if root is None:
        print(f"bench_downloads SKIPPED: {why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-downloads-") as tmp:
        base = Path(tmp)
        s3 = devstack.SeaweedFSServer(base / "s3").start()
        pg = devstack.PostgresServer(base / "pg").start()
        servers: dict[str, Odoo] = {}
        try:
            stock_db, suite_db = "stock_" + uuid.uuid4().hex[:6], "suite_" + uuid.uuid4().hex[:6]
            install(root, pg, stock_db, "web", base / "install-stock", series=series)
            install(root, pg, suite_db, "web,attachment_s3", base / "install-suite", series=series)
            s3_env = {**s3_variables(s3, "bench-downloads"), "RUNNING_ENV": "dev"}
            cache_dir = base / "read-cache"
            servers["stock"] = Odoo(root, pg, stock_db, base / "data-stock", {"RUNNING_ENV": "dev"},
                                    series=series)
            servers["suite"] = Odoo(root, pg, suite_db, base / "data-suite",
                                    {**s3_env, "ATTACHMENT_STORAGE_CACHE_SIZE": "0"}, series=series)
            servers["suite+cache"] = Odoo(root, pg, suite_db, base / "data-cache",
                                          {**s3_env, "ATTACHMENT_STORAGE_CACHE_SIZE": str(CACHE_BYTES),
                                           "ATTACHMENT_STORAGE_CACHE_DIR": str(cache_dir)}, series=series)
            servers["suite"].rpc("ir.config_parameter", "set_param", "ir_attachment.location", "s3")
            # thumbnails too: nothing kept in the database, every byte comes from the store
            servers["suite"].rpc("ir.config_parameter", "set_param",
                                 "ir_attachment.storage.force.database", "{}")
            ids = {"stock": create_attachments(servers["stock"]),
                   "suite": create_attachments(servers["suite"])}
            ids["suite+cache"] = ids["suite"]
            stored = servers["suite"].rpc("ir.attachment", "read", ids["suite"]["1 MB"], ["store_fname"])
            assert stored[0]["store_fname"].startswith("s3://"), stored
            for flow in flows:  # warm-up: every server twice, which fills the cache
                for name, server in servers.items():
                    measure(server.url, ids[name][flow], 1, 2)
            results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
            for round_ in range(args.rounds):
                for flow in flows:
                    count = max(4, args.requests // (10 if flow == FLOWS[2] else 1))
                    names = list(servers)  # who goes first turns with the rounds: load drifts
                    for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                        server = servers[name]
                        cpu = server.cpu_seconds()
                        figures = measure(server.url, ids[name][flow], args.clients, count)
                        results.setdefault((flow, name), []).append(
                            (*figures, (server.cpu_seconds() - cpu) / count))
                print(f"  round {round_ + 1} done", flush=True)
            cache_bytes = sum(p.stat().st_size for p in (cache_dir / "objects").rglob("*") if p.is_file())
            rss = {name: server.rss_mib() for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
            s3.stop()
            pg.stop()
    missed = []
    print(f"\nOdoo {series.name}, {args.clients} clients, {args.rounds} rounds; load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'flow':<24}{'variant':<13}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>8}"
          "   vs stock: throughput  p50   p99   CPU")
    for flow in flows:
        stock = [statistics.median(x[i] for x in results[(flow, "stock")]) for i in range(4)]
        for name in servers:
            tput, p50, p99, cpu = (statistics.median(x[i] for x in results[(flow, name)]) for i in range(4))
            ratio = (tput / stock[0], p50 / stock[1], p99 / stock[2], cpu / stock[3])
            note = ""
            if name == "suite+cache":
                ok = ratio[0] >= THROUGHPUT_TARGET and ratio[2] <= P99_TARGET
                note = "  target met" if ok else "  TARGET MISSED"
                if not ok:
                    missed.append(flow)
            elif name == "suite":
                note = "  (cache off: the cold path)"
            print(f"{flow:<24}{name:<13}{tput:8.1f}{p50 * 1000:9.1f}{p99 * 1000:9.1f}{cpu * 1000:8.2f}   "
                  f"{ratio[0]:10.2f}x {ratio[1]:5.2f}x {ratio[2]:5.2f}x {ratio[3]:5.2f}x{note}")
    print(f"\nread cache on disk: {cache_bytes / 1024 / 1024:.1f} MiB (bound {CACHE_BYTES / 1024 / 1024:.0f} "
          "MiB); RSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    if cache_bytes > CACHE_BYTES:
        missed.append("cache bound")
    print(f"targets (cache warm: >= {THROUGHPUT_TARGET}x stock throughput, <= {P99_TARGET}x stock p99): "
          + ("met" if not missed else f"MISSED for {', '.join(missed)}"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
