"""A Redis password never shows, whatever the shape of the URL that carries it (real Redis, real CLI).

redis-py takes the password from the userinfo (``redis://:pw@host``, also ``user:p@ss@host``) and from
the query string (``redis://host/0?password=pw``, ``unix:///sock?password=pw``). Each shape is used for
real: `odoo-cloud check --connect` (text and JSON) against a password-protected Redis, the same after
the Redis is stopped (the failure names the store), the session store's "unavailable" error (what the
Odoo glue logs with its 503), and `odoo-cloud check` on URLs broken in ways that make it quote them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from devstack._process import spawn, terminate, wait_ready
from devstack.paths import system_bin
from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.sessions import RedisSessionStore, SessionStoreUnavailable

from .conftest import settings_for

REPO = Path(__file__).resolve().parents[2]


def run_check(url: str, *args: str) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUNNING_ENV": "dev",
               "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": url,
               "ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "1", "ODOO_SESSION_REDIS_TIMEOUT": "1"}
    return subprocess.run([sys.executable, "-m", "odoo_cloud.cli", "check", "--env", "dev", *args],
                          env=environ, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def assert_never_shown(result: subprocess.CompletedProcess, *secrets: str) -> str:
    output = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in output, output
    return output


@pytest.fixture
def at_sign_user(redis_server_password):
    """An ACL user whose password contains '@' (valid unencoded in a redis-py URL: the last '@' wins)."""
    password = "p@ss-" + uuid.uuid4().hex[:12]
    admin = redis.Redis.from_url(redis_server_password.url)
    admin.acl_setuser("masker", enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
    admin.close()
    return "masker", password


def _shapes(server, at_sign_user):
    host, port, password = server.host, server.port, server.password
    user, at_password = at_sign_user
    return {
        "query password": (f"redis://{host}:{port}/0?password={password}", password),
        "query password, more args": (f"redis://{host}:{port}/0?db=0&password={password}&socket_timeout=1",
                                      password),
        "userinfo": (f"redis://:{password}@{host}:{port}/0", password),
        "user and '@' in password": (f"redis://{user}:{at_password}@{host}:{port}/0", at_password),
    }


@pytest.mark.parametrize("shape", ["query password", "query password, more args", "userinfo",
                                   "user and '@' in password"])
def test_check_connect_never_prints_the_password(redis_server_password, at_sign_user, shape):
    url, password = _shapes(redis_server_password, at_sign_user)[shape]
    parts = [password, *(part for part in password.split("@") if len(part) > 4)]  # nor a part of it

    ok = run_check(url, "--connect")
    output = assert_never_shown(ok, *parts)
    assert ok.returncode == 0, output
    assert "connect redis: ok" in output and "****" in output
    as_json = run_check(url, "--connect", "--json")
    assert as_json.returncode == 0 and '"ok": true' in as_json.stdout
    assert_never_shown(as_json, *parts)

    # the same store, stopped: the failure names it, without the password
    store = RedisSessionStore.from_settings(settings_for(url, f"mask-{uuid.uuid4().hex[:8]}"))
    session = store.new()
    session["uid"] = 2
    store.save(session)
    redis_server_password.stop()
    try:
        failed = run_check(url, "--connect")
        output = assert_never_shown(failed, *parts)
        assert failed.returncode == 3 and "connect redis: FAILED" in output, output
        with pytest.raises(SessionStoreUnavailable) as info:
            store.get(session.sid)
        message = str(info.value)
        assert "****" in message and all(part not in message for part in parts), message
    finally:
        redis_server_password.start()
        store.connection.close()


def test_unix_socket_with_a_password_in_the_query(tmp_path):
    password = "unix-" + uuid.uuid4().hex[:16]
    socket_path = tmp_path / "redis.sock"
    log = tmp_path / "redis-unix.log"
    proc = spawn([system_bin("redis-server"), "--port", "0", "--unixsocket", str(socket_path),
                  "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", str(tmp_path)], log)
    try:
        wait_ready("redis-unix", socket_path.exists, procs=[proc], log_path=log, timeout=15)
        url = f"unix://{socket_path}?db=1&password={password}"
        ok = run_check(url, "--connect")
        assert ok.returncode == 0, assert_never_shown(ok, password)
        assert f"unix://{socket_path}?db=1&password=****" in assert_never_shown(ok, password)
        store = RedisSessionStore.from_settings(settings_for(url, "unix-mask"))
        store.save(store.new())
    finally:
        terminate(proc)
    failed = run_check(url, "--connect")
    assert failed.returncode == 3
    assert_never_shown(failed, password)
    with pytest.raises(SessionStoreUnavailable) as info:
        store.get(store.new().sid)
    assert password not in str(info.value)
    store.connection.close()


def test_rediss_to_a_plain_port_fails_without_showing_the_password(redis_server_password):
    password = redis_server_password.password
    server = redis_server_password
    for url in (f"rediss://:{password}@{server.host}:{server.port}/0",
                f"rediss://{server.host}:{server.port}/0?password={password}"):
        failed = run_check(url, "--connect")
        assert failed.returncode == 3, failed
        assert_never_shown(failed, password)


@pytest.mark.parametrize("url", [
    "redis:///0?password={s}",                 # no host
    "redis://:{s}@",                           # no host after the userinfo
    "redis://:{s}@localhost:notaport/0",       # bad port
    "http://:{s}@localhost:6379/0",            # wrong scheme
    "unix:relative.sock?password={s}",         # not an absolute socket path
    "redis://:pa/ss{s}@localhost:6379/0",      # unencoded '/' in the password
    "redis://:pa#ss{s}@localhost:6379/0",      # unencoded '#' in the password
])
def test_config_errors_quote_the_url_without_its_password(url):
    secret = "cfg" + uuid.uuid4().hex[:16]
    url = url.format(s=secret)
    result = run_check(url)
    output = assert_never_shown(result, secret)
    assert result.returncode == 1 and "PROBLEM ODOO_SESSION_REDIS_URL=" in output, output
    with pytest.raises(ConfigError) as info:
        load_settings({"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": url})
    assert secret not in str(info.value) and "ODOO_SESSION_REDIS_URL" in str(info.value)


def test_a_url_in_the_host_variable_is_masked_too():
    secret = "host" + uuid.uuid4().hex[:16]
    result = run_check("redis://localhost:1/0")  # valid URL, so the host variable decides the probe
    assert result.returncode == 0
    environ = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": f"redis://:{secret}@h",
               "ODOO_SESSION_REDIS_PORT": "notaport"}
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert secret not in str(info.value)
    settings = load_settings({"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": f"redis://:{secret}@h"})
    assert secret not in settings.sessions.display_url
