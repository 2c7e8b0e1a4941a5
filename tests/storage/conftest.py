"""Stores built the way production builds them (settings from environment variables, the
factory) against the real servers of tests/conftest.py."""
from __future__ import annotations

import pytest

from odoo_cloud.config import load_settings
from odoo_cloud.storage import factory

FAST = {  # short timeouts and few retries: outage tests must fail in seconds, not minutes
    "AWS_CONNECT_TIMEOUT": "1", "AWS_READ_TIMEOUT": "5", "AWS_MAX_ATTEMPTS": "2",
    "SWIFT_CONNECT_TIMEOUT": "1", "SWIFT_READ_TIMEOUT": "5", "SWIFT_RETRIES": "1",
}


def s3_env(endpoint_url, region, access_key, secret_key, bucket, **extra):
    return {"AWS_HOST": endpoint_url, "AWS_REGION": region, "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key, "AWS_BUCKETNAME": bucket, **FAST, **extra}


def swift_v1_env(server, container, **extra):
    return {"SWIFT_AUTH_URL": server.auth_url, "SWIFT_ACCOUNT": server.user, "SWIFT_PASSWORD": server.key,
            "SWIFT_WRITE_CONTAINER": container, **FAST, **extra}


def swift_v3_env(ks, container, **extra):
    return {"SWIFT_AUTH_URL": ks.auth_url, "SWIFT_ACCOUNT": ks.username, "SWIFT_PASSWORD": ks.password,
            "SWIFT_PROJECT_NAME": ks.project_name, "SWIFT_USER_DOMAIN_NAME": ks.user_domain_name,
            "SWIFT_PROJECT_DOMAIN_NAME": ks.project_domain_name, "SWIFT_REGION_NAME": ks.region_name,
            "SWIFT_WRITE_CONTAINER": container, **FAST, **extra}


BACKENDS = ["seaweedfs", "swift-s3api", "swift-v1", "swift-keystone"]


def backend_env(request, backend: str, bucket: str, **extra) -> tuple[str, dict]:
    """(scheme, environment) for one of BACKENDS; starts only the servers it needs."""
    if backend == "seaweedfs":
        s = request.getfixturevalue("s3_server")
        return "s3", s3_env(s.endpoint_url, s.region, s.access_key, s.secret_key, bucket, **extra)
    if backend == "swift-s3api":
        s = request.getfixturevalue("swift_server")
        return "s3", s3_env(s.s3_endpoint_url, "us-east-1", s.s3_access_key, s.s3_secret_key, bucket, **extra)
    if backend == "swift-v1":
        return "swift", swift_v1_env(request.getfixturevalue("swift_server"), bucket, **extra)
    if backend == "swift-keystone":
        return "swift", swift_v3_env(request.getfixturevalue("keystone_swift"), bucket, **extra)
    raise ValueError(backend)


def make_store(scheme: str, env: dict, dbname=None):
    return factory.build_store(scheme, load_settings(env), dbname=dbname)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def store(request, backend, unique_prefix):
    """A store of each backend writing to a fresh bucket/container."""
    scheme, env = backend_env(request, backend, unique_prefix)
    return make_store(scheme, env)


@pytest.fixture
def server_of(request, backend):
    """The server process behind `backend` (to stop and restart it)."""
    return request.getfixturevalue("s3_server" if backend == "seaweedfs" else "swift_server")
