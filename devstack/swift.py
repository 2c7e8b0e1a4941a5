"""OpenStack Swift all-in-one on directories: account/container/object servers, a tempauth proxy with
s3api (a second real S3), and memcached — all on free loopback ports.

Servers come from `.venvs/swift` (Swift pins conflict with ours). Other proxies (the Keystone one) can
be started against the same storage servers with start_proxy().
Keep object metadata small in tests: ext4 here holds ~3.5 KB of user xattrs per inode, and an object
with ~3.8 KB of metadata gets a 503 from the object server.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import textwrap
import urllib.request
from pathlib import Path

from ._base import Server
from ._process import free_port, port_open, run_checked, spawn, terminate, wait_ready
from .paths import dist_version, swift_venv, system_bin

STORAGE_SERVERS = ("account", "container", "object")
REGION = "us-east-1"

TEMPAUTH_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth "
    "copy slo dlo versioned_writes symlink proxy-logging proxy-server"
)

#: the proxy's middlewares (pipeline name -> egg entry point), and the options some of them take
_FILTERS = {
    "catch_errors": "catch_errors", "gatekeeper": "gatekeeper", "healthcheck": "healthcheck",
    "proxy-logging": "proxy_logging", "cache": "memcache", "listing_formats": "listing_formats",
    "bulk": "bulk", "tempurl": "tempurl", "s3api": "s3api", "copy": "copy", "slo": "slo", "dlo": "dlo",
    "versioned_writes": "versioned_writes", "symlink": "symlink",
}
_FILTER_OPTIONS = {"cache": "memcache_servers = 127.0.0.1:{memcached_port}\n",
                   "s3api": f"location = {REGION}\n"}

_COMMON_FILTERS = "\n" + "".join(
    f"[filter:{name}]\nuse = egg:swift#{egg}\n{_FILTER_OPTIONS.get(name, '')}\n"
    for name, egg in _FILTERS.items()
) + "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\nallow_account_management = true\n"

_RING_SCRIPT = """
import sys
from swift.common.ring import RingBuilder
swift_dir = sys.argv[1]
for name, port in zip(sys.argv[2::2], sys.argv[3::2]):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "replication_ip": "127.0.0.1", "replication_port": int(port),
                     "device": "sdb1", "weight": 100, "meta": ""})
    builder.rebalance()
    builder.save(f"{swift_dir}/{name}.builder")
    builder.get_ring().save(f"{swift_dir}/{name}.ring.gz")
"""


class SwiftServer(Server):
    name = "swift"
    region = REGION
    user = "test:tester"
    key = "testing"

    def __init__(self, base_dir: Path | str):
        super().__init__(base_dir)
        self.swift_dir = self.data_dir / "etc"
        self.devices = self.data_dir / "srv"
        self.storage_ports = {server: free_port() for server in STORAGE_SERVERS}
        self.proxy_port = free_port()
        self.memcached_port = free_port()
        self._procs: dict[str, subprocess.Popen] = {}
        self._syslog_sink: socket.socket | None = None

    # ------------------------------------------------------------------ contract attributes
    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def auth_url(self) -> str:
        return f"{self.proxy_url}/auth/v1.0"

    @property
    def s3_endpoint_url(self) -> str:
        return self.proxy_url

    s3_access_key = user
    s3_secret_key = key

    @property
    def ports(self) -> dict[str, int]:
        return {"proxy": self.proxy_port, **self.storage_ports, "memcached": self.memcached_port}

    @property
    def version(self) -> str:
        return dist_version(swift_venv(), "swift")

    def log_files(self) -> list[Path]:
        return sorted(self.data_dir.glob("*.log"))

    def s3_client(self):
        """boto3 client on the s3api with the settings SERVERS.md requires."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.s3_access_key,
            aws_secret_access_key=self.s3_secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                response_checksum_validation="when_required",
                retries={"max_attempts": 1},
            ),
        )

    # ------------------------------------------------------------------ configuration
    def _default_section(self, port: int, log_name: str) -> str:
        return textwrap.dedent(f"""\
            [DEFAULT]
            bind_ip = 127.0.0.1
            bind_port = {port}
            workers = 0
            user = {getpass.getuser()}
            swift_dir = {self.swift_dir}
            devices = {self.devices}
            mount_check = false
            disable_fallocate = true
            log_name = {log_name}
            # without these Swift sends its syslog lines to UDP 127.0.0.1:514; our sink drops them
            log_udp_host = 127.0.0.1
            log_udp_port = {self._syslog_sink.getsockname()[1]}
            """)

    def _write_configs(self) -> None:
        self.swift_dir.mkdir(parents=True, exist_ok=True)
        (self.devices / "sdb1").mkdir(parents=True, exist_ok=True)
        (self.swift_dir / "swift.conf").write_text(
            textwrap.dedent("""\
            [swift-hash]
            swift_hash_path_prefix = devstack
            swift_hash_path_suffix = devstack

            [storage-policy:0]
            name = gold
            default = yes
            """)
        )
        for server in STORAGE_SERVERS:
            section = self._default_section(self.storage_ports[server], f"{server}-server")
            conf = section + textwrap.dedent(f"""
                [pipeline:main]
                pipeline = {server}-server

                [app:{server}-server]
                use = egg:swift#{server}
                """)
            (self.swift_dir / f"{server}-server.conf").write_text(conf)
        self.write_proxy_config(
            "proxy-server",
            self.proxy_port,
            TEMPAUTH_PIPELINE,
            textwrap.dedent(f"""
            [filter:tempauth]
            use = egg:swift#tempauth
            user_test_tester = {self.key} .admin
            """),
        )

    def write_proxy_config(self, conf_name: str, port: int, pipeline: str, extra_sections: str) -> Path:
        path = self.swift_dir / f"{conf_name}.conf"
        path.write_text(
            self._default_section(port, conf_name)
            + f"\n[pipeline:main]\npipeline = {pipeline}\n"
            + _COMMON_FILTERS.format(memcached_port=self.memcached_port)
            + extra_sections
        )
        return path

    def _build_rings(self) -> None:
        if all((self.swift_dir / f"{s}.ring.gz").exists() for s in STORAGE_SERVERS):
            return
        args = [str(self.swift_dir)]
        for server in STORAGE_SERVERS:
            args += [server, str(self.storage_ports[server])]
        run_checked(
            [swift_venv() / "bin" / "python", "-c", _RING_SCRIPT, *args],
            self.data_dir / "rings.log",
            what="building Swift rings",
        )

    # ------------------------------------------------------------------ processes
    def _swift_server_argv(self, script: str, conf: Path) -> list:
        venv = swift_venv()
        # run the script through the venv's python: works even if the venv was moved
        return [venv / "bin" / "python", venv / "bin" / script, conf, "-v"]

    def start_proxy(self, conf_name: str, port: int) -> subprocess.Popen:
        """Start a proxy whose config was written by write_proxy_config(); returns once it listens."""
        log = self.data_dir / f"{conf_name}.log"
        proc = spawn(self._swift_server_argv("swift-proxy-server", self.swift_dir / f"{conf_name}.conf"), log)
        wait_ready(conf_name, lambda: _healthy(port), procs=[proc], log_path=log, timeout=60)
        return proc

    def _start(self) -> None:
        if self._syslog_sink is None:
            self._syslog_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._syslog_sink.bind(("127.0.0.1", 0))
        self._write_configs()
        self._build_rings()
        self._procs["memcached"] = spawn(
            [
                system_bin("memcached"),
                "-l",
                "127.0.0.1",
                "-p",
                str(self.memcached_port),
                "-U",
                "0",
                "-m",
                "64",
                "-u",
                getpass.getuser(),
            ],
            self.data_dir / "memcached.log",
        )
        for server in STORAGE_SERVERS:
            self._procs[server] = spawn(
                self._swift_server_argv(f"swift-{server}-server", self.swift_dir / f"{server}-server.conf"),
                self.data_dir / f"{server}-server.log",
            )
        self._procs["proxy"] = spawn(
            self._swift_server_argv("swift-proxy-server", self.swift_dir / "proxy-server.conf"),
            self.data_dir / "proxy-server.log",
        )
        for what, port in [("memcached", self.memcached_port), *self.storage_ports.items()]:
            proc = self._procs[what]
            log = self.data_dir / ("memcached.log" if what == "memcached" else f"{what}-server.log")
            wait_ready(
                f"swift {what}", lambda port=port: port_open(port), procs=[proc], log_path=log, timeout=60
            )
        wait_ready(
            "swift proxy",
            self._round_trip,
            procs=list(self._procs.values()),
            log_path=self.data_dir / "proxy-server.log",
            timeout=60,
            interval=0.1,
        )

    def _round_trip(self) -> bool:
        """Ready = tempauth answers and a container PUT reaches account + container servers."""
        credentials = {"X-Auth-User": self.user, "X-Auth-Key": self.key}
        request = urllib.request.Request(self.auth_url, headers=credentials)
        with urllib.request.urlopen(request, timeout=5) as response:
            token = response.headers["X-Auth-Token"]
            storage_url = response.headers["X-Storage-Url"]
        put = urllib.request.Request(
            f"{storage_url}/devstack-ready", method="PUT", headers={"X-Auth-Token": token}
        )
        with urllib.request.urlopen(put, timeout=5) as response:
            return response.status in (201, 202)

    def _stop(self) -> None:
        for name in ("proxy", *STORAGE_SERVERS, "memcached"):
            terminate(self._procs.pop(name, None), timeout=10)

    def close(self) -> None:
        self.stop()
        if self._syslog_sink is not None:
            self._syslog_sink.close()
            self._syslog_sink = None


def _healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=2) as response:
        return response.status == 200
