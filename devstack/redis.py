"""Debian's redis-server on a free loopback port, optionally with a password."""

from __future__ import annotations

import socket
import subprocess
from functools import cached_property
from pathlib import Path

from ._base import Server
from ._process import free_port, spawn, terminate, wait_ready
from .paths import system_bin


class RedisServer(Server):
    name = "redis"

    def __init__(self, base_dir: Path | str, *, password: str | None = None, name: str | None = None):
        if name:
            self.name = name
        super().__init__(base_dir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.password = password
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.port}

    @cached_property
    def version(self) -> str:
        out = subprocess.run(
            [system_bin("redis-server"), "--version"], check=False, capture_output=True, text=True
        ).stdout
        # "Redis server v=7.0.15 sha=..."
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return out.strip()

    def _start(self) -> None:
        argv = [
            system_bin("redis-server"),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        if self.password:
            argv += ["--requirepass", self.password]
        self._proc = spawn(argv, self.log_path)
        wait_ready(self.name, self._ping, procs=[self._proc], log_path=self.log_path, timeout=15)

    def _ping(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
        # with requirepass an unauthenticated PING answers -NOAUTH: the server is up all the same
        return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")

    def _stop(self) -> None:
        terminate(self._proc)
        self._proc = None
