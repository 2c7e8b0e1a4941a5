"""Readiness: can this process serve requests right now? (``GET /web/health/ready``, ``odoo-cloud check``)

Odoo's ``/web/health`` answers "pass" as long as the process runs (liveness). A load balancer needs more:
a pod whose Redis or bucket is unreachable can only answer 503, so it must leave the rotation. Why it
is shaped like this:

- One check per dependency this process is configured to use: PostgreSQL (the server, like
  ``/web/health?db_server_status=1``), Redis when sessions are in Redis (PING), the write
  bucket/container when attachments are in object storage (a list of at most one key: read-only,
  cheap, never a write).
- Every check has a hard deadline (`timeout`): the probe answers within it even when a host is
  black-holed, and at most one call per check is in flight per process, so a hung dependency cannot
  pile up threads or connections.
- Results are reused for `cache_seconds` within a process and refreshed by one caller at a time
  (the others wait for that refresh): a probe storm costs one round of checks per interval.
- Failures are classified (`timeout`, `refused`, `auth`, `missing`, `error`) for the answer; the detail
  (host names, codes) goes to the log and to `odoo-cloud check`, never to the anonymous HTTP answer.
  State changes (pass -> fail -> pass) are logged once, not once per probe.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .config import SessionSettings, Settings
    from .storage.base import ObjectStore

from .extras import missing_extra

__all__ = [
    "FAIL",
    "PASS",
    "REASONS",
    "Check",
    "CheckResult",
    "Readiness",
    "classify",
    "object_store_check",
    "postgres_check",
    "readiness_checks",
    "redis_check",
]

_logger = logging.getLogger(__name__)

PASS, FAIL = "pass", "fail"
TIMEOUT, REFUSED, AUTH, MISSING, ERROR = "timeout", "refused", "auth", "missing", "error"
REASONS = (TIMEOUT, REFUSED, AUTH, MISSING, ERROR)
#: seconds a check's once-per-process preparation (building a client) may take
PREPARE_LIMIT = 10.0
#: how deep `classify` follows __cause__/__context__ (our clients wrap the socket error once or twice)
_CHAIN_LIMIT = 8
_AUTH_STATUS = (401, 403)
_AUTH_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                         "ExpiredToken", "InvalidClientTokenId", "UnrecognizedClientException"})
_AUTH_WORDS = ("authentication failed", "noauth", "wrongpass", "invalid password", "unauthorized",
               "access denied", "forbidden", "no pg_hba.conf entry", "permission denied")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = 0
    cause: Optional[BaseException] = error
    while cause is not None and seen < _CHAIN_LIMIT:
        yield cause
        seen += 1
        cause = cause.__cause__ or cause.__context__


def classify(error: BaseException) -> str:
    """`timeout`, `refused`, `auth`, `missing` or `error` for an exception of any of our clients.

    Walks the exception chain: our stores raise their own errors ``from None``, which hides the
    cause from tracebacks but keeps it as ``__context__``.
    """
    names = []
    for item in _chain(error):
        if isinstance(item, (socket.timeout, TimeoutError)):
            return TIMEOUT
        if isinstance(item, ConnectionRefusedError) or getattr(item, "errno", None) == errno.ECONNREFUSED:
            return REFUSED
        response = getattr(item, "response", None)
        if isinstance(response, dict):  # botocore ClientError
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _AUTH_CODES or status in _AUTH_STATUS:
                return AUTH
        if getattr(item, "http_status", None) in _AUTH_STATUS:  # swiftclient ClientException
            return AUTH
        names.append(type(item).__name__)
    text = " ".join(names + [str(item) for item in _chain(error)]).lower()
    if "timeout" in text or "timed out" in text:
        return TIMEOUT
    if "authentication" in text or any(word in text for word in _AUTH_WORDS):
        return AUTH
    if "refused" in text:
        return REFUSED
    if "notfound" in text or "not found" in text or "nosuchbucket" in text:
        return MISSING
    return ERROR


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    #: one of REASONS when failed
    reason: Optional[str] = None
    #: what happened, for logs and the CLI (no secrets; may name hosts: not for anonymous callers)
    detail: str = ""
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return PASS if self.ok else FAIL

    def public(self) -> dict[str, Any]:
        """What the HTTP answer shows: status, reason and duration, no host names."""
        data: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3)}
        if not self.ok:
            data["reason"] = self.reason
        return data


class Check:
    """One dependency: `probe` returns a short detail or raises. At most one call in flight.

    `prepare` (optional) runs once per process before the first probe, outside the deadline: building a
    boto3 client takes a few hundred milliseconds of CPU and says nothing about the dependency.
    """

    def __init__(self, name: str, probe: Callable[[], Optional[str]],
                 prepare: Optional[Callable[[], object]] = None) -> None:
        self.name = name
        self.probe = probe
        self.prepare = prepare
        self._prepared_pid: Optional[int] = None
        self._running: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def start(self) -> Optional[tuple[threading.Thread, dict[str, Any]]]:
        """Run the probe in a thread; None when the previous call has not returned yet."""
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return None
            outcome: dict[str, Any] = {"prepared": threading.Event()}

            def target() -> None:
                try:
                    if self.prepare is not None and self._prepared_pid != os.getpid():
                        self.prepare()
                        self._prepared_pid = os.getpid()
                except BaseException as error:  # reported, never raised in a thread
                    outcome["error"] = error
                started = outcome["started"] = time.monotonic()
                outcome["prepared"].set()
                if "error" not in outcome:
                    try:
                        outcome["detail"] = self.probe() or ""
                    except BaseException as error:
                        outcome["error"] = error
                outcome["seconds"] = time.monotonic() - started

            thread = threading.Thread(target=target, name=f"odoo-cloud-ready-{self.name}", daemon=True)
            self._running = thread
            thread.start()
            return thread, outcome


def _describe(error: BaseException) -> str:
    error = missing_extra(error)
    text = " ".join(str(error).split()) or repr(error)
    return f"{type(error).__name__}: {text}"[:500]


def run_checks(checks: Sequence[Check], timeout: float) -> list[CheckResult]:
    """Run every check concurrently; a check not done within `timeout` seconds of its start (after its
    once-per-process preparation, itself bounded by `PREPARE_LIMIT`) failed ("timeout")."""
    started = time.monotonic()
    running = [(check, check.start()) for check in checks]
    results = []
    for check, handle in running:
        if handle is None:
            results.append(CheckResult(check.name, False, TIMEOUT,
                                       f"the previous check has not answered yet (timeout {timeout:g} s)",
                                       time.monotonic() - started))
            continue
        thread, outcome = handle
        outcome["prepared"].wait(max(0.0, started + PREPARE_LIMIT - time.monotonic()))
        deadline = outcome.get("started", started) + timeout
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive() or "seconds" not in outcome:
            results.append(CheckResult(check.name, False, TIMEOUT, f"no answer within {timeout:g} s",
                                       time.monotonic() - started))
        elif "error" in outcome:
            error = outcome["error"]
            results.append(CheckResult(check.name, False, classify(error), _describe(error),
                                       outcome["seconds"]))
        else:
            results.append(CheckResult(check.name, True, None, str(outcome["detail"]), outcome["seconds"]))
    return results


class Readiness:
    """The checks of one process, their results reused for `cache_seconds`."""

    def __init__(self, checks: Sequence[Check], timeout: float, cache_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.checks = list(checks)
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.rounds = 0  # how many times the checks really ran (tests, logs)
        self._results: Optional[list[CheckResult]] = None
        self._expires = 0.0
        self._refresh = threading.Lock()
        self._failing: set[str] = set()

    def results(self) -> list[CheckResult]:
        """Fresh or cached results; concurrent callers share one refresh."""
        if self._results is not None and self.clock() < self._expires:
            return self._results
        # bounded wait: the holder returns within `timeout` (checks run with a hard deadline)
        with self._refresh:
            if self._results is not None and self.clock() < self._expires:
                return self._results
            results = run_checks(self.checks, self.timeout)
            self.rounds += 1
            self._log_changes(results)
            self._results = results
            self._expires = self.clock() + self.cache_seconds
            return results

    def answer(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body): 200 ``{"status": "pass", "checks": {...}}`` or 503 with "fail"."""
        results = self.results()
        ok = all(result.ok for result in results)
        checks = {result.name: result.public() for result in results}
        body = {"status": PASS if ok else FAIL, "checks": checks}
        return (200 if ok else 503), body

    def _log_changes(self, results: list[CheckResult]) -> None:
        for result in results:
            if not result.ok and result.name not in self._failing:
                self._failing.add(result.name)
                _logger.warning("readiness: %s check failed (%s): %s", result.name, result.reason,
                                result.detail)
            elif result.ok and result.name in self._failing:
                self._failing.discard(result.name)
                _logger.info("readiness: %s check passes again", result.name)


# ----------------------------------------------------------------------------------------- the checks
def redis_check(sessions: SessionSettings, timeout: float) -> Check:
    """PING through a client of this process's own, with `timeout` and no retry (not the session
    store's client: its retries and longer timeouts are right for requests, not for a probe)."""
    try:
        from .sessions.cluster import ping as ping_all
        from .sessions.connection import RedisConnection
    except ImportError as error:  # redis is the `[redis]` extra: the check fails saying so
        missing = error

        def unavailable() -> str:
            raise missing

        return Check("redis", unavailable)

    connection = RedisConnection(replace(sessions, timeout=timeout, connect_timeout=timeout, retries=0))

    def ping() -> str:
        if not ping_all(connection.client):
            raise RuntimeError("PING got no PONG")
        return f"PING {connection.display_url}"

    return Check("redis", ping, prepare=lambda: connection.client)


def object_store_check(settings: Settings, scheme: str, timeout: float,
                       dbname: Optional[str] = None) -> Check:
    """List at most one key of the write bucket/container: read-only and cheap, never a write.

    A missing bucket passes when the store may create it on first write (a fresh deployment must
    become ready before anything was written), and fails (``missing``) otherwise.
    """
    from .preflight import _probe_settings
    from .storage import backends

    probe_settings = _probe_settings(settings, timeout)
    backend = backends.get(scheme)
    name = backend.bucket_template(settings)
    unchecked = bool(name and "{db}" in name and not dbname)

    def build() -> ObjectStore:
        from .storage.factory import build_store

        return build_store(scheme, probe_settings, dbname)

    def prepare() -> None:
        if not unchecked and backend.can(backends.PREBUILT_CLIENT):
            build().client  # type: ignore[attr-defined]  # noqa: B018 - builds this process's client (no network call)

    def list_one() -> str:
        from .storage.errors import ObjectNotFound

        if unchecked:
            return f"{name!r} depends on the database: not checked (no single database configured)"
        store = build()
        try:
            next(iter(store.list_objects(page_size=1)), None)
        except ObjectNotFound:
            if store.create_bucket:
                return f"{store.prefix} does not exist yet; it is created on first write"
            raise
        return f"listed {store.prefix}"

    return Check("object_store", list_one, prepare=prepare)


def postgres_check(connect: Callable[[], Any]) -> Check:
    """`connect` runs ``SELECT 1`` on the server (the glue uses Odoo's pool, the CLI psycopg2)."""

    def select_one() -> str:
        connect()
        return "SELECT 1"

    return Check("postgresql", select_one)


def readiness_checks(settings: Settings, postgres: Optional[Callable[[], Any]] = None,
                     dbname: Optional[str] = None) -> list[Check]:
    """The checks this configuration needs: PostgreSQL (when `postgres` is given), Redis when sessions
    are in Redis, the write bucket/container when attachments go to object storage."""
    from .storage.factory import configured_scheme

    timeout = settings.readiness.timeout
    checks: list[Check] = []
    if postgres is not None:
        checks.append(postgres_check(postgres))
    if settings.sessions.enabled:
        checks.append(redis_check(settings.sessions, timeout))
    scheme = configured_scheme(settings)
    if scheme is not None and not settings.storage.disabled:
        checks.append(object_store_check(settings, scheme, timeout, dbname))
    return checks
