#!/usr/bin/env python3
"""Per-request overhead of the statsd middleware, of the Prometheus one (multiprocess mode, files in a
temporary directory) and of logging_json's request-id wrapper, in µs.

The same minimal WSGI application (a class with ``__call__``, like ``odoo.http.Application``) is called
with and without our wrappers, rounds interleaved, CPU time of this thread, medians; the metrics go to a
real UDP listener (devstack's StatsdListener) that reads every datagram. Targets (issues 6 and 11):
< 20 µs each for statsd (with the daemon listening and with no daemon at all: a closed port, what tests
only assert as "never blocks") and for Prometheus. Exit status 1 when a target is missed.

    .venv/bin/python bench/bench_metrics.py [--requests 20000] [--rounds 7]
"""
from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import devstack
from odoo_cloud import logs, prometheus
from odoo_cloud.metrics import Metrics, wrap_wsgi_call

ENVIRON = {"REQUEST_METHOD": "POST", "PATH_INFO": "/web/dataset/call_kw/res.partner/web_search_read",
           "HTTP_X_REQUEST_ID": "bench-request-0001"}
BUTTON_ENVIRON = {"REQUEST_METHOD": "POST", "PATH_INFO": "/web/dataset/call_button",
                  "HTTP_X_REQUEST_ID": "bench-request-0002"}
HEADERS = [("Content-Type", "application/json"), ("Content-Length", "1234")]


class Application:
    def __call__(self, environ, start_response):
        start_response("200 OK", HEADERS)
        return [b"{}"]


def _start_response(status, headers, exc_info=None):
    return None


def statsd_app(metrics: Metrics, sql_figures) -> Application:
    class Statsd(Application):
        __call__ = wrap_wsgi_call(Application.__call__, lambda: metrics, sql_figures=sql_figures,
                                  button_params=lambda: ("sale.order", "action_confirm"))

    return Statsd()


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def build(metrics: Metrics, no_daemon: Metrics,
          prometheus_metrics: prometheus.PrometheusMetrics) -> dict[str, Application]:
    thread = threading.current_thread()
    thread.query_count, thread.query_time = 17, 0.0123

    def sql_figures():
        current = threading.current_thread()
        return getattr(current, "query_count", None), getattr(current, "query_time", None)

    statsd = statsd_app(metrics, sql_figures)

    class RequestId(Application):
        __call__ = logs.wrap_wsgi_call(Application.__call__)

    class Both(Application):
        __call__ = logs.wrap_wsgi_call(type(statsd).__call__)

    class Prometheus(Application):
        __call__ = prometheus.wrap_wsgi_call(Application.__call__, lambda: prometheus_metrics,
                                             sql_figures=sql_figures)

    return {"bare": Application(), "statsd": statsd, "request-id": RequestId(), "both": Both(),
            "statsd, no daemon": statsd_app(no_daemon, sql_figures), "prometheus": Prometheus()}


def per_request(app: Application, environ: dict, count: int) -> float:
    start = time.thread_time()
    for _ in range(count):
        app(environ, _start_response)
    return (time.thread_time() - start) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    listener = devstack.StatsdListener().start()
    metrics = Metrics("bench", "prod", host=listener.host, port=listener.port)
    no_daemon = Metrics("bench", "prod", host="127.0.0.1", port=closed_port())
    directory = prometheus.prepare_directory(tempfile.mkdtemp(prefix="bench-prometheus-"), owner=True)
    apps = build(metrics, no_daemon, prometheus.PrometheusMetrics())
    cases = [(name, app, ENVIRON) for name, app in apps.items()] + [("statsd, call_button", apps["statsd"],
                                                                     BUTTON_ENVIRON)]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    try:
        for _ in range(args.rounds):
            for name, app, environ in cases:
                samples[name].append(per_request(app, environ, args.requests))
        time.sleep(0.3)
        received = len(listener.packets(timeout=1))
    finally:
        listener.stop()
        shutil.rmtree(directory, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = medians["bare"]
    print(f"python {sys.version.split()[0]}, {args.requests} requests x {args.rounds} interleaved rounds "
          "(median of CPU time per request)")
    for name, value in medians.items():
        extra = "" if name == "bare" else f"   overhead {value - bare:6.2f} us"
        print(f"  {name:<22} {value:7.2f} us/request{extra}")
    overhead = medians["statsd"] - bare
    no_daemon_overhead = medians["statsd, no daemon"] - bare
    print(f"statsd middleware overhead: {overhead:.2f} us/request (target < 20"
          f"{'' if overhead < 20 else ', MISSED'}); "
          f"no daemon listening: {no_daemon_overhead:.2f} us/request (target < 20"
          f"{'' if no_daemon_overhead < 20 else ', MISSED'}); "
          f"call_button: {medians['statsd, call_button'] - bare:.2f} us; "
          f"request-id wrapper: {medians['request-id'] - bare:.2f} us")
    prometheus_overhead = medians["prometheus"] - bare
    print(f"prometheus middleware overhead: {prometheus_overhead:.2f} us/request (target < 20"
          f"{'' if prometheus_overhead < 20 else ', MISSED'}; "
          f"{prometheus_overhead / overhead if overhead > 0 else float('nan'):.2f}x the statsd figure)")
    sent = args.rounds * args.requests * 3  # statsd, both, button cases: one datagram each
    print(f"listener received {received} metric lines from {sent} datagrams of 4 lines "
          f"(loopback UDP may drop under this burst; requests never wait for it)")
    print("sample datagram lines:", listener.packets(timeout=0)[:4])
    met = overhead < 20 and no_daemon_overhead < 20 and prometheus_overhead < 20
    print("targets: " + ("all met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
