"""Debian's HAProxy in front of the Odoo front-ends: a generated config, the binary run in the foreground.

Round robin without stickiness — consecutive requests of one user land on different front-ends, so a
session store that is not shared shows at once. Each front-end is health-checked with `health_path`
(default: the readiness endpoint `/web/health/ready` of monitoring_readiness), sent as HTTP/1.1 with
a Host header: a front-end whose Redis or bucket is unreachable leaves the rotation, a killed one too,
and comes back after two passing checks.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devstack._base import Server
from devstack._process import free_port, port_open, spawn, terminate, wait_ready


def haproxy_binary() -> str | None:
    """Path of `haproxy` (Debian installs it in /usr/sbin, not always on a user's PATH), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def haproxy_config(port: int, backends: list[tuple[str, int]], health_path: str = "/web/health/ready") -> str:
    """The configuration text: one frontend on 127.0.0.1:`port`, one roundrobin backend of `backends`."""
    servers = "".join(f"    server {name} 127.0.0.1:{backend_port} check\n"
                      for name, backend_port in backends)
    return f"""global
    maxconn 1024

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    # a request whose connection was refused (front-end just killed) is retried once on another server
    retries 2
    option redispatch

frontend odoo_in
    bind 127.0.0.1:{port}
    default_backend odoo_front_ends

backend odoo_front_ends
    balance roundrobin
    # HTTP/1.1 with a Host header: Odoo's own /web/health answers a bare HTTP/1.0 probe (HAProxy's
    # default) with a 500, KeyError 'HTTP_HOST' (the readiness endpoint does not care)
    option httpchk
    http-check send meth GET uri {health_path} ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    # the probe is served by the same prefork workers as the users: under load it waits for a free
    # worker, so a 1 s check timeout takes every busy front-end out at once (measured: all 503)
    timeout check 5s
    default-server inter 2s fall 3 rise 2
{servers}"""


def check_config(path: Path) -> tuple[bool, str]:
    """`haproxy -c -f path`: (valid, its output)."""
    binary = haproxy_binary()
    if binary is None:
        return False, "haproxy not installed (Debian package `haproxy`)"
    result = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


class HAProxyServer(Server):
    """HAProxy balancing `backends` ([(name, port)]) on a free loopback port."""

    name = "haproxy"

    def __init__(self, base_dir: Path | str, backends: list[tuple[str, int]],
                 health_path: str = "/web/health/ready"):
        super().__init__(base_dir)
        self.port = free_port()
        self.config_path = self.data_dir / "haproxy.cfg"
        self.config_path.write_text(haproxy_config(self.port, backends, health_path))
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.port}

    @property
    def version(self) -> str:
        out = subprocess.run([haproxy_binary() or "haproxy", "-v"], capture_output=True, text=True,
                             check=False).stdout
        words = out.split()
        return words[2] if len(words) > 2 else out.strip()

    def _start(self) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy not installed (Debian package `haproxy`)")
        ok, output = check_config(self.config_path)
        if not ok:
            raise RuntimeError(f"invalid HAProxy config {self.config_path}: {output}")
        # -db: stay in the foreground, so the process is ours and dies with its group
        self._proc = spawn([binary, "-db", "-f", str(self.config_path)], self.log_path)
        wait_ready(self.name, lambda: port_open(self.port), procs=[self._proc], log_path=self.log_path,
                   timeout=10)

    def _stop(self) -> None:
        terminate(self._proc)
        self._proc = None
