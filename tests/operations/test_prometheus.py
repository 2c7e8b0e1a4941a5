"""Prometheus multiprocess exposition of the core, with real forked processes (no Odoo needed).

The prefork shape without Odoo: an owner process serving the listener, workers forked from it that
record and exit, the owner folding each exited worker's files. What a scraper reads over HTTP must add
up over every worker and never go back, and the directory must not keep one file set per dead worker.
The whole scenario runs in a subprocess: prometheus_client picks its value class once per process.
"""
from __future__ import annotations

import itertools
import json
import random
import re
import string
import subprocess
import sys

from devstack._process import free_port
from odoo_cloud.instrumentation import Operation
from odoo_cloud.prometheus import MAX_OPERATIONS, ROUTE_TYPES, PrometheusMetrics, method_label, route_type

SCENARIO = r'''
import json, os, re, sys, threading, time, urllib.request
from odoo_cloud.instrumentation import Operation
from odoo_cloud.prometheus import Exporter, PrometheusMetrics, prepare_directory

directory, port = sys.argv[1], int(sys.argv[2])
open(os.path.join(directory, "counter_999999.db"), "wb").close()  # a stale file of a previous run
directory = prepare_directory(directory, owner=True)
metrics = PrometheusMetrics()
exporter = Exporter(directory, port, "127.0.0.1")
exporter.start()
COUNT = re.compile(r'^odoo_http_request_duration_seconds_count\{method="GET",route_type="other",'
                   r'status_class="2xx"\} (\S+)$', re.M)  # multiprocess output: labels sorted by name

def scrape():
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    match = COUNT.search(text)
    return (float(match.group(1)) if match else 0.0), text

observed, stop = [], threading.Event()

def scraper():
    while not stop.is_set():
        observed.append(scrape()[0])

thread = threading.Thread(target=scraper)
thread.start()
after_each, dead = [], []
for generation in range(4):
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            for _ in range(25):
                metrics.request_finished("other", "GET", 200, 0.02, sql_count=3, sql_seconds=0.001)
            metrics.observe(Operation("storage.s3.get", 0.002, True, 100))
            metrics.observe(Operation("sessions.save", 0.001, False, 0, "ConnectionError"))
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
        exporter.process_exited(pid)
        dead.append(pid)
    after_each.append(scrape()[0])
stop.set()
thread.join()
value, text = scrape()
files = sorted(os.listdir(directory))
print(json.dumps({"after_each": after_each, "observed": observed, "text": text, "files": files,
                  "dead": dead}))
'''


_SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-z_]+)="([^"]*)"')


def samples(text: str) -> dict:
    """{(name, sorted label pairs): value} of an exposition text."""
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            found[match[1], tuple(sorted(_LABEL.findall(match[2] or "")))] = float(match[3])
    return found


def test_counts_add_up_over_recycled_workers_and_never_go_back(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path), str(free_port())],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.splitlines()[-1])
    assert data["after_each"] == [50.0, 100.0, 150.0, 200.0]
    observed = data["observed"]
    assert observed and all(a <= b for a, b in itertools.pairwise(observed)), observed
    values = samples(data["text"])
    assert values["odoo_storage_operation_duration_seconds_count", (
        ("backend", "s3"), ("operation", "get"), ("outcome", "ok"))] == 8
    assert values["odoo_storage_transferred_bytes_total", (("backend", "s3"), ("operation", "get"))] == 800
    assert values["odoo_session_store_operation_duration_seconds_count", (
        ("operation", "save"), ("outcome", "error"))] == 8
    assert values["odoo_http_sql_queries_total", (("route_type", "other"),)] == 600
    labels = (("le", "0.025"), ("method", "GET"), ("route_type", "other"), ("status_class", "2xx"))
    assert values["odoo_http_request_duration_seconds_bucket", labels] == 200
    # the stale file was wiped; the dead workers' files were folded into one archive per type
    files = data["files"]
    assert "counter_999999.db" not in files
    assert {"counter_archive.db", "histogram_archive.db"} <= set(files)
    assert not [name for name in files if any(name.endswith(f"_{pid}.db") for pid in data["dead"])], files


def test_label_values_are_bounded_whatever_the_request():
    rng = random.Random(11)
    paths = ["/" + "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 300)))
             for _ in range(2000)]
    paths += ["/web/static/x.js", "/web/image/1", "/web/dataset/call_kw/a", "/web/dataset/call_button",
              "/xmlrpc/2/object", "/websocket", "/web/health", "/web/health/ready", "/web/assets/1/x.css",
              "/json/2/res.partner/search", "/odoo/action-1", "/" + "a/" * 100000]
    assert {route_type(path) for path in paths} <= set(ROUTE_TYPES)
    assert route_type("/web/health/ready") == "health" and route_type("/web/healthcheck") == "other"
    assert route_type("/website_sale/static/src/x.js") == "static"
    assert route_type("/web/dataset/call_button") == "button" and route_type("/jsonrpc") == "rpc"
    assert {method_label(m) for m in ("GET", "get", "PROPFIND", "X" * 1000, "")} == {"GET", "other"}


def test_operation_labels_are_capped():
    metrics = PrometheusMetrics()
    for i in range(500):
        metrics.observe(Operation(f"storage.s3.op{i}", 0.001))
    labels = {tuple(sorted(sample.labels.items())) for family in metrics.storage_seconds.collect()
              for sample in family.samples if sample.name.endswith("_count")}
    assert len(labels) <= MAX_OPERATIONS + 1
    assert (("backend", "other"), ("operation", "other"), ("outcome", "ok")) in labels


def test_only_the_owner_empties_the_directory(tmp_path):
    """The serving process starts from an empty directory; a process joining it (Odoo's gevent process,
    a ``--stop-after-init`` run next to a live server) leaves the live processes' files alone."""
    (tmp_path / "counter_4242.db").write_bytes(b"")
    code = ("import os, sys; from odoo_cloud.prometheus import prepare_directory; "
            "print(prepare_directory(sys.argv[1], owner=sys.argv[2] == 'owner'), "
            "os.environ['PROMETHEUS_MULTIPROC_DIR'], sorted(os.listdir(sys.argv[1])))")
    joined = subprocess.run([sys.executable, "-c", code, str(tmp_path), "joiner"], capture_output=True,
                            text=True, timeout=60, check=True).stdout.split()
    assert joined == [str(tmp_path), str(tmp_path), "['counter_4242.db']"]
    owned = subprocess.run([sys.executable, "-c", code, str(tmp_path), "owner"], capture_output=True,
                           text=True, timeout=60, check=True).stdout.split()
    assert owned == [str(tmp_path), str(tmp_path), "[]"]
