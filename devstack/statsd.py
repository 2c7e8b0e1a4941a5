"""A UDP statsd listener: a real socket that records every datagram it receives."""

from __future__ import annotations

import socket
import threading
import time

from ._base import announce


class StatsdListener:
    """Collects packets in a background thread; SO_RCVBUF 8 MB so bursts are not dropped."""

    name = "statsd"
    version = "udp-listener"

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._packets: list[str] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self.started_seconds: float | None = None
        self.running = False

    @property
    def ports(self) -> dict[str, int]:
        return {"port": self.port}

    def start(self) -> StatsdListener:
        t0 = time.monotonic()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._receive, name="statsd-listener", daemon=True)
        self._thread.start()
        self.running = True
        self.started_seconds = time.monotonic() - t0
        announce(
            f"[devstack] statsd {self.version} ready on {self.host} port={self.port} (udp) "
            f"in {self.started_seconds:.2f} s"
        )
        return self

    def _receive(self) -> None:
        sock = self._sock
        sock.settimeout(0.2)  # wake up regularly so stop() is noticed
        while not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                # one datagram may carry several newline-separated metrics
                self._packets.extend(line for line in data.decode("utf-8", "replace").split("\n") if line)
                self._cond.notify_all()

    def packets(self, timeout: float = 1.0, min_count: int = 1) -> list[str]:
        """Every metric line received so far, waiting up to timeout for at least min_count of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._packets) < min_count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self._packets)

    def clear(self) -> None:
        with self._cond:
            self._packets.clear()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._stopping.clear()
        self.running = False

    close = stop

    def log_files(self) -> list:
        return []
