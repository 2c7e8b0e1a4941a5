"""Process plumbing shared by every server: free ports, log files, readiness waits, clean stops.

Every child runs in its own session (process group) so a stop kills the whole tree, and every live
child is recorded so an interpreter exit (normal, failure or Ctrl-C) still stops it.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_LIVE: dict[int, subprocess.Popen] = {}


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


def tail(path: Path | str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    kept = [line if len(line) <= 1500 else line[:1500] + " [...]" for line in text.splitlines()[-lines:]]
    return "\n".join(kept)[-8000:]


def _bindable(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_HANDED_OUT: set[int] = set()

#: lowest port handed out (below: well-known services)
_LOWEST_PORT = 10000


def _ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections' local ports (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _pick(span: tuple[int, int], offsets: Sequence[int], kind: int) -> int | None:
    """A random P in `span` with P + each offset free now and never handed out before, or None."""
    low, high = span
    if high < low:
        return None
    for _ in range(500):
        port = random.randint(low, high)
        wanted = [port + offset for offset in offsets]
        if any(p in _HANDED_OUT for p in wanted):
            continue
        if all(_bindable(p, kind) for p in wanted):
            _HANDED_OUT.update(wanted)
            return port
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 now; never the same one twice in this process (servers start later).

    Taken below the kernel's ephemeral range: a port from that range can be taken, while its server is
    stopped for an outage test, as the local port of any outgoing connection, and the server could not
    come back on it (a SeaweedFS restart failed so: "port ... is not available").
    """
    port = _pick((_LOWEST_PORT, _ephemeral_low() - 1), (0,), kind)
    if port is None:
        port = _pick((_ephemeral_low(), 65535), (0,), kind)
    if port is None:
        raise RuntimeError("no free port found on 127.0.0.1")
    return port


def free_port_with_grpc_twin(offset: int = 10000) -> int:
    """A port P with P and P+offset free (SeaweedFS opens gRPC on P+10000, Redis Cluster its bus), both
    below the ephemeral range when it leaves room (see free_port)."""
    port = _pick((_LOWEST_PORT, _ephemeral_low() - 1 - offset), (0, offset), socket.SOCK_STREAM)
    if port is None:
        port = _pick((20000, 65535 - offset), (0, offset), socket.SOCK_STREAM)
    if port is None:
        raise RuntimeError(f"no free port pair (P, P+{offset}) found on 127.0.0.1")
    return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def _command_log(log_path: Path, verb: str, argv: Sequence[str]) -> Iterator:
    """log_path opened for appending, after a header line saying when which command began."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%H:%M:%S')} {verb}: {' '.join(map(str, argv))}\n".encode())
        log.flush()
        yield log


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen:
    """Start argv in its own process group, stdout+stderr appended to log_path."""
    with _command_log(log_path, "start", argv) as log:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=_primary_group(user) if user else None,
            extra_groups=[] if user else None,
        )
    _LIVE[proc.pid] = proc
    return proc


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def terminate(proc: subprocess.Popen | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the process group (SIGTERM by default), SIGKILL it if it lingers."""
    if proc is None:
        return
    _LIVE.pop(proc.pid, None)
    if proc.poll() is None:
        _signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(5)
    # children that outlived their leader (same group) must not survive either
    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_ready(
    name: str,
    check: Callable[[], bool],
    *,
    procs: Iterable[subprocess.Popen],
    log_path: Path,
    timeout: float,
    interval: float = 0.05,
) -> None:
    """Poll check() until true; raise with the log tail if a process died or time ran out."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise ServerStartError(
                    f"{name} exited with code {proc.returncode} while starting "
                    f"(log {log_path}):\n{tail(log_path)}"
                )
        try:
            if check():
                return
        except Exception as exc:  # the server is not there yet: keep polling
            last_error = exc
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{name} not ready after {timeout:.0f} s (last probe error: {last_error!r}; "
                f"log {log_path}):\n{tail(log_path)}"
            )
        time.sleep(interval)


def run_checked(argv: Sequence[str], log_path: Path, *, what: str, **kwargs) -> None:
    """Run a one-shot setup command, its output appended to log_path; raise with the tail on failure."""
    with _command_log(log_path, "run", argv) as log:
        result = subprocess.run(
            [str(a) for a in argv],
            check=False,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
    if result.returncode != 0:
        raise ServerStartError(
            f"{what} failed with code {result.returncode} (log {log_path}):\n{tail(log_path)}"
        )


def stop_all() -> None:
    """Kill every child still alive: the safety net for crashes and Ctrl-C."""
    for proc in list(_LIVE.values()):
        if proc.poll() is None:  # an exited leader's pid may already belong to someone else
            terminate(proc, timeout=3)
    _LIVE.clear()


atexit.register(stop_all)
