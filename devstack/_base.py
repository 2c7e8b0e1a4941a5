"""What every devstack server has in common: a data dir, a log file, timed start, announcement."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

Announcer = Callable[[str], None]


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


_announcer: Announcer = _print_to_stderr


def set_announcer(announcer: Announcer) -> None:
    """Where 'server ready' lines go (pytest routes them to its terminal, the CLI to stderr)."""
    global _announcer
    _announcer = announcer


def announce(line: str) -> None:
    _announcer(line)


class Server:
    """Base of every server: subclasses implement _start() (blocking until ready) and _stop()."""

    name = "server"

    def __init__(self, base_dir: Path | str):
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / self.name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"{self.name}.log"
        self.started_seconds: float | None = None
        self.running = False

    @property
    def version(self) -> str:
        raise NotImplementedError

    @property
    def ports(self) -> dict[str, int]:
        raise NotImplementedError

    def log_files(self) -> list[Path]:
        return [self.log_path]

    def start(self) -> Server:
        if self.running:
            return self
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        self.running = True
        verb = "restarted" if self.started_seconds is not None else "ready"
        self.started_seconds = time.monotonic() - t0
        ports = " ".join(f"{k}={v}" for k, v in self.ports.items())
        seconds = self.started_seconds
        announce(f"[devstack] {self.name} {self.version} {verb} on 127.0.0.1 {ports} in {seconds:.2f} s")
        return self

    def stop(self) -> None:
        self._stop()
        self.running = False

    def close(self) -> None:
        """Stop for good (end of session): also releases what survives stop()/start() cycles."""
        self.stop()

    @contextlib.contextmanager
    def outage(self):
        """`with server.outage(): ...` — the server is down inside the block, back (same port, data) after."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ports={self.ports} running={self.running}>"
