#!/usr/bin/env python3
"""What the suite costs Odoo per request: CPU and latency of one front-end, suite vs stock, same run.

    .venv/bin/python bench/bench_request_cost.py [--requests 150] [--rounds 5] [--profile DIR]

The cluster benchmark (bench/bench_cluster.py, minutes of Locust load on a saturated machine) found the
suite at 0.87x stock throughput on JSON-RPC reads and a presigned redirect at 0.50x the Odoo CPU of a
streamed 5 MB download. This one isolates those two costs: one client, one request at a time, against
Odoo 18 front-ends with one prefork worker each (the same databases and options as the cluster bench,
bench/cluster/odoo.py), in interleaved rounds whose medians are compared:

- `web_search_read` of 80 partners through `/web/dataset/call_kw`: Odoo CPU (master + worker, from
  /proc) per request and p50/p99 latency, `suite` (S3 + Redis sessions + JSON logs + statsd +
  readiness) against `stock` (filestore, filesystem sessions, text logs). On a machine whose CPUs are
  saturated, throughput is the inverse of CPU per request: the >= 0.95x throughput target is CPU
  <= 1/0.95 = 1.053x; p99 <= 1.1x.
- `/web/content/<5 MB attachment>?download=true`: Odoo CPU per download answered with a presigned
  redirect (`ATTACHMENT_STORAGE_PRESIGNED_URL=1`) against streamed through Odoo: target <= 0.2x.

CPU time per request is what the suite adds to Odoo; it depends much less on the machine's other load
than throughput does, but a loaded machine still widens latencies: the load average is printed with
every figure. `--profile DIR` also records the suite worker with py-spy (collapsed stacks) during one
extra batch of each kind and prints where its time goes. Exit status 1 when a target is missed; 0 with
"SKIPPED" when Odoo 18 is missing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_cluster import Stack, process_cpu_seconds  # noqa: E402
from bench.cluster.odoo import STOCK_LOAD, SUITE_LOAD, OdooClient, OdooFrontend  # noqa: E402
from devstack.odoo import find_venv_odoo  # noqa: E402

READ_CPU_TARGET = 1 / 0.95  # suite CPU per read / stock's, on a saturated machine = 1 / throughput ratio
READ_P99_TARGET = 1.1
PRESIGNED_CPU_TARGET = 0.2
SPECIFICATION = {"display_name": {}, "email": {}, "phone": {}, "city": {}}


def load_average() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Variant:
    """One front-end (one prefork worker) and a logged-in client of it."""

    def __init__(self, stack: Stack, name: str, suite: bool, extra: dict[str, str] | None = None):
        dbname = stack.suite_db if suite else stack.stock_db
        environ = {**stack.suite_env, **(extra or {})} if suite else {}
        self.name, self.dbname = name, dbname
        self.frontend = OdooFrontend(stack.base, name, root=stack.root, pg=stack.pg, dbname=dbname,
                                     environ=environ, load=SUITE_LOAD if suite else STOCK_LOAD, workers=1)
        self.frontend.start()
        stack.prepare(self.frontend.url, dbname)
        self.client = OdooClient(self.frontend.url, dbname)
        self.large = stack.ids[dbname][1]

    def pids(self) -> list[int]:
        return [pid for pid in (self.frontend.master_pid, *self.frontend.worker_pids()) if pid]

    def read(self) -> None:
        self.client.call("res.partner", "web_search_read", [], specification=SPECIFICATION, limit=80,
                         offset=0, order="name")

    def download(self, expect: int) -> None:
        response = self.client.http.get(f"{self.frontend.url}/web/content/{self.large}?download=true",
                                        allow_redirects=False, timeout=120)
        if response.status_code != expect:
            raise RuntimeError(f"{self.name}: download answered {response.status_code}, expected {expect}")

    def revalidate(self) -> None:
        """The same download answered 304 from the ETag: routing, session, access check, no store call —
        the floor under any answer Odoo gives for that URL, a redirect included."""
        url = f"{self.frontend.url}/web/content/{self.large}?download=true"
        if not hasattr(self, "_etag"):
            self._etag = self.client.http.head(url, timeout=120).headers["ETag"]
        response = self.client.http.get(url, headers={"If-None-Match": self._etag}, allow_redirects=False,
                                        timeout=120)
        if response.status_code != 304:
            raise RuntimeError(f"{self.name}: revalidation answered {response.status_code}, expected 304")

    def batch(self, action, count: int) -> tuple[float, list[float]]:
        """(Odoo CPU seconds per request, latencies in seconds) of `count` sequential requests."""
        pids = self.pids()
        cpu0 = process_cpu_seconds(pids)
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter()
            action()
            latencies.append(time.perf_counter() - t0)
        return (process_cpu_seconds(pids) - cpu0) / count, latencies


def profile(variant: Variant, action, count: int, out: Path) -> None:
    """py-spy (collapsed stacks) on the variant's worker during `count` requests; prints the top frames."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workers = variant.frontend.worker_pids()
    if not Path(spy).exists() or not workers:
        print("profile: py-spy or the worker not found: skipped")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    # the HTTP worker is the child that is not the gevent one; py-spy follows only the one given
    proc = subprocess.Popen([spy, "record", "--pid", str(workers[0]), "--rate", "250", "--format", "raw",
                             "--nonblocking", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    for _ in range(count):
        action()
    proc.send_signal(2)
    proc.wait(60)
    summarize(out)


def summarize(path: Path, top: int = 25) -> None:
    """Inclusive share of the samples per frame (function and file) of a collapsed-stacks file."""
    if not path.exists():
        print(f"profile: {path} not written")
        return
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for frame in set(stack.split(";")):
            inclusive[frame] += count
    print(f"profile {path.name}: {total} samples; frames by inclusive share:")
    for frame, count in inclusive.most_common(top):
        print(f"  {count / max(1, total):6.1%}  {frame[:150]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=150, help="JSON-RPC reads per variant and round")
    parser.add_argument("--downloads", type=int, default=15, help="5 MB downloads per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="also record the suite worker with py-spy into this directory")
    parser.add_argument("--dir", help="keep the servers' data and logs here")
    args = parser.parse_args()
    root, why = find_venv_odoo()
    if root is None:
        print(f"bench_request_cost SKIPPED: Odoo 18 not found ({why})")
        return 0
    print(f"{os.cpu_count()} CPUs shared with every other job on this machine; {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-request-cost-") as tmp:
        base = Path(args.dir).resolve() if args.dir else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        stack = Stack(base, root)
        variants: list[Variant] = []
        try:
            stack.install(stock=True)
            stock, suite = Variant(stack, "stock", False), Variant(stack, "suite", True)
            presigned = Variant(stack, "presigned", True, {"ATTACHMENT_STORAGE_PRESIGNED_URL": "1"})
            variants = [stock, suite, presigned]
            for variant in variants:  # this worker's own path warm (first calls import and compile)
                variant.batch(variant.read, 10)
            suite.batch(lambda: suite.download(200), 2)
            presigned.batch(lambda: presigned.download(302), 2)
            suite.batch(suite.revalidate, 2)
            return measure(stack, stock, suite, presigned, args)
        finally:
            for variant in variants:
                variant.frontend.stop()
            stack.stop()


def side_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of what runs beside Odoo: the suite's servers (idle during a stock batch) and
    this process (the client, and the statsd listener's thread that receives the suite's datagrams)."""
    return {"redis": process_cpu_seconds([stack.redis._proc.pid]),
            "seaweedfs": process_cpu_seconds([stack.s3._proc.pid]),
            "bench process (client + statsd listener)": time.process_time()}


def measure(stack: Stack, stock: Variant, suite: Variant, presigned: Variant, args) -> int:
    cpu: dict[str, list[float]] = {"stock": [], "suite": [], "streamed": [], "presigned": [], "floor": []}
    lat: dict[str, list[float]] = {"stock": [], "suite": []}
    beside: dict[tuple[str, str], list[float]] = {}
    loads = []
    for round_ in range(args.rounds):
        order = [stock, suite] if round_ % 2 == 0 else [suite, stock]
        for variant in order:
            before = side_cpu(stack)
            per_request, latencies = variant.batch(variant.read, args.requests)
            for name, seconds in side_cpu(stack).items():
                beside.setdefault((variant.name, name), []).append((seconds - before[name]) / args.requests)
            cpu[variant.name].append(per_request)
            lat[variant.name] += latencies
        downloads = [("streamed", suite, lambda: suite.download(200)),
                     ("presigned", presigned, lambda: presigned.download(302)),
                     ("floor", suite, suite.revalidate)]
        for name, variant, action in (downloads if round_ % 2 == 0 else downloads[::-1]):
            cpu[name].append(variant.batch(action, args.downloads)[0])
        loads.append(load_average())
        print(f"round {round_ + 1}: read CPU stock {cpu['stock'][-1] * 1000:.2f} ms, suite "
              f"{cpu['suite'][-1] * 1000:.2f} ms; 5 MB download CPU streamed "
              f"{cpu['streamed'][-1] * 1000:.2f} ms, presigned {cpu['presigned'][-1] * 1000:.2f} ms; "
              f"{loads[-1]}", flush=True)
    med = {name: statistics.median(values) for name, values in cpu.items()}
    read_cpu = med["suite"] / med["stock"]
    p50 = percentile(lat["suite"], 0.5) / percentile(lat["stock"], 0.5)
    p99 = percentile(lat["suite"], 0.99) / percentile(lat["stock"], 0.99)
    presigned_ratio = med["presigned"] / med["streamed"]
    missed = []
    print(f"\nJSON-RPC web_search_read (80 partners), medians of {args.rounds} rounds x {args.requests}:")
    print(f"  Odoo CPU per read: stock {med['stock'] * 1000:.2f} ms, suite {med['suite'] * 1000:.2f} ms = "
          f"{read_cpu:.3f}x (target <= {READ_CPU_TARGET:.3f}x, i.e. >= 0.95x throughput when CPU-bound)")
    ms = {f"{name} p{q}": percentile(values, q / 100) * 1000
          for name, values in lat.items() for q in (50, 99)}
    print(f"  latency p50 stock {ms['stock p50']:.1f} ms, suite {ms['suite p50']:.1f} ms = {p50:.2f}x; "
          f"p99 stock {ms['stock p99']:.1f} ms, suite {ms['suite p99']:.1f} ms = {p99:.2f}x "
          f"(target <= {READ_P99_TARGET}x)")
    print("  CPU per read beside Odoo (medians): " + "; ".join(
        f"{what} stock {statistics.median(beside[('stock', what)]) * 1000:.2f} ms, suite "
        f"{statistics.median(beside[('suite', what)]) * 1000:.2f} ms" for what in side_cpu(stack)))
    print(f"5 MB download, Odoo CPU: streamed {med['streamed'] * 1000:.2f} ms, presigned redirect "
          f"{med['presigned'] * 1000:.2f} ms = {presigned_ratio:.2f}x (target <= {PRESIGNED_CPU_TARGET}x); "
          f"the floor, a 304 revalidation of that URL on the same front-end: {med['floor'] * 1000:.2f} ms = "
          f"{med['floor'] / med['streamed']:.2f}x of streamed")
    print(f"machine during the rounds: {'; '.join(loads)}")
    if read_cpu > READ_CPU_TARGET:
        missed.append(f"read CPU {read_cpu:.3f}x")
    if p99 > READ_P99_TARGET:
        missed.append(f"read p99 {p99:.2f}x")
    if presigned_ratio > PRESIGNED_CPU_TARGET:
        missed.append(f"presigned CPU {presigned_ratio:.2f}x")
    if args.profile:
        out = Path(args.profile).resolve()
        profile(suite, suite.read, args.requests * 2, out / "suite-read.txt")
        profile(stock, stock.read, args.requests * 2, out / "stock-read.txt")
        profile(presigned, lambda: presigned.download(302), args.downloads * 4, out / "presigned.txt")
    print("\ntargets: " + ("met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
