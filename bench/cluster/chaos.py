"""Chaos under load: kill -9 a front-end, restart Redis, stop the S3 server — while Locust runs.

The script keeps a list of events (what, when it began, when the dependency was back) and then judges
the run against issue 13's requirements from what Locust recorded (bench/cluster/locustfile.py):
sessions survive a front-end kill, failures are clean 5xx only inside the outage windows, every upload
answered with success reads back byte-identical, no worker is left dead, errors stop within seconds of
the dependency's return.
"""
from __future__ import annotations

import hashlib
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .load import LoadResult

#: seconds after a dependency is back within which errors must have stopped
RECOVERY_SECONDS = 10
#: seconds before an event's start an error may be attributed to it (clock granularity of the timeline)
LEAD_SECONDS = 1
#: seconds after a kill -9 within which a request may end without any HTTP status (its connection cut)
CUT_SECONDS = 3


@dataclass
class Event:
    what: str
    start: float
    end: float = 0.0


def restart_redis_keeping_data(redis) -> None:
    """SHUTDOWN SAVE (the data survives, as with any persistent Redis), then start on the same port."""
    with socket.create_connection((redis.host, redis.port), timeout=5) as sock:
        sock.sendall(b"SHUTDOWN SAVE\r\n")
        sock.settimeout(10)
        try:
            sock.recv(64)
        except OSError:
            pass
    redis.stop()
    redis.start()


def timeline_rows(result: LoadResult, t0: float, events: list[Event]) -> list[str]:
    """One line per second: requests, failures, and which event began or ended in that second."""
    if not result.timeline:
        return ["(no timeline recorded)"]
    first, last = min(result.timeline), max(result.timeline)
    rows = [f"{'t s':>5} {'requests':>9} {'failures':>9}  event"]
    for sec in range(first, last + 1):
        flows = result.timeline.get(sec, {})
        total = sum(cell[0] for cell in flows.values())
        failed = sum(cell[1] for cell in flows.values())
        marks = [f"{e.what} begins" for e in events if int(e.start) == sec]
        marks += [f"{e.what}: back" for e in events if e.end and int(e.end) == sec]
        bar = "#" * min(40, failed)
        rows.append(f"{sec - int(t0):>5} {total:>9} {failed:>9}  {bar} {'; '.join(marks)}")
    return rows


def in_window(t: float, events: list[Event]) -> bool:
    return any(e.start - LEAD_SECONDS <= t <= (e.end or e.start) + RECOVERY_SECONDS for e in events)


def recovery_seconds(result: LoadResult, event: Event) -> float | None:
    """Seconds from the dependency's return to the first whole second with requests and no failure."""
    for sec in sorted(s for s in result.timeline if s >= int(event.end)):
        flows = result.timeline[sec]
        total = sum(cell[0] for cell in flows.values())
        failed = sum(cell[1] for cell in flows.values())
        if total and not failed:
            return max(0.0, sec - event.end)
    return None


def verify_uploads(client, uploads: list[dict]) -> list[str]:
    """Problems (empty when every successful upload reads back byte-identical)."""
    def check(upload: dict) -> str | None:
        try:
            data = client.download(upload["id"])
        except Exception as exc:
            return f"upload {upload['id']} unreadable: {exc}"
        if hashlib.sha1(data).hexdigest() != upload["sha1"]:
            return f"upload {upload['id']} differs ({len(data)} bytes read)"
        return None

    # a few at once: an object the S3 server lost answers only after its own retries (seconds each)
    with ThreadPoolExecutor(4) as pool:
        return [problem for problem in pool.map(check, uploads) if problem]


_SHA1 = re.compile(r"\b[0-9a-f]{40}\b")


def kind_of(error: dict) -> str:
    """The failure's flow and reason, object keys masked so that one cause makes one kind."""
    return _SHA1.sub("<sha1>", f"{error['flow']}: {error['why']} (HTTP {error['status']})")


def judge_errors(result: LoadResult, events: list[Event]) -> list[str]:
    """Requirement failures among the recorded errors."""
    problems = []
    lost = [e for e in result.errors if "session lost" in e["why"]]
    if lost:
        problems.append(f"{len(lost)} session(s) lost (a logged-in user was logged out)")
    traced = [e for e in result.errors if e["traceback"]]
    if traced:
        problems.append(f"{len(traced)} error answer(s) carried a Python traceback")
    # a request in flight on the front-end killed with SIGKILL may lose its connection (no HTTP status):
    # the issue allows errors for those, within CUT_SECONDS of the kill
    cut = [e for e in result.errors if e["status"] == 0 and _in_kill_cut(e["t"], events)]
    if cut:
        print(f"  {len(cut)} request(s) in flight on the killed front-end lost their connection "
              f"(no HTTP status; allowed): {sorted({e.get('error', '?') for e in cut})[:3]}")
    unclean = [e for e in result.errors if not (500 <= e["status"] <= 599) and "session lost" not in e["why"]
               and e not in cut]
    if unclean:
        kinds = sorted({kind_of(e) for e in unclean})[:6]
        problems.append(f"{len(unclean)} error(s) not a clean 5xx: " + "; ".join(kinds))
    outside = [e for e in result.errors if not in_window(e["t"], events)]
    if outside:
        kinds = sorted({kind_of(e) for e in outside})[:6]
        problems.append(f"{len(outside)} error(s) outside every outage window: " + "; ".join(kinds))
    return problems


def _in_kill_cut(t: float, events: list[Event]) -> bool:
    return any(e.what.startswith("kill") and e.start - LEAD_SECONDS <= t <= e.start + CUT_SECONDS
               for e in events)


def wait_until_time(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
