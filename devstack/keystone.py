"""Keystone v3 (sqlite, fernet, in-memory cache) under gunicorn, and a second Swift proxy behind it.

Slow to start (~15 s, mostly keystone-manage), so the test suite starts it only on demand.
Provisioning follows a real deployment: a `service` project with a `swift` service user for authtoken
and s3token, an `object-store` endpoint in the catalog, and a `swiftproject`/`swiftuser` pair for
clients (role `member`, one of the proxy's operator_roles), plus EC2 credentials for its s3api.
"""

from __future__ import annotations

import getpass
import grp
import json
import os
import secrets
import subprocess
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

from ._base import Server
from ._process import ServerStartError, free_port, run_checked, spawn, tail, terminate, wait_ready
from .paths import dist_version, keystone_venv
from .swift import SwiftServer

KEYSTONE_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl authtoken s3api "
    "s3token keystoneauth copy slo dlo versioned_writes symlink proxy-logging proxy-server"
)

_APP_MODULE = """\
import sys
sys.argv = sys.argv[:1]  # oslo.config would parse gunicorn's arguments otherwise
from keystone.wsgi.api import application  # noqa: E402
"""


class KeystoneSwift(Server):
    """Keystone + a Keystone-authenticated Swift proxy sharing `swift`'s storage servers."""

    name = "keystone"
    region_name = "RegionOne"
    user_domain_name = "Default"
    project_domain_name = "Default"
    username = "swiftuser"
    project_name = "swiftproject"

    def __init__(self, base_dir: Path | str, swift: SwiftServer):
        super().__init__(base_dir)
        self.swift = swift
        self.keystone_port = free_port()
        self.proxy_port = free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self.admin_password = "admin-" + secrets.token_hex(8)
        self.service_password = "svc-" + secrets.token_hex(8)
        self.s3_access_key = "ec2-" + secrets.token_hex(8)
        self.s3_secret_key = secrets.token_hex(16)
        self.project_id: str | None = None
        self.conf = self.data_dir / "keystone.conf"
        self._gunicorn: subprocess.Popen | None = None
        self._proxy: subprocess.Popen | None = None

    # ------------------------------------------------------------------ contract attributes
    @property
    def keystone_url(self) -> str:
        return f"http://127.0.0.1:{self.keystone_port}"

    @property
    def auth_url(self) -> str:
        return f"{self.keystone_url}/v3"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def s3_endpoint_url(self) -> str:
        return self.proxy_url

    @property
    def storage_url(self) -> str:
        return f"{self.proxy_url}/v1/AUTH_{self.project_id}"

    @property
    def ports(self) -> dict[str, int]:
        return {"keystone": self.keystone_port, "swift_proxy": self.proxy_port}

    @property
    def version(self) -> str:
        return dist_version(keystone_venv(), "keystone")

    def log_files(self) -> list[Path]:
        return [self.log_path, self.swift.data_dir / "proxy-keystone.log"]

    # ------------------------------------------------------------------ keystone
    def _write_conf(self) -> None:
        d = self.data_dir
        self.conf.write_text(
            textwrap.dedent(f"""\
            [DEFAULT]
            use_stderr = true
            [database]
            connection = sqlite:///{d}/keystone.db
            [token]
            provider = fernet
            expiration = 86400
            [fernet_tokens]
            key_repository = {d}/fernet-keys
            [fernet_receipts]
            key_repository = {d}/fernet-receipts
            [credential]
            key_repository = {d}/credential-keys
            [cache]
            # without a cache every authentication costs ~400 ms
            enabled = true
            backend = dogpile.cache.memory
            """)
        )
        (d / "keystone_app.py").write_text(_APP_MODULE)

    def _manage_argv(self, *args: str) -> list:
        venv = keystone_venv()
        return [venv / "bin" / "python", venv / "bin" / "keystone-manage", "--config-file", self.conf, *args]

    def _bootstrap(self) -> None:
        marker = self.data_dir / "bootstrapped"
        if marker.exists():
            return
        user = getpass.getuser()
        group = grp.getgrgid(os.getgid()).gr_name
        # key repositories do not touch the database: create them while db_sync runs (saves ~4 s)
        side_jobs = [
            spawn(
                self._manage_argv(command, "--keystone-user", user, "--keystone-group", group),
                self.data_dir / f"{command}.log",
            )
            for command in ("fernet_setup", "credential_setup")
        ]
        run_checked(self._manage_argv("db_sync"), self.log_path, what="keystone-manage db_sync")
        for job, command in zip(side_jobs, ("fernet_setup", "credential_setup"), strict=True):
            if job.wait(60) != 0:
                log = self.data_dir / f"{command}.log"
                raise ServerStartError(f"keystone-manage {command} failed:\n{tail(log)}")
        run_checked(
            self._manage_argv(
                "bootstrap",
                "--bootstrap-password",
                self.admin_password,
                "--bootstrap-admin-url",
                self.auth_url,
                "--bootstrap-internal-url",
                self.auth_url,
                "--bootstrap-public-url",
                self.auth_url,
                "--bootstrap-region-id",
                self.region_name,
            ),
            self.log_path,
            what="keystone-manage bootstrap",
        )
        marker.write_text("ok\n")

    def _start_keystone(self) -> None:
        venv = keystone_venv()
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=str(self.conf))
        self._gunicorn = spawn(
            [
                venv / "bin" / "python",
                venv / "bin" / "gunicorn",
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{self.keystone_port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--chdir",
                self.data_dir,
                "keystone_app:application",
            ],
            self.log_path,
            env=env,
            cwd=self.data_dir,
        )

        def answers() -> bool:
            with urllib.request.urlopen(self.auth_url, timeout=2) as response:
                return response.status == 200

        wait_ready(
            "keystone", answers, procs=[self._gunicorn], log_path=self.log_path, timeout=90, interval=0.1
        )

    # ------------------------------------------------------------------ REST provisioning
    def _token(self, user: str, password: str, project: str) -> tuple[str, dict]:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
        _, headers, data = _http("POST", f"{self.auth_url}/auth/tokens", body=body)
        return headers["X-Subject-Token"], data

    def _api(self, token: str, method: str, path: str, body: dict | None = None) -> dict:
        return _http(method, f"{self.auth_url}{path}", body=body, headers={"X-Auth-Token": token})[2]

    def _find_or_create(self, token: str, collection: str, key: str, body: dict, name: str) -> str:
        found = self._api(token, "GET", f"/{collection}?name={name}")[collection]
        if found:
            return found[0]["id"]
        return self._api(token, "POST", f"/{collection}", {key: body})[key]["id"]

    def _provision(self) -> None:
        token, _ = self._token("admin", self.admin_password, "admin")
        roles = {r["name"]: r["id"] for r in self._api(token, "GET", "/roles")["roles"]}
        service_project = self._find_or_create(
            token, "projects", "project", {"name": "service", "domain_id": "default"}, "service"
        )
        self.project_id = self._find_or_create(
            token,
            "projects",
            "project",
            {"name": self.project_name, "domain_id": "default"},
            self.project_name,
        )
        service_user = self._find_or_create(
            token,
            "users",
            "user",
            {
                "name": "swift",
                "domain_id": "default",
                "password": self.service_password,
                "default_project_id": service_project,
            },
            "swift",
        )
        client_user = self._find_or_create(
            token,
            "users",
            "user",
            {
                "name": self.username,
                "domain_id": "default",
                "password": self.password,
                "default_project_id": self.project_id,
            },
            self.username,
        )
        self._api(token, "PUT", f"/projects/{service_project}/users/{service_user}/roles/{roles['admin']}")
        self._api(token, "PUT", f"/projects/{self.project_id}/users/{client_user}/roles/{roles['member']}")
        service = self._find_or_create(
            token, "services", "service", {"name": "swift", "type": "object-store"}, "swift"
        )
        if not self._api(token, "GET", f"/endpoints?service_id={service}")["endpoints"]:
            for interface in ("public", "internal", "admin"):
                self._api(
                    token,
                    "POST",
                    "/endpoints",
                    {
                        "endpoint": {
                            "service_id": service,
                            "interface": interface,
                            "region_id": self.region_name,
                            "url": f"{self.proxy_url}/v1/AUTH_$(project_id)s",
                        }
                    },
                )
        if not self._api(token, "GET", f"/credentials?user_id={client_user}&type=ec2")["credentials"]:
            self._api(
                token,
                "POST",
                "/credentials",
                {
                    "credential": {
                        "type": "ec2",
                        "user_id": client_user,
                        "project_id": self.project_id,
                        "blob": json.dumps({"access": self.s3_access_key, "secret": self.s3_secret_key}),
                    }
                },
            )

    # ------------------------------------------------------------------ the Keystone Swift proxy
    def _start_proxy(self) -> None:
        service_user = textwrap.dedent(f"""\
            auth_url = {self.auth_url}
            auth_type = password
            project_domain_id = default
            user_domain_id = default
            project_name = service
            username = swift
            password = {self.service_password}
            """)
        extra = (
            "\n[filter:authtoken]\n"
            "paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
            f"www_authenticate_uri = {self.auth_url}\n"
            "delay_auth_decision = True\n"
            # reuse the proxy's memcache client (keystonemiddleware's own needs python-memcached)
            "cache = swift.cache\n" + service_user + "\n[filter:s3token]\nuse = egg:swift#s3token\n"
            f"auth_uri = {self.auth_url}\n"
            + service_user
            + "\n[filter:keystoneauth]\nuse = egg:swift#keystoneauth\noperator_roles = admin, member\n"
        )
        self.swift.write_proxy_config("proxy-keystone", self.proxy_port, KEYSTONE_PIPELINE, extra)
        self._proxy = self.swift.start_proxy("proxy-keystone", self.proxy_port)

        def round_trip() -> bool:
            token, _ = self._token(self.username, self.password, self.project_name)
            status = _http("PUT", f"{self.storage_url}/devstack-ready", headers={"X-Auth-Token": token})[0]
            return status in (201, 202)

        wait_ready(
            "keystone swift proxy",
            round_trip,
            procs=[self._proxy, self._gunicorn],
            log_path=self.swift.data_dir / "proxy-keystone.log",
            timeout=30,
            interval=0.2,
        )

    def _start(self) -> None:
        if not self.swift.running:
            self.swift.start()
        self._write_conf()
        self._bootstrap()
        self._start_keystone()
        self._provision()
        self._start_proxy()

    def _stop(self) -> None:
        terminate(self._proxy)
        terminate(self._gunicorn)
        self._proxy = self._gunicorn = None


def _http(method: str, url: str, *, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, response.headers, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise RuntimeError(f"{method} {url} -> HTTP {exc.code}: {detail}") from None
