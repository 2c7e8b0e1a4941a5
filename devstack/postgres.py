"""A throwaway PostgreSQL 15 cluster: initdb into the run dir, trust auth on 127.0.0.1, a free port.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user (initdb via
`runuser -u postgres`, the server process started with that uid directly so it stays our child and dies
with its process group).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from functools import cached_property
from pathlib import Path

from ._base import Server
from ._process import free_port, run_checked, spawn, terminate, wait_ready
from .paths import system_bin

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/*/bin")


class PostgresServer(Server):
    name = "postgres"

    def __init__(self, base_dir: Path | str, *, user: str = "odoo"):
        super().__init__(base_dir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = user  # database role created for clients (superuser, trust auth)
        self.cluster_dir = self.data_dir / "cluster"
        self._proc: subprocess.Popen | None = None
        self._os_user = "postgres" if os.geteuid() == 0 else None

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.port}

    def _bin(self, name: str) -> Path:
        for pattern in PG_BIN_DIRS:
            for candidate in sorted(Path("/").glob(pattern.lstrip("/") + "/" + name), reverse=True):
                return candidate
        return system_bin(name)

    @cached_property
    def version(self) -> str:
        out = subprocess.run(
            [self._bin("postgres"), "--version"], check=False, capture_output=True, text=True
        ).stdout
        # "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
        words = out.split()
        return words[2] if len(words) > 2 else out.strip()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def _as_postgres(self, argv: list) -> list:
        return ["runuser", "-u", self._os_user, "--", *argv] if self._os_user else argv

    def _initdb(self) -> None:
        if (self.cluster_dir / "PG_VERSION").exists():
            return
        if self._os_user:
            record = pwd.getpwnam(self._os_user)
            # the postgres user must be able to reach its directory through our (root-owned) parents
            for parent in [self.data_dir, *self.data_dir.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
            os.chown(self.data_dir, record.pw_uid, record.pw_gid)
        run_checked(
            self._as_postgres(
                [
                    self._bin("initdb"),
                    "-D",
                    self.cluster_dir,
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            self.log_path,
            what="initdb",
        )
        if self._os_user:
            os.chown(self.log_path, pwd.getpwnam(self._os_user).pw_uid, -1)

    def _start(self) -> None:
        self._initdb()
        argv = [
            self._bin("postgres"),
            "-D",
            self.cluster_dir,
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
        ]
        self._proc = spawn(argv, self.log_path, user=self._os_user)
        wait_ready(
            self.name,
            self._accepts_queries,
            procs=[self._proc],
            log_path=self.log_path,
            timeout=30,
            interval=0.1,
        )

    def _accepts_queries(self) -> bool:
        result = subprocess.run(
            [
                self._bin("pg_isready"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                "postgres",
            ],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        """Create database `name` (if absent) and return its DSN."""
        import psycopg2

        conn = psycopg2.connect(self.dsn("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.dsn(name)

    def _stop(self) -> None:
        # SIGINT = fast shutdown: does not wait for connected clients to leave
        terminate(self._proc, timeout=15, sig=signal.SIGINT)
        self._proc = None
