"""A storage error names the endpoint it failed to reach, never credentials put into that endpoint URL.

Real failures: nothing listens on the port, so boto3 fails for real and the store's error (and the
`odoo-cloud check --connect` probe that goes through the same store) quotes the endpoint.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack._process import free_port
from odoo_cloud.config import load_settings
from odoo_cloud.storage.errors import StorageUnavailable
from odoo_cloud.storage.factory import build_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def secret_endpoint():
    secret = "ep" + uuid.uuid4().hex[:16]
    endpoint = f"http://user:{secret}@127.0.0.1:{free_port()}/?token={secret}x"
    return secret, {"AWS_HOST": endpoint, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
                    "AWS_REGION": "us-east-1", "AWS_BUCKETNAME": f"mask-{uuid.uuid4().hex[:8]}-odoo-dev",
                    "AWS_MAX_ATTEMPTS": "1"}


def test_the_store_error_masks_the_endpoint(secret_endpoint):
    secret, environ = secret_endpoint
    store = build_store("s3", load_settings(environ), None)
    with pytest.raises(StorageUnavailable) as info:
        store.put(hashlib.sha1(b"x").hexdigest(), b"x")  # a key a store writes (keys.validate_key)
    assert secret not in str(info.value) and "user:****@127.0.0.1" in str(info.value), str(info.value)


def test_the_check_probe_masks_the_endpoint(secret_endpoint):
    secret, environ = secret_endpoint
    result = subprocess.run([sys.executable, "-m", "odoo_cloud.cli", "check", "--env", "dev", "--connect",
                             "--timeout", "2"],
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ}, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 3 and "connect s3 store: FAILED" in output, output
    assert secret not in output, output
