"""Smoke tests of the harness: each fixture is a real server that does its job with the real client."""

from __future__ import annotations

import urllib.error
import urllib.request

import boto3
import psycopg2
import pytest
import redis
import requests
import statsd
import swiftclient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from redis.backoff import NoBackoff
from redis.retry import Retry


def s3_client(endpoint_url: str, region: str, access_key: str, secret_key: str):
    """The client settings every S3 server here needs (SERVERS.md)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            response_checksum_validation="when_required",
            retries={"max_attempts": 1},
        ),
    )


# ---------------------------------------------------------------------------- redis
def no_retry() -> Retry:
    """redis-py retries connection (and auth) errors with backoff by default: fail at once here."""
    return Retry(NoBackoff(), 0)


def test_redis_set_get(redis_server, unique_prefix):
    client = redis.Redis.from_url(redis_server.url)
    client.set(f"{unique_prefix}:k", b"value", ex=60)
    assert client.get(f"{unique_prefix}:k") == b"value"
    assert client.ttl(f"{unique_prefix}:k") > 0


def test_redis_password_is_enforced(redis_server_password, unique_prefix):
    anonymous = redis.Redis(
        host=redis_server_password.host, port=redis_server_password.port, retry=no_retry()
    )
    with pytest.raises(redis.AuthenticationError):
        anonymous.set(f"{unique_prefix}:k", b"v")
    wrong = redis.Redis(
        host=redis_server_password.host, port=redis_server_password.port, password="wrong", retry=no_retry()
    )
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    client = redis.Redis(
        host=redis_server_password.host,
        port=redis_server_password.port,
        password=redis_server_password.password,
    )
    client.set(f"{unique_prefix}:k", b"v")
    assert redis.Redis.from_url(redis_server_password.url).get(f"{unique_prefix}:k") == b"v"


def test_redis_outage_and_recovery_on_same_port(redis_server, unique_prefix):
    client = redis.Redis(
        host=redis_server.host, port=redis_server.port, socket_connect_timeout=1, retry=no_retry()
    )
    port = redis_server.port
    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.start()
    assert redis_server.port == port
    assert client.ping() is True


def test_redis_cluster_three_masters_with_a_replica_each_serving_every_slot(redis_cluster, unique_prefix):
    topology = redis_cluster.topology()
    assert len(topology) == 3
    assert sum(slots for slots, _replicas in topology.values()) == 16384
    assert all(len(replicas) == 1 for _slots, replicas in topology.values())
    client = redis.RedisCluster(host=redis_cluster.host, port=redis_cluster.port)
    try:
        keys = [f"{unique_prefix}:{n}" for n in range(30)]
        for key in keys:
            client.set(key, key)
        assert {client.get_node_from_key(key).port for key in keys} == set(topology)
        assert [client.get(key).decode() for key in keys] == keys
        client.delete(*keys)
    finally:
        client.close()


# ---------------------------------------------------------------------------- S3 (two real servers)
@pytest.fixture(params=["seaweedfs", "swift-s3api"])
def any_s3(request):
    """Both real S3 servers, with the same attributes: endpoint_url, region, access_key, secret_key."""
    if request.param == "seaweedfs":
        server = request.getfixturevalue("s3_server")
        return server.endpoint_url, server.region, server.access_key, server.secret_key
    swift = request.getfixturevalue("swift_server")
    return swift.s3_endpoint_url, swift.region, swift.s3_access_key, swift.s3_secret_key


def test_s3_put_get_range_and_presigned(any_s3, unique_prefix):
    client = s3_client(*any_s3)
    client.create_bucket(Bucket=unique_prefix)
    client.put_object(Bucket=unique_prefix, Key="a/b.txt", Body=b"hello world")
    assert client.get_object(Bucket=unique_prefix, Key="a/b.txt")["Body"].read() == b"hello world"
    ranged = client.get_object(Bucket=unique_prefix, Key="a/b.txt", Range="bytes=6-10")
    assert ranged["Body"].read() == b"world"

    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": unique_prefix, "Key": "a/b.txt"}, ExpiresIn=60
    )
    assert "X-Amz-Signature" in get_url
    with urllib.request.urlopen(get_url, timeout=10) as response:
        assert response.read() == b"hello world"

    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": unique_prefix, "Key": "up"}, ExpiresIn=60
    )
    with urllib.request.urlopen(urllib.request.Request(put_url, data=b"uploaded", method="PUT"), timeout=10):
        pass
    assert client.get_object(Bucket=unique_prefix, Key="up")["Body"].read() == b"uploaded"

    client.delete_objects(Bucket=unique_prefix, Delete={"Objects": [{"Key": "a/b.txt"}, {"Key": "up"}]})
    assert client.list_objects_v2(Bucket=unique_prefix).get("KeyCount") == 0


def test_s3_rejects_bad_credentials(any_s3):
    endpoint, region, access_key, _ = any_s3
    client = s3_client(endpoint, region, access_key, "not-the-secret")
    with pytest.raises(ClientError) as error:
        client.list_buckets()
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_seaweedfs_outage_keeps_port_and_data(s3_server, unique_prefix):
    client = s3_server.client()
    client.create_bucket(Bucket=unique_prefix)
    client.put_object(Bucket=unique_prefix, Key="k", Body=b"persisted")
    endpoint = s3_server.endpoint_url
    with s3_server.outage():
        with pytest.raises(EndpointConnectionError):
            s3_server.client().head_bucket(Bucket=unique_prefix)
    assert s3_server.endpoint_url == endpoint
    assert client.get_object(Bucket=unique_prefix, Key="k")["Body"].read() == b"persisted"


# ---------------------------------------------------------------------------- Swift v1 (tempauth)
def test_swift_v1_put_get(swift_server, unique_prefix):
    conn = swiftclient.Connection(
        authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key, retries=0
    )
    conn.put_container(unique_prefix)
    conn.put_object(unique_prefix, "obj", b"swift data", headers={"X-Object-Meta-Small": "1"})
    headers, body = conn.get_object(unique_prefix, "obj")
    assert body == b"swift data"
    assert headers["x-object-meta-small"] == "1"


def test_swift_outage_keeps_port_and_data(swift_server, unique_prefix):
    conn = swiftclient.Connection(
        authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key, retries=0
    )
    conn.put_container(unique_prefix)
    conn.put_object(unique_prefix, "obj", b"kept")
    proxy = swift_server.proxy_url
    with swift_server.outage():
        with pytest.raises(requests.ConnectionError):
            swiftclient.Connection(
                authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key, retries=0
            ).head_account()
    assert swift_server.proxy_url == proxy
    conn = swiftclient.Connection(
        authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key, retries=0
    )
    assert conn.get_object(unique_prefix, "obj")[1] == b"kept"


# ---------------------------------------------------------------------------- Swift behind Keystone v3
def test_keystone_v3_session_and_swift(keystone_swift, unique_prefix):
    auth = v3.Password(
        auth_url=keystone_swift.auth_url,
        username=keystone_swift.username,
        password=keystone_swift.password,
        project_name=keystone_swift.project_name,
        user_domain_name=keystone_swift.user_domain_name,
        project_domain_name=keystone_swift.project_domain_name,
    )
    sess = ks_session.Session(auth=auth)
    conn = swiftclient.Connection(
        session=sess, os_options={"region_name": keystone_swift.region_name}, retries=0
    )
    conn.put_container(unique_prefix)
    conn.put_object(unique_prefix, "obj", b"via keystone")
    assert conn.get_object(unique_prefix, "obj")[1] == b"via keystone"
    # the storage URL came from Keystone's catalog and points at the Keystone-backed proxy
    assert conn.get_auth()[0].startswith(keystone_swift.proxy_url + "/v1/AUTH_")

    # the same object through s3api + s3token (EC2 credentials)
    s3 = s3_client(
        keystone_swift.s3_endpoint_url,
        "us-east-1",
        keystone_swift.s3_access_key,
        keystone_swift.s3_secret_key,
    )
    assert s3.get_object(Bucket=unique_prefix, Key="obj")["Body"].read() == b"via keystone"


def test_keystone_rejects_wrong_password(keystone_swift):
    from keystoneauth1.exceptions import Unauthorized

    auth = v3.Password(
        auth_url=keystone_swift.auth_url,
        username=keystone_swift.username,
        password="wrong",
        project_name=keystone_swift.project_name,
        user_domain_name=keystone_swift.user_domain_name,
        project_domain_name=keystone_swift.project_domain_name,
    )
    with pytest.raises(Unauthorized):
        ks_session.Session(auth=auth).get_token()


# ---------------------------------------------------------------------------- statsd
def test_statsd_packets_arrive(statsd_listener, unique_prefix):
    statsd_listener.clear()
    client = statsd.StatsClient(statsd_listener.host, statsd_listener.port, prefix=unique_prefix)
    client.incr("hits")
    client.timing("latency", 12)
    packets = statsd_listener.packets(timeout=2, min_count=2)
    assert f"{unique_prefix}.hits:1|c" in packets
    assert any(p.startswith(f"{unique_prefix}.latency:12") and p.endswith("|ms") for p in packets)
    statsd_listener.clear()
    assert statsd_listener.packets(timeout=0) == []


# ---------------------------------------------------------------------------- PostgreSQL
def test_postgres_database(postgres_server, unique_prefix):
    name = unique_prefix.replace("-", "_")
    dsn = postgres_server.create_database(name)
    assert dsn == postgres_server.dsn(name)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_setting('server_version_num')::int")
        database, version = cur.fetchone()
    conn.close()
    assert database == name
    assert version // 10000 == 15
