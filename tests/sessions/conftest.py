"""Stores on the session-scoped real redis-server, one key prefix per test."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from devstack._process import free_port, spawn, terminate, wait_ready
from devstack.paths import system_bin
from odoo_cloud.config import load_settings
from odoo_cloud.sessions import RedisSessionStore


def settings_for(url: str, prefix: str, **extra: str):
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": url, "ODOO_SESSION_REDIS_PREFIX": prefix}
    environ.update(extra)
    return load_settings(environ).sessions


@pytest.fixture
def make_store(redis_server, unique_prefix):
    """make_store(prefix=None, **env) -> a store on redis_server under a prefix unique to this test."""
    made = []

    def make(prefix: str | None = None, url: str | None = None, clock=None,
             **extra: str) -> RedisSessionStore:
        settings = settings_for(url or redis_server.url, prefix or unique_prefix, **extra)
        store = RedisSessionStore.from_settings(settings, **({"clock": clock} if clock else {}))
        made.append(store)
        return store

    yield make
    for store in made:
        store.connection.close()


@pytest.fixture
def store(make_store):
    return make_store()


@pytest.fixture
def raw(redis_server):
    """A plain redis-py client on the same server, to look at what the store wrote."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


class CommandCounter:
    """Counts commands the server executed (INFO commandstats), i.e. what really crossed the wire."""

    #: the counter's own commands, and what the session-scoped redis-sentinel sends the master every second
    #: or two once test_outage_and_connection started it (the store never sends any of these)
    IGNORED = {"info", "config|resetstat", "config", "ping", "publish", "subscribe", "client|setname",
               "role", "replconf"}

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def reset(self) -> None:
        self.client.config_resetstat()

    def counts(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        found = {}
        for name, values in stats.items():
            command = name[len("cmdstat_"):]
            if command not in self.IGNORED:
                found[command] = values["calls"]
        return found

    def total(self) -> int:
        return sum(self.counts().values())


@pytest.fixture
def commands(raw):
    counter = CommandCounter(raw)
    counter.reset()
    return counter


# ------------------------------------------------------------------------------------------- TLS
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def redis_tls_server(devstack_dir):
    """redis-server with TLS only (self-signed CA + server cert for 127.0.0.1): (url, ca_path)."""
    directory = Path(devstack_dir) / "redis-tls"
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "san.cnf", "-out", "server.crt", cwd=directory)
    port = free_port()
    log = directory / "redis-tls.log"
    proc = spawn([system_bin("redis-server"), "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
                  "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
                  "--tls-ca-cert-file", "ca.crt",
                  "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(directory)],
                 log, cwd=directory)
    ca = directory / "ca.crt"

    def ready() -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(ca), socket_timeout=1)
        try:
            return client.ping()
        finally:
            client.close()

    try:
        wait_ready("redis-tls", ready, procs=[proc], log_path=log, timeout=15)
        yield f"rediss://127.0.0.1:{port}/0", ca
    finally:
        terminate(proc)


# ------------------------------------------------------------------------------------------- Sentinel
@pytest.fixture(scope="session")
def redis_sentinel(devstack_dir, redis_server):
    """A real redis-sentinel monitoring redis_server as master 'sessions-master': (host, port)."""
    directory = Path(devstack_dir) / "redis-sentinel"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {directory}\n"
        f"sentinel monitor sessions-master {redis_server.host} {redis_server.port} 1\n"
        "sentinel down-after-milliseconds sessions-master 60000\n"
    )
    log = directory / "sentinel.log"
    proc = spawn([system_bin("redis-server"), str(conf), "--sentinel"], log, cwd=directory)

    def ready() -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        try:
            master = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "sessions-master")
            return master is not None
        finally:
            client.close()

    try:
        wait_ready("redis-sentinel", ready, procs=[proc], log_path=log, timeout=15)
        yield "127.0.0.1", port
    finally:
        terminate(proc)
