"""SeaweedFS `weed mini` as a real S3 server (SigV4 enforced) on free loopback ports."""

from __future__ import annotations

import glob
import json
import os
import secrets
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path

from ._base import Server
from ._process import free_port, free_port_with_grpc_twin, spawn, terminate, wait_ready
from .paths import venv_bin

_COMPONENTS = ("master", "volume", "filer", "s3", "webdav", "admin")


class SeaweedFSServer(Server):
    name = "seaweedfs"
    region = "us-east-1"

    def __init__(
        self, base_dir: Path | str, *, access_key: str = "devstack-access", secret_key: str | None = None
    ):
        super().__init__(base_dir)
        self.access_key = access_key
        self.secret_key = secret_key or "devstack-" + secrets.token_hex(12)
        # each port P also opens P+10000 for gRPC: both must be free
        self._ports = {component: free_port_with_grpc_twin() for component in _COMPONENTS}
        #: the S3 gateway's Prometheus metrics: requests counted by the server itself (`s3_requests`)
        self.metrics_port = free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def port(self) -> int:
        return self._ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"s3": self.port, "master": self._ports["master"], "filer": self._ports["filer"]}

    @cached_property
    def version(self) -> str:
        out = subprocess.run(
            [venv_bin("weed"), "version"], check=False, capture_output=True, text=True
        ).stdout
        # "version 8000GB 4.48 pypi linux amd64"
        words = out.split()
        return words[2] if len(words) > 2 and words[0] == "version" else out.strip()

    def client(self):
        """A boto3 S3 client with the settings every S3 server here needs (SERVERS.md)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                response_checksum_validation="when_required",
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def _write_credentials(self) -> Path:
        path = self.data_dir / "s3.json"
        identity = {
            "name": "devstack",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        path.write_text(json.dumps({"identities": [identity]}, indent=2))
        path.chmod(0o600)
        return path

    def _start(self) -> None:
        run_dir = self.data_dir
        (run_dir / "data").mkdir(exist_ok=True)
        (run_dir / "logs").mkdir(exist_ok=True)
        (run_dir / "tmp").mkdir(exist_ok=True)
        p = self._ports
        argv = [
            venv_bin("weed"),
            f"-logdir={run_dir / 'logs'}",
            "mini",
            f"-dir={run_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-webdav.port={p['webdav']}",
            f"-admin.port={p['admin']}",
            f"-metricsPort={self.metrics_port}",
            "-metricsIp=127.0.0.1",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",  # no heartbeat grace period on stop: saves a second per stop
            # one volume per bucket (collection): the suite creates hundreds of buckets, and the limit
            # weed derives from free disk ran out at ~60 ("No writable volumes and no free volumes left")
            "-volume.max=1000",
            f"-filer.localSocket={run_dir / 'filer.sock'}",
            f"-s3.localSocket={run_dir / 's3.sock'}",
            f"-s3.config={self._write_credentials()}",
        ]
        env = dict(os.environ, TMPDIR=str(run_dir / "tmp"))
        self._proc = spawn(argv, self.log_path, env=env, cwd=run_dir)
        client = self.client()
        wait_ready(
            self.name,
            lambda: client.list_buckets() is not None,
            procs=[self._proc],
            log_path=self.log_path,
            timeout=30,
            interval=0.1,
        )

    def s3_requests(self, bucket: str | None = None, action: str | None = None) -> float:
        """How many S3 requests (on `bucket`, of `action`: "LIST", "PUT", "GET"...) the gateway served,
        read from its own Prometheus counters (``SeaweedFS_s3_request_total``)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith("SeaweedFS_s3_request_total{"):
                continue
            wanted_bucket = bucket is None or f'bucket="{bucket}"' in line
            if wanted_bucket and (action is None or f'type="{action}"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def create_bucket(self, name: str) -> None:
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def _stop(self) -> None:
        terminate(self._proc, timeout=10)
        self._proc = None
        # weed leaves gRPC unix sockets in the system temp dir whatever TMPDIR says
        system_tmp = tempfile.gettempdir() if "TMPDIR" not in os.environ else "/tmp"
        for port in self._ports.values():
            for leftover in glob.glob(
                os.path.join(system_tmp, f"seaweedfs-*-grpc-{port + 10000}.sock")
            ) + glob.glob(os.path.join(system_tmp, f"seaweedfs-*-grpc-{port}.sock")):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
