"""DESIGN.md §3 variables that point Odoo at running devstack servers: one place for the names.

Used by `python -m devstack run` (the hand-run stack) and scripts/odoo_tests.py (the Odoo test runner);
each caller picks its bucket, key prefix and statsd names.
"""
from __future__ import annotations


def s3_variables(s3, bucket: str) -> dict[str, str]:
    """attachment_s3 on `s3` (a SeaweedFSServer or any endpoint_url/region/keys holder), one bucket."""
    return {
        "AWS_HOST": s3.endpoint_url,
        "AWS_REGION": s3.region,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_BUCKETNAME": bucket,
    }


def swift_variables(swift, container: str) -> dict[str, str]:
    """attachment_swift on a tempauth (v1) Swift, one container."""
    return {
        "SWIFT_AUTH_URL": swift.auth_url,
        "SWIFT_ACCOUNT": swift.user,
        "SWIFT_PASSWORD": swift.key,
        "SWIFT_WRITE_CONTAINER": container,
    }


def session_redis_variables(redis, prefix: str) -> dict[str, str]:
    """session_redis switched on, sessions under `prefix` in `redis` (no password)."""
    return {
        "ODOO_SESSION_REDIS": "1",
        "ODOO_SESSION_REDIS_HOST": redis.host,
        "ODOO_SESSION_REDIS_PORT": str(redis.port),
        "ODOO_SESSION_REDIS_PREFIX": prefix,
    }


def statsd_variables(statsd, customer: str, environment: str) -> dict[str, str]:
    """monitoring_statsd switched on, sending to `statsd` as odoo.*.<customer>.<environment>."""
    return {
        "ODOO_STATSD": "1",
        "STATSD_HOST": statsd.host,
        "STATSD_PORT": str(statsd.port),
        "STATSD_CUSTOMER": customer,
        "STATSD_ENVIRONMENT": environment,
    }
