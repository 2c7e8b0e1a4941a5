"""Connectivity probes of `odoo-cloud check --connect`.

A deploy pipeline or an init container wants to know, before Odoo starts,
that the services the variables point at answer: Redis pings, the write
bucket/container accepts a write and a delete, statsd gets a packet. Every
probe has its own deadline so that a black-holed host costs `timeout`
seconds, not the TCP default of minutes, and no probe can hide another's
result.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Optional

from .config import Settings
from .errors import Unavailable
from .extras import missing_extra
from .masking import mask_secrets
from .storage import backends
from .storage.keys import PROBE_PREFIX  # the one key form besides content keys that a store writes

PROBE_BODY = b"odoo-cloud check probe\n"
STATSD_METRIC = "odoo.cloud_platform.check"


@dataclass(frozen=True)
class ProbeResult:
    name: str
    #: True passed, False failed, None skipped (feature not configured)
    ok: Optional[bool]
    detail: str
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return {True: "ok", False: "FAILED", None: "skipped"}[self.ok]


class ProbeFailed(Unavailable):
    """A probed dependency cannot serve this process as configured: the probe's own clear message
    (never carries a secret)."""


def _describe(error: BaseException) -> str:
    """The exception type and message (a client's message may quote a URL: masked by `run_probe`)."""
    error = missing_extra(error)
    text = str(error).strip() or repr(error)
    return f"{type(error).__name__}: {text}"


def _result(name: str, ok: Optional[bool], detail: str, seconds: float = 0.0) -> ProbeResult:
    """Every detail goes through the one URL masker: a probe prints where it went, never a secret."""
    return ProbeResult(name, ok, mask_secrets(detail), seconds)


def run_probe(name: str, probe: Callable[[], str], timeout: float) -> ProbeResult:
    """Run `probe` in a thread with a hard deadline (DNS lookups ignore socket timeouts)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["detail"] = probe()
        except BaseException as error:
            outcome["error"] = error

    start = time.monotonic()
    thread = threading.Thread(target=target, name=f"odoo-cloud-probe-{name}", daemon=True)
    thread.start()
    # the clients have their own timeouts; the grace covers a connect + a read of a slow server
    thread.join(timeout * 2 + 1)
    seconds = time.monotonic() - start
    if thread.is_alive():
        return _result(name, False, f"timeout: no answer within {timeout * 2 + 1:g} s", seconds)
    if "error" in outcome:
        error = outcome["error"]
        detail = str(error) if isinstance(error, ProbeFailed) else _describe(error)  # type: ignore[arg-type]
        return _result(name, False, detail, seconds)
    return _result(name, True, str(outcome.get("detail", "")), seconds)


# ---------------------------------------------------------------- Redis
def probe_redis(settings: Settings, timeout: float) -> ProbeResult:
    """PING through the session store's own client, with `timeout` and no retry."""
    if not settings.sessions.enabled:
        return ProbeResult("redis", None, "ODOO_SESSION_REDIS is off")
    sessions = replace(settings.sessions, timeout=timeout, connect_timeout=timeout, retries=0)
    where = sessions.display_url

    def ping() -> str:
        from .sessions.cluster import ping as ping_all
        from .sessions.connection import build_client

        client = None
        try:
            client = build_client(sessions)  # a cluster client connects here (it reads the slot map)
            if not ping_all(client):
                raise ProbeFailed(f"{where}: PING got no PONG")
        except ProbeFailed:
            raise
        except Exception as error:
            raise ProbeFailed(f"{where}: {_describe(error)}") from None
        finally:
            if client is not None:
                client.close()
        return f"PING {where}"

    return run_probe("redis", ping, timeout)


# ---------------------------------------------------------------- object store
def _probe_settings(settings: Settings, timeout: float) -> Settings:
    """The same store as Odoo's, but each call bounded by `timeout` and not retried."""
    for backend in backends.all_backends():
        settings = backend.with_timeouts(settings, timeout)
    return settings


def probe_store(settings: Settings, store: Optional[str], timeout: float,
                dbname: Optional[str] = None) -> ProbeResult:
    """Write, read back and delete a small object in the write bucket/container.

    Built by the storage factory, so the probe goes through exactly what Odoo
    uses (including creating a missing bucket when AWS_CREATE_BUCKET allows).
    """
    if settings.storage.disabled:
        return ProbeResult("object store", None, "DISABLE_ATTACHMENT_STORAGE is on")
    if store is None:
        return ProbeResult("object store", None, "no bucket or container configured")
    name = backends.get(store).bucket_template(settings)
    if name and "{db}" in name and not dbname:
        return ProbeResult(f"{store} store", False, f"{name!r} contains {{db}}: pass --database")

    def write_read_delete() -> str:
        from .storage.errors import StorageError
        from .storage.factory import build_store

        key = PROBE_PREFIX + secrets.token_hex(8)
        try:
            target = build_store(store, _probe_settings(settings, timeout), dbname)
            target.put(key, PROBE_BODY)
            if target.get(key) != PROBE_BODY:
                raise ProbeFailed(f"{target.uri(key)}: read back different bytes")
            target.delete(key)
        except StorageError as error:
            raise ProbeFailed(f"{type(error).__name__}: {error}") from None
        return f"wrote, read and deleted {target.uri(key)}"

    return run_probe(f"{store} store", write_read_delete, timeout)


def probe_ownership(settings: Settings, store: Optional[str], running_env: str, timeout: float,
                    dbname: Optional[str] = None) -> ProbeResult:
    """Who else is recorded in the write bucket/container (storage/ownership.py), and whether that
    sharing is unsafe: this non-prod environment would meet prod's bucket (writes and deletes are
    refused), or databases of several PostgreSQL clusters share it (no GC can check them all, so
    none deletes there)."""
    name = f"{store} ownership"
    if settings.storage.disabled or store is None:
        return ProbeResult(name, None, "no object store in use")
    configured = backends.get(store).bucket_template(settings)
    if configured and "{db}" in configured and not dbname:
        return ProbeResult(name, False, f"{configured!r} contains {{db}}: pass --database")

    def inspect() -> str:
        from .storage import ownership
        from .storage.errors import ObjectNotFound, StorageError
        from .storage.factory import build_store

        try:
            target = build_store(store, _probe_settings(settings, timeout), dbname)
            records = ownership.list_records(target)
        except ObjectNotFound:
            return "the bucket/container does not exist yet: no owner recorded"
        except (StorageError, ValueError) as error:
            raise ProbeFailed(f"cannot read the ownership records: {type(error).__name__}: {error}") from None
        refusal = ownership.prod_refusal(target, records, running_env, "write to or delete from")
        if refusal:
            raise ProbeFailed("UNSAFE SHARING: " + refusal)
        clusters = {record.identity.cluster for record in records}
        databases = sorted({record.identity.dbname for record in records})
        if len(clusters) > 1 or (None in clusters and len({r.identity for r in records}) > 1):
            described = "; ".join(sorted({record.describe() for record in records}))
            raise ProbeFailed(f"UNSAFE SHARING: {target.prefix} is recorded by databases of "
                              f"{len(clusters)} PostgreSQL cluster(s) (or of an unknown one): no garbage "
                              f"collector can check them all, so none deletes there: {described}")
        if not records:
            return f"{target.prefix}: no database recorded yet (Odoo records itself at registry load)"
        return f"{target.prefix}: {len(databases)} database(s) of one cluster: {', '.join(databases)}"

    return run_probe(name, inspect, timeout)


# ---------------------------------------------------------------- statsd
def probe_statsd(settings: Settings, running_env: str, timeout: float) -> ProbeResult:
    """UDP has no answer: this proves the host resolves and a packet leaves, nothing more."""
    st = settings.statsd
    if not st.enabled:
        return ProbeResult("statsd", None, "ODOO_STATSD is off")

    def send() -> str:
        import statsd

        metric = f"{STATSD_METRIC}.{st.customer or 'unknown'}.{st.environment or running_env}"
        client = statsd.StatsClient(st.host, st.port)
        try:
            client.incr(metric)
        finally:
            client.close()
        return f"sent {metric}:1|c to udp://{st.host}:{st.port}"

    return run_probe("statsd", send, timeout)
