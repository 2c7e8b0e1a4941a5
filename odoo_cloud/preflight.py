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
from dataclasses import dataclass
from typing import Optional

from .config import Settings

PROBE_PREFIX = "odoo-cloud-check/"
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


class ProbeFailed(Exception):
    """A probe's own clear message (never carries a secret)."""


def _describe(error: BaseException) -> str:
    """The exception type and message; messages from our clients carry no credentials."""
    text = str(error).strip() or repr(error)
    return f"{type(error).__name__}: {text}"


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
        return ProbeResult(name, False, f"timeout: no answer within {timeout * 2 + 1:g} s", seconds)
    if "error" in outcome:
        error = outcome["error"]
        detail = str(error) if isinstance(error, ProbeFailed) else _describe(error)  # type: ignore[arg-type]
        return ProbeResult(name, False, detail, seconds)
    return ProbeResult(name, True, str(outcome.get("detail", "")), seconds)


# ---------------------------------------------------------------- Redis
def redis_client(settings: Settings, timeout: float):
    """A redis-py client for the session settings (URL, Sentinel or host/port)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    s = settings.sessions
    # redis-py retries 3 times by default: a probe answers for one attempt within `timeout`
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
    password = s.password.reveal() if s.password else None
    if s.url:
        return redis.Redis.from_url(s.url.reveal(), **options)
    if s.sentinel_host:
        from redis.sentinel import Sentinel

        sentinel = Sentinel([(s.sentinel_host, s.sentinel_port)], sentinel_kwargs=options, **options)
        return sentinel.master_for(s.sentinel_master_name or "mymaster", password=password)
    return redis.Redis(host=s.host, port=s.port, password=password, **options)


def probe_redis(settings: Settings, timeout: float) -> ProbeResult:
    if not settings.sessions.enabled:
        return ProbeResult("redis", None, "ODOO_SESSION_REDIS is off")
    where = settings.sessions.display_url

    def ping() -> str:
        client = redis_client(settings, timeout)
        try:
            if client.ping() is not True:
                raise ProbeFailed(f"{where}: PING got no PONG")
        except ProbeFailed:
            raise
        except Exception as error:
            raise ProbeFailed(f"{where}: {_describe(error)}") from None
        finally:
            client.close()
        return f"PING {where}"

    return run_probe("redis", ping, timeout)


# ---------------------------------------------------------------- object store
def _s3_endpoint(host: Optional[str]) -> Optional[str]:
    if not host:
        return None
    return host if "://" in host else f"https://{host}"


def _probe_key() -> str:
    return PROBE_PREFIX + secrets.token_hex(8)


def _probe_s3(settings: Settings, bucket: str, timeout: float) -> str:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = settings.s3
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=_s3_endpoint(s3.host),
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key.reveal() if s3.secret_access_key else None,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1},
                      signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = _probe_key()
    where = f"s3://{bucket} at {_s3_endpoint(s3.host) or 'AWS'}"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=PROBE_BODY)
        client.delete_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        raise ProbeFailed(f"{where}: write+delete refused ({code})") from None
    except BotoCoreError as error:
        raise ProbeFailed(f"{where}: {_describe(error)}") from None
    return f"wrote and deleted {key} in {where}"


def _probe_swift(settings: Settings, container: str, timeout: float) -> str:
    from swiftclient import client as swift
    from swiftclient.exceptions import ClientException

    sw = settings.swift
    auth_version = "3" if (sw.auth_url or "").rstrip("/").endswith("/v3") else "1"
    connection = swift.Connection(
        authurl=sw.auth_url, user=sw.account, key=sw.password.reveal() if sw.password else None,
        auth_version=auth_version, timeout=timeout, retries=0,
    )
    key = _probe_key()
    where = f"swift://{container} at {sw.auth_url}"
    try:
        connection.put_object(container, key, PROBE_BODY)
        connection.delete_object(container, key)
    except ClientException as error:
        status = getattr(error, "http_status", None)
        raise ProbeFailed(f"{where}: write+delete refused (HTTP {status}: {error.msg})") from None
    except (TimeoutError, OSError) as error:
        raise ProbeFailed(f"{where}: {_describe(error)}") from None
    finally:
        connection.close()
    return f"wrote and deleted {key} in {where}"


def probe_store(settings: Settings, store: Optional[str], timeout: float,
                dbname: Optional[str] = None) -> ProbeResult:
    if settings.storage.disabled:
        return ProbeResult("object store", None, "DISABLE_ATTACHMENT_STORAGE is on")
    if store is None:
        return ProbeResult("object store", None, "no bucket or container configured")
    name = settings.s3.bucket_name if store == "s3" else settings.swift.write_container
    assert name is not None
    if "{db}" in name:
        if not dbname:
            return ProbeResult(f"{store} store", False, f"{name!r} contains {{db}}: pass --database")
        name = name.replace("{db}", dbname)
    if store == "s3":
        return run_probe("s3 store", lambda: _probe_s3(settings, name, timeout), timeout)
    return run_probe("swift store", lambda: _probe_swift(settings, name, timeout), timeout)


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
