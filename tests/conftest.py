"""Session-scoped real servers for the core test suite (built on devstack/).

Every server listens on a free 127.0.0.1 port, keeps its data and log under one temporary directory,
and is stopped at the end of the session (and on Ctrl-C/SIGTERM: atexit + process groups). Keystone is
slow (~10 s) and starts only when a test asks for `keystone_swift`.

Tests simulate outages with `server.stop()` ... `server.start()` (same port, same data) or
`with server.outage(): ...`; a server a test left stopped is restarted before the next test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# devstack lives at the repository root, next to tests/: importable however pytest was launched
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import devstack
from devstack._process import tail

_STARTED: list = []  # servers of this session, in start order
_READY_LINES: list[str] = []


# ---------------------------------------------------------------------------- reporting
def pytest_configure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def announce(line: str) -> None:
        # readiness lines reach the terminal even while pytest captures output (no -s needed)
        _READY_LINES.append(line)
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.ensure_newline()
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    devstack.set_announcer(announce)
    # SIGTERM/SIGHUP behave like Ctrl-C: fixtures tear down, servers stop
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_terminal_summary(terminalreporter) -> None:
    if _READY_LINES:
        terminalreporter.section("devstack servers")
        for line in _READY_LINES:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the logs of the servers a failing test used to its report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    values = getattr(item, "funcargs", {}).values()
    used = [server for server in _STARTED if any(value is server for value in values)]
    for server in used:
        for log in server.log_files():
            report.sections.append((f"{server.name} log: {log}", tail(log, 30)))


# ---------------------------------------------------------------------------- servers
@pytest.fixture(scope="session")
def devstack_dir(request) -> Path:
    """One directory for every server's data and logs; kept when tests failed (for post-mortem)."""
    path = Path(tempfile.mkdtemp(prefix="odoo-cloud-tests-"))
    yield path
    devstack.stop_all()
    if request.session.testsfailed or os.environ.get("DEVSTACK_KEEP"):
        print(f"\ndevstack data and logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


def _serve(server):
    _STARTED.append(server)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _restart_servers_left_down():
    """A test that stopped a server and failed before restarting it must not break the next tests."""
    yield
    for server in _STARTED:
        if not server.running:
            server.start()


@pytest.fixture(scope="session")
def redis_server(devstack_dir):
    """redis-server without password: host, port, url, stop(), start()."""
    yield from _serve(devstack.RedisServer(devstack_dir))


@pytest.fixture(scope="session")
def redis_server_password(devstack_dir):
    """A second redis-server with requirepass: host, port, password, url (password in the URL)."""
    yield from _serve(
        devstack.RedisServer(devstack_dir, password="redis-" + uuid.uuid4().hex[:16], name="redis-auth")
    )


@pytest.fixture(scope="session")
def redis_cluster(devstack_dir):
    """A real Redis Cluster: 3 masters with one replica each, node timeout 1 s (a failover takes ~2-3 s).
    Tests that kill a node restart it (restart_node + wait_healthy) before they end."""
    yield from _serve(devstack.RedisClusterServer(devstack_dir))


@pytest.fixture(scope="session")
def s3_server(devstack_dir):
    """SeaweedFS `weed mini`: endpoint_url, region, access_key, secret_key, stop(), start(), client()."""
    yield from _serve(devstack.SeaweedFSServer(devstack_dir))


@pytest.fixture(scope="session")
def swift_server(devstack_dir):
    """Swift SAIO with tempauth: auth_url (v1), user, key, proxy_url, s3_endpoint_url/access/secret."""
    yield from _serve(devstack.SwiftServer(devstack_dir))


@pytest.fixture(scope="session")
def keystone_swift(devstack_dir, swift_server):
    """Keystone v3 + a second Swift proxy behind it: auth_url (.../v3), username, password,
    project_name, user_domain_name, project_domain_name, region_name; also proxy_url, storage_url and
    s3_endpoint_url/s3_access_key/s3_secret_key (EC2 credentials through s3token)."""
    yield from _serve(devstack.KeystoneSwift(devstack_dir, swift_server))


@pytest.fixture(scope="session")
def statsd_listener():
    """UDP listener: host, port, packets(timeout=...) -> list[str], clear()."""
    listener = devstack.StatsdListener()
    yield from _serve(listener)


@pytest.fixture(scope="session")
def postgres_server(devstack_dir):
    """Throwaway PostgreSQL 15 cluster: host, port, user, dsn(dbname), create_database(name) -> dsn."""
    yield from _serve(devstack.PostgresServer(devstack_dir))


@pytest.fixture(scope="session")
def odoo_databases(postgres_server, tmp_path_factory):
    """Odoo test databases: `base` + `web` initialised once per series, copied per test with
    `odoo_databases.copy(odoo_install, data_dir, install=[...])` (devstack/odoo_db.py)."""
    from devstack.odoo_db import OdooDatabases

    databases = OdooDatabases(postgres_server, tmp_path_factory.mktemp("odoo-templates"))
    yield databases
    databases.close()


_ODOO_SERIES_NEEDED = pytest.StashKey[list]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """The Odoo series whose template database the selected tests will ask for: the series parameter of
    a test using `odoo_databases` (18.0 for the tests of Odoo 18 only, which have none)."""
    from devstack.odoo import SUPPORTED_SERIES

    needed: set[str] = set()
    for item in session.items:
        if "odoo_databases" in getattr(item, "fixturenames", ()):
            params = getattr(getattr(item, "callspec", None), "params", {})
            named = {value for value in params.values() if value in SUPPORTED_SERIES}
            needed |= named or {"18.0"}
    session.config.stash[_ODOO_SERIES_NEEDED] = sorted(needed)


@pytest.fixture(scope="session", autouse=True)
def _odoo_templates_in_background(request):
    """When selected tests need Odoo databases, their templates are initialised from the first test on,
    in the background: 15-30 s per series that overlap with the tests running before the first Odoo one."""
    needed = request.config.stash.get(_ODOO_SERIES_NEEDED, [])
    if needed:
        from devstack.odoo_db import odoo_install

        installs = [odoo for odoo, _ in map(odoo_install, needed) if odoo is not None]
        request.getfixturevalue("odoo_databases").prepare(installs)


@pytest.fixture
def unique_prefix(request) -> str:
    """Unique, lowercase, DNS-safe (valid as an S3 bucket name) string for keys/buckets/containers."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:24].strip("-")
    return f"t-{name}-{uuid.uuid4().hex[:8]}"
