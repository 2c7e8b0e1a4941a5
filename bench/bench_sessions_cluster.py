#!/usr/bin/env python3
"""Session load + save on a real Redis Cluster: our store vs raw RedisCluster GET + SET EX, same cluster.

A real 3-master cluster (devstack.RedisClusterServer, no replicas: the request path does not touch them) on
loopback; the same typical logged-in Odoo session and the same paired-batch method as bench_sessions.py.
Round trips are counted from the client (every command a RedisCluster sends to a node is one).

    .venv/bin/python bench/bench_sessions_cluster.py [--requests 2000] [--rounds 5]

Targets, checked by the exit status (1 when one is missed): store get+save <= 1.3x raw GET + SET EX on the
cluster (wall time, median of paired batches); one round trip to load, one to save a changed session, none to
save an unchanged one — the single-server request path, kept on a cluster by the `{identifier}` hash tag.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.cluster import RedisCluster

import devstack
from bench.bench_sessions import (
    TARGET_RATIO,
    TTL,
    client_round_trips,
    odoo_session,
    paired_ratios,
    per_request,
    verdict,
)
from odoo_cloud.config import load_settings
from odoo_cloud.sessions import RedisSessionStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sessions-cluster-") as tmp, \
            devstack.RedisClusterServer(tmp, replicas=0) as server:
        raw = RedisCluster(host=server.host, port=server.port)
        store = RedisSessionStore.from_settings(load_settings({
            "ODOO_SESSION_REDIS_URL": server.url, "ODOO_SESSION_REDIS_CLUSTER": "1",
            "ODOO_SESSION_REDIS_PREFIX": "bench"}).sessions)
        session = store.new()
        session.update(odoo_session())
        store.save(session)
        sid = session.sid
        raw_key = "bench-raw:session:" + sid
        payload = json.dumps(odoo_session()).encode()
        raw.set(raw_key, payload, ex=TTL)
        print(f"Redis Cluster {server.version}: {server.masters} masters on 127.0.0.1; session JSON "
              f"{len(payload)} bytes; {args.requests} requests x {args.rounds} rounds")

        def ours(i: int) -> None:
            loaded = store.get(sid)
            loaded["last_activity"] = i  # a changed session: the save writes
            store.save(loaded)

        def ours_unchanged(i: int) -> None:
            store.save(store.get(sid))

        def raw_bytes(i: int) -> None:
            raw.set(raw_key, raw.get(raw_key), ex=TTL)

        def raw_get(i: int) -> None:
            raw.get(raw_key)

        paths = {"store get+save": ours, "raw GET+SET EX": raw_bytes,
                 "store get+unchanged save": ours_unchanged, "raw GET": raw_get}
        for fn in paths.values():  # warm-up: connections, slot map, script cache
            per_request(fn, 200)
        walls: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, fn in paths.items():
                walls[name].append(per_request(fn, args.requests)[0])
        medians = {name: statistics.median(values) for name, values in walls.items()}
        paired = paired_ratios(ours, raw_bytes, args.requests * args.rounds)
        measured = (("store get+save", ours), ("store get+unchanged save", ours_unchanged))
        round_trips = {name: client_round_trips(store, fn, 100) for name, fn in measured}
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs; "
              "compare ratios only)")
        for name, value in medians.items():
            print(f"{name:28} {value:9.1f} µs wall per request")
        unchanged = medians["store get+unchanged save"] / medians["raw GET"]
        print(f"ratio store get+unchanged save / raw GET = {unchanged:.2f}x")
        print(f"ratio store get+save / raw GET+SET EX, paired batches of 50 = wall {paired[0]:.2f}x, "
              f"client CPU {paired[1]:.2f}x (target <= {TARGET_RATIO}x)")
        print("round trips measured from the client: "
              + ", ".join(f"{name} {value:g}" for name, value in round_trips.items()))
        raw.close()
        store.connection.close()
    return verdict(paired[0], round_trips)


if __name__ == "__main__":
    sys.exit(main())
