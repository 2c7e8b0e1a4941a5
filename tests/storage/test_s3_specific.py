"""S3-only behaviour: server-side encryption, client settings, one client per process across fork."""
from __future__ import annotations

import hashlib

import pytest

from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.storage import StorageUnavailable, factory
from tests.forking import passes_in_forked_child

from .conftest import make_store, s3_env


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def seaweed_env(s3_server, bucket, **extra):
    return s3_env(s3_server.endpoint_url, s3_server.region, s3_server.access_key, s3_server.secret_key,
                  bucket, **extra)


def test_sse_s3_is_applied(s3_server, unique_prefix):
    store = make_store("s3", seaweed_env(s3_server, unique_prefix, AWS_SERVER_SIDE_ENCRYPTION="AES256"))
    data = b"secret document"
    store.put(sha1(data), data)
    head = s3_server.client().head_object(Bucket=store.bucket, Key=sha1(data))
    assert head["ServerSideEncryption"] == "AES256"
    assert store.get(sha1(data)) == data


def test_sse_kms_without_a_kms_is_a_clear_error(s3_server, unique_prefix):
    """SeaweedFS has no KMS configured here: the request carries aws:kms + key id and the
    server refuses it; this proves the parameters are sent and the failure is clear."""
    store = make_store("s3", seaweed_env(s3_server, unique_prefix, AWS_SERVER_SIDE_ENCRYPTION="aws:kms",
                                         AWS_SSE_KMS_KEY_ID="alias/odoo"))
    with pytest.raises(StorageUnavailable, match=r"s3://.*failed: \w+ \(HTTP 5\d\d\)"):
        store.put(sha1(b"x"), b"x")


def test_sse_on_a_server_without_encryption_is_a_clear_error(swift_server, unique_prefix):
    store = make_store("s3", s3_env(swift_server.s3_endpoint_url, "us-east-1", swift_server.s3_access_key,
                                    swift_server.s3_secret_key, unique_prefix,
                                    AWS_SERVER_SIDE_ENCRYPTION="AES256"))
    with pytest.raises(StorageUnavailable, match="NotImplemented"):
        store.put(sha1(b"x"), b"x")


def test_client_settings_are_explicit(s3_server, unique_prefix):
    store = make_store("s3", seaweed_env(s3_server, unique_prefix, AWS_CONNECT_TIMEOUT="1.5",
                                         AWS_READ_TIMEOUT="7", AWS_MAX_ATTEMPTS="4"))
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 7.0)
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    assert config.signature_version == "s3v4" and config.s3["addressing_style"] == "path"
    assert store.client.meta.endpoint_url == s3_server.endpoint_url


def test_host_without_scheme_defaults_to_https_and_aws_to_auto_addressing():
    settings = load_settings({"AWS_HOST": "s3.example.com", "AWS_BUCKETNAME": "b"})
    assert settings.s3.endpoint_url == "https://s3.example.com"
    assert settings.s3.addressing_style == "path"
    assert load_settings({"AWS_BUCKETNAME": "b"}).s3.addressing_style == "auto"


def test_bad_settings_name_every_variable():
    with pytest.raises(ConfigError) as info:
        load_settings({
            "AWS_SERVER_SIDE_ENCRYPTION": "rot13", "AWS_SSE_KMS_KEY_ID": "k", "AWS_READ_TIMEOUT": "-1",
            "AWS_MAX_ATTEMPTS": "many", "AWS_CREATE_BUCKET": "maybe", "AWS_ADDRESSING_STYLE": "dns",
            "SWIFT_AUTH_VERSION": "2", "SWIFT_RETRIES": "x", "SWIFT_CREATE_CONTAINER": "2",
            "ATTACHMENT_STORAGE_PRESIGNED_URL": "sure", "ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY": "1",
            "ATTACHMENT_STORAGE_KNOWN_KEYS": "-5"})
    assert set(info.value.variables) == {
        "AWS_SERVER_SIDE_ENCRYPTION", "AWS_SSE_KMS_KEY_ID", "AWS_READ_TIMEOUT", "AWS_MAX_ATTEMPTS",
        "AWS_CREATE_BUCKET", "AWS_ADDRESSING_STYLE", "SWIFT_AUTH_VERSION", "SWIFT_RETRIES",
        "SWIFT_CREATE_CONTAINER", "ATTACHMENT_STORAGE_PRESIGNED_URL",
        "ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY", "ATTACHMENT_STORAGE_KNOWN_KEYS"}
    assert "1/true/yes/on" in str(info.value)


def test_keystone_needs_a_project():
    with pytest.raises(ConfigError, match="SWIFT_PROJECT_NAME"):
        load_settings({"SWIFT_AUTH_URL": "https://keystone.example.com/v3", "SWIFT_WRITE_CONTAINER": "c"})


def test_one_client_per_process_rebuilt_after_fork(s3_server, unique_prefix):
    env = seaweed_env(s3_server, unique_prefix)
    store = make_store("s3", env)
    assert make_store("s3", env) is store
    other_bucket = make_store("s3", seaweed_env(s3_server, unique_prefix + "-b"))
    assert other_bucket.client is store.client  # same endpoint: one client
    parent_client = store.client
    store.put(sha1(b"parent"), b"parent")

    def child():  # must build its own client and work
        return store.client is not parent_client and store.get(sha1(b"parent")) == b"parent" \
            and store.put(sha1(b"child"), b"child") in (True, False)

    assert passes_in_forked_child(child)
    assert store.client is parent_client
    assert store.get(sha1(b"child")) == b"child"


def test_disabled_storage_never_builds_a_store(s3_server, unique_prefix):
    from odoo_cloud.storage import StorageDisabled

    env = seaweed_env(s3_server, unique_prefix, DISABLE_ATTACHMENT_STORAGE="1")
    with pytest.raises(StorageDisabled, match="DISABLE_ATTACHMENT_STORAGE"):
        factory.build_store("s3", load_settings(env))


def test_without_keys_the_default_credential_chain_is_used(s3_server, unique_prefix, tmp_path, monkeypatch):
    """No AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: boto3's chain (here a shared credentials file, as a
    profile or IRSA would provide) signs the requests."""
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {s3_server.access_key}\n"
                           f"aws_secret_access_key = {s3_server.secret_key}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    env = seaweed_env(s3_server, unique_prefix)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    store = make_store("s3", env)
    assert store.put(sha1(b"chain"), b"chain") is True
    assert store.get(sha1(b"chain")) == b"chain"
