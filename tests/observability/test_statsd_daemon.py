"""Our datagrams read by the reference statsd daemon (Etsy's, npm `statsd` 0.9): no bad line, every
metric kept with the type we meant. Skipped, with the reason, when node or the daemon is not installed
(`npm install --prefix .devstack/statsd-npm statsd@0.9.0`)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from devstack._process import free_port
from odoo_cloud import instrumentation
from odoo_cloud.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DAEMON = Path(os.environ.get("STATSD_DAEMON_JS", ROOT / ".devstack/statsd-npm/node_modules/statsd/stats.js"))


class StatsdDaemon:
    def __init__(self, workdir: Path):
        self.port, self.mgmt_port = free_port(socket.SOCK_DGRAM), free_port()
        self.config = workdir / "statsd-config.js"
        # flushes far apart: the management interface shows what was received since start
        self.config.write_text(
            f"{{ port: {self.port}, address: '127.0.0.1', mgmt_port: {self.mgmt_port}, "
            "mgmt_address: '127.0.0.1', flushInterval: 600000, backends: ['./backends/console'], "
            "dumpMessages: false }\n")
        self.log = workdir / "statsd.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([shutil.which("node"), str(DAEMON), str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT, cwd=DAEMON.parent)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "statsd daemon exited:\n" + self.log.read_text()
            try:
                if "health: up" in self.command("health"):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("statsd daemon not ready in 20 s:\n" + self.log.read_text())

    def command(self, name: str) -> str:
        with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=2) as sock:
            sock.sendall(name.encode() + b"\n")
            data = b""
            while not data.endswith((b"END\n\n", b"health: up\n", b"health: down\n")):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def statsd_daemon(tmp_path_factory):
    if shutil.which("node") is None or not DAEMON.is_file():
        pytest.skip(f"reference statsd daemon not available (node: {shutil.which('node')}, "
                    f"{DAEMON} missing): npm install --prefix .devstack/statsd-npm statsd@0.9.0")
    daemon = StatsdDaemon(tmp_path_factory.mktemp("statsd-daemon"))
    daemon.start()
    yield daemon
    daemon.stop()


def test_the_reference_daemon_accepts_every_metric(statsd_daemon):
    customer = "d" + uuid.uuid4().hex[:8]
    metrics = Metrics(customer, "prod", host="127.0.0.1", port=statsd_daemon.port)
    metrics.request_finished(0.0421, 200, sql_count=17, sql_seconds=0.0123)
    metrics.request_finished(0.2, 404, button=("sale.order", "action_confirm"))
    metrics.rpc_finished("res.partner", "search_read", 0.002)
    instrumentation.subscribe(metrics.observe)
    try:
        with instrumentation.operation("storage.s3.put") as op:
            op.nbytes = 4096
        with pytest.raises(TimeoutError), instrumentation.operation("sessions.get"):
            raise TimeoutError("redis")
    finally:
        instrumentation.unsubscribe(metrics.observe)
    metrics.close()
    scope = f"{customer}.prod"
    expected_timers = {f"odoo.http.request.{scope}": "42.1", f"odoo.http.sql_count.{scope}": "17",
                       f"odoo.http.sql_time.{scope}": "12.3",
                       f"odoo.http.button.{scope}.sale_order.action_confirm": "200",
                       f"odoo.rpc.{scope}.res_partner.search_read": "2"}
    expected_counters = {f"odoo.http.status.{scope}.2xx": "1", f"odoo.http.status.{scope}.4xx": "1",
                         f"odoo.storage.{scope}.s3.put.bytes": "4096",
                         f"odoo.sessions.{scope}.get.errors": "1"}
    deadline = time.monotonic() + 5
    while True:
        timers, counters = statsd_daemon.command("timers"), statsd_daemon.command("counters")
        if all(name in timers for name in expected_timers) and all(
                name in counters for name in expected_counters):
            break
        assert time.monotonic() < deadline, f"daemon did not see our metrics:\n{timers}\n{counters}"
        time.sleep(0.1)
    for name, value in expected_timers.items():
        assert re.search(rf"'{re.escape(name)}': \[ {re.escape(value)} \]", timers), (name, timers)
    for name, value in expected_counters.items():
        assert re.search(rf"'{re.escape(name)}': {value}\b", counters), (name, counters)
    for name in (f"odoo.storage.{scope}.s3.put", f"odoo.sessions.{scope}.get"):
        assert f"'{name}': [" in timers
    stats = statsd_daemon.command("stats")
    assert re.search(r"^messages\.bad_lines_seen: 0$", stats, re.MULTILINE), stats
