"""`odoo-cloud check`: exit codes and output, in subprocesses, against the real servers."""
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).parent / "odoo-cloud"
REPO = Path(__file__).resolve().parents[2]


def run(*args, env=None, script=False, timeout=60):
    """Run the CLI with exactly `env` as its environment (plus PATH): nothing leaks from ours."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "odoo_cloud.cli"]
    return subprocess.run([*command, *args], env=environ, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


def prod_env(project, **extra):
    return {"AWS_BUCKETNAME": f"{project}-odoo-prod", "ODOO_SESSION_REDIS": "1",
            "ODOO_SESSION_REDIS_HOST": "127.0.0.1", "ODOO_SESSION_REDIS_PREFIX": f"{project}-odoo-prod",
            "ODOO_LOGGING_JSON": "1", "ODOO_STATSD": "1", "STATSD_CUSTOMER": project, **extra}


# ---------------------------------------------------------------- configuration only
@pytest.mark.parametrize("script", [False, True], ids=["python -m", "console script"])
def test_a_prod_with_an_integration_bucket_exits_1_naming_the_variable(script):
    environ = {**prod_env("acme"), "AWS_BUCKETNAME": "acme-odoo-integration"}
    result = run("check", "--env", "prod", env=environ, script=script)
    assert result.returncode == 1, result
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert lines == ["PROBLEM AWS_BUCKETNAME='acme-odoo-integration': expected '<project>-odoo-prod' as a "
                     "whole name, e.g. 'acme-odoo-prod' (or set AWS_BUCKETNAME_UNSTRUCTURED=1 to bypass "
                     "the naming rule)"]
    assert "1 problem(s)" in result.stdout
    assert result.stderr == ""


def test_a_good_configuration_exits_0():
    result = run("check", "--env", "prod", env=prod_env("acme"))
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["running_env: prod (--env)", "object store: s3", "configuration OK"]


def test_every_problem_is_printed():
    result = run("check", "--env", "prod", env={"ODOO_SESSION_REDIS": "maybe", "STATSD_PORT": "x"})
    assert result.returncode == 1
    problems = [line.split("=")[0] for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert problems == ["PROBLEM ODOO_SESSION_REDIS", "PROBLEM STATSD_PORT", "PROBLEM AWS_BUCKETNAME",
                        "PROBLEM ODOO_SESSION_REDIS_HOST", "PROBLEM ODOO_SESSION_REDIS_PREFIX",
                        "PROBLEM ODOO_LOGGING_JSON", "PROBLEM ODOO_STATSD"]
    assert "7 problem(s)" in result.stdout


@pytest.mark.parametrize("environ,env,source", [
    ({"RUNNING_ENV": "dev"}, "dev", "RUNNING_ENV"),
    ({"ODOO_STAGE": "dev"}, "dev", "ODOO_STAGE"),
])
def test_the_running_env_comes_from_the_environment_without_env(environ, env, source):
    result = run("check", env=environ)
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0] == f"running_env: {env} ({source})"


def test_without_any_running_env_it_checks_as_server_environment_would():
    result = run("check", env={})
    assert result.returncode == 1  # 'test' requires Redis
    assert result.stdout.splitlines()[0] == "running_env: test (default)"
    assert "note: RUNNING_ENV and ODOO_STAGE unset" in result.stdout


@pytest.mark.parametrize("args,env,variable", [
    (["--env", "production"], {}, "--env"),
    ([], {"RUNNING_ENV": "staging"}, "RUNNING_ENV"),
    ([], {"ODOO_STAGE": "Prod"}, "ODOO_STAGE"),
])
def test_unknown_environments_exit_1(args, env, variable):
    result = run("check", *args, env=env)
    assert result.returncode == 1
    assert f"PROBLEM {variable}=" in result.stdout
    assert "one of prod, integration, test, dev" in result.stdout


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["check", "--timeout", "0"],
                                  ["check", "--timeout", "soon"], ["check", "--location", "ftp"]])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.returncode == 2, result
    assert "usage: odoo-cloud" in result.stderr


def test_an_unexpected_crash_exits_4_with_one_line_and_the_traceback():
    """A real crash: stdout closed (sys.stdout is None), so writing the report fails. Exit 4, not 1:
    a broken tool must not read as a broken configuration."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "AWS_SECRET_ACCESS_KEY": "crash-secret-value", "AWS_BUCKETNAME": "acme-odoo-dev"}
    argv = ["/bin/sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "odoo_cloud.cli",
            "check", "--env", "dev"]
    result = subprocess.run(argv, env=environ, cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 4, result
    first, *rest = result.stderr.splitlines()
    assert first.startswith("odoo-cloud: unexpected error, a bug in odoo-cloud (not a configuration "
                            "problem): AttributeError: "), first
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1].startswith("AttributeError: ")
    assert "crash-secret-value" not in result.stderr


def test_a_crash_report_masks_url_passwords():
    from odoo_cloud.cli import report_crash

    try:
        raise RuntimeError("lost redis://default:hunter2@127.0.0.1:6379/0\nsecond line")
    except RuntimeError as error:
        err = io.StringIO()
        report_crash(error, err)
    lines = err.getvalue().splitlines()
    assert lines[0].endswith("RuntimeError: lost redis://default:****@127.0.0.1:6379/0 second line"), lines
    assert lines[1] == "Traceback (most recent call last):"
    assert "hunter2" not in err.getvalue()


def test_every_exit_code_is_documented_in_the_help():
    result = run("check", "--help")
    assert result.returncode == 0
    assert "4: odoo-cloud itself crashed" in " ".join(result.stdout.split())


def test_location_is_checked_when_given():
    result = run("check", "--env", "prod", "--location", "file", env=prod_env("acme"))
    assert result.returncode == 1
    assert "PROBLEM ir_attachment.location='file': expected 's3' in prod" in result.stdout


def test_database_resolves_the_db_placeholder():
    environ = prod_env("acme", AWS_BUCKETNAME="{db}-odoo-prod")
    assert run("check", "--env", "prod", "--database", "acme", env=environ).returncode == 0
    assert run("check", "--env", "prod", "--database", "globex", env=environ).returncode == 1


def test_check_never_imports_the_migration_engine():
    code = ("import sys; from odoo_cloud.cli import main; rc = main(['check', '--env', 'dev']); "
            "print(rc, sorted(m for m in sys.modules if m.startswith('odoo_cloud.storage.migration')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={"PATH": os.environ["PATH"]}, check=False)
    assert result.stdout.splitlines()[-1] == "0 []", result


def test_migrate_is_dispatched_to_the_migration_engine():
    result = run("migrate", "--help")
    try:
        from odoo_cloud.storage.migration import cli  # noqa: F401
    except Exception:
        assert result.returncode == 2
        assert result.stderr.startswith("odoo-cloud migrate is unavailable: ")
    else:
        assert result.returncode == 0, result
        assert "usage: odoo-cloud migrate" in result.stdout


# ---------------------------------------------------------------- --connect, real servers
@pytest.fixture
def project():
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def s3_prod(s3_server, redis_server, statsd_listener, project):
    """A prod environment on the real Redis, SeaweedFS and statsd listener, its bucket created."""
    bucket = f"{project}-odoo-prod"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    environ = prod_env(project, AWS_HOST=s3_server.endpoint_url, AWS_REGION=s3_server.region,
                       AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
                       ODOO_SESSION_REDIS_HOST=redis_server.host,
                       ODOO_SESSION_REDIS_PORT=str(redis_server.port),
                       STATSD_HOST=statsd_listener.host, STATSD_PORT=str(statsd_listener.port))
    statsd_listener.clear()
    yield environ, client, bucket
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def test_connect_against_real_redis_s3_and_statsd_exits_0(s3_prod, statsd_listener, project):
    environ, client, bucket = s3_prod
    result = run("check", "--env", "prod", "--connect", "--timeout", "5", env=environ)
    assert result.returncode == 0, result
    out = result.stdout
    assert "connect redis: ok" in out and "connect s3 store: ok" in out and "connect statsd: ok" in out
    assert out.splitlines()[-1] == "connections OK"
    # the probe object was written and deleted again
    assert f"wrote, read and deleted s3://{bucket}/odoo-cloud-check/" in out
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    packets = statsd_listener.packets(timeout=2)
    assert f"odoo.cloud_platform.check.{project}.prod:1|c" in packets


def test_connect_with_redis_down_exits_3_and_names_it(s3_prod, redis_server):
    environ, _, _ = s3_prod
    with redis_server.outage():
        result = run("check", "--env", "prod", "--connect", "--timeout", "2", env=environ)
    assert result.returncode == 3, result
    assert "connect redis: FAILED" in result.stdout
    assert f"redis://127.0.0.1:{redis_server.port}" in result.stdout
    assert "connect s3 store: ok" in result.stdout
    assert "1 connection probe(s) failed" in result.stdout


def test_connect_gives_up_on_a_silent_redis_within_the_timeout(s3_prod):
    """A server that accepts the connection and never answers: the timeout, not TCP's, decides."""
    environ, _, _ = s3_prod
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        environ = {**environ, "ODOO_SESSION_REDIS_PORT": str(silent.getsockname()[1])}
        start = time.monotonic()
        result = run("check", "--env", "prod", "--connect", "--timeout", "0.5", env=environ)
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert result.returncode == 3, result
    assert "connect redis: FAILED" in result.stdout and "imeout" in result.stdout
    assert elapsed < 8


def test_connect_with_redis_password(s3_prod, redis_server_password):
    environ, _, _ = s3_prod
    environ = {**environ, "ODOO_SESSION_REDIS_PORT": str(redis_server_password.port),
               "ODOO_SESSION_REDIS_PASSWORD": redis_server_password.password}
    assert run("check", "--env", "prod", "--connect", env=environ).returncode == 0
    wrong = run("check", "--env", "prod", "--connect",
                env={**environ, "ODOO_SESSION_REDIS_PASSWORD": "nope-x1"})
    assert wrong.returncode == 3
    assert "connect redis: FAILED" in wrong.stdout and "nope-x1" not in wrong.stdout
    assert redis_server_password.password not in wrong.stdout


def test_connect_with_bad_s3_credentials_exits_3_without_the_secret(s3_prod):
    environ, _, bucket = s3_prod
    secret = "wrong-secret-" + uuid.uuid4().hex
    result = run("check", "--env", "prod", "--connect", env={**environ, "AWS_SECRET_ACCESS_KEY": secret})
    assert result.returncode == 3, result
    assert "connect s3 store: FAILED" in result.stdout
    assert f"StorageUnavailable: S3 check of s3://{bucket} failed: 403" in result.stdout
    assert secret not in result.stdout + result.stderr


def test_connect_to_a_missing_bucket_that_may_not_be_created_exits_3(s3_prod, swift_server, project):
    """Swift's s3api (SeaweedFS creates a missing bucket on the first PUT whatever we ask)."""
    environ, _, _ = s3_prod
    environ = {**environ, "AWS_HOST": swift_server.s3_endpoint_url,
               "AWS_ACCESS_KEY_ID": swift_server.s3_access_key,
               "AWS_SECRET_ACCESS_KEY": swift_server.s3_secret_key, "AWS_CREATE_BUCKET": "0"}
    result = run("check", "--env", "prod", "--connect", env=environ)
    assert result.returncode == 3, result
    assert ("connect s3 store: FAILED" in result.stdout
            and f"bucket '{project}-odoo-prod' does not exist and bucket creation is disabled"
            in result.stdout)


def test_configuration_problems_skip_the_probes(s3_prod):
    environ, _, _ = s3_prod
    result = run("check", "--env", "integration", "--connect", env=environ)
    assert result.returncode == 1
    assert "connection probes skipped" in result.stdout and "connect " not in result.stdout


@pytest.fixture
def swift_integration(swift_server, redis_server, project):
    """An integration environment (statsd optional there) on the real Swift (tempauth v1)."""
    from swiftclient import client as swift

    container = f"{project}-odoo-integration"
    connection = swift.Connection(authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key)
    connection.put_container(container)
    environ = prod_env(project, ODOO_SESSION_REDIS_PREFIX=f"{project}-odoo-integration",
                       SWIFT_AUTH_URL=swift_server.auth_url, SWIFT_ACCOUNT=swift_server.user,
                       SWIFT_PASSWORD=swift_server.key, SWIFT_WRITE_CONTAINER=container,
                       ODOO_SESSION_REDIS_HOST=redis_server.host,
                       ODOO_SESSION_REDIS_PORT=str(redis_server.port), ODOO_STATSD="0")
    del environ["AWS_BUCKETNAME"]
    yield environ, connection, container
    for item in connection.get_container(container)[1]:
        connection.delete_object(container, item["name"])
    connection.delete_container(container)
    connection.close()


def test_connect_against_real_swift_exits_0(swift_integration):
    environ, connection, container = swift_integration
    result = run("check", "--env", "integration", "--connect", env=environ)
    assert result.returncode == 0, result
    assert "connect swift store: ok" in result.stdout and "connect statsd: skipped" in result.stdout
    assert connection.get_container(container)[1] == []


def test_connect_with_a_bad_swift_key_exits_3_without_the_key(swift_integration):
    environ, _, _ = swift_integration
    result = run("check", "--env", "integration", "--connect",
                 env={**environ, "SWIFT_PASSWORD": "bad-key-zz9"})
    assert result.returncode == 3, result
    assert "connect swift store: FAILED" in result.stdout and "bad-key-zz9" not in result.stdout


def test_connect_with_swift_down_exits_3(swift_integration, swift_server):
    environ, _, _ = swift_integration
    with swift_server.outage():
        result = run("check", "--env", "integration", "--connect", "--timeout", "2", env=environ)
    assert result.returncode == 3, result
    assert "connect swift store: FAILED" in result.stdout


@pytest.mark.keystone
def test_connect_against_swift_behind_keystone_v3(keystone_swift, redis_server, project):
    container = f"{project}-odoo-integration"
    environ = prod_env(project, ODOO_SESSION_REDIS_PREFIX=container,
                       ODOO_SESSION_REDIS_HOST=redis_server.host,
                       ODOO_SESSION_REDIS_PORT=str(redis_server.port), ODOO_STATSD="0",
                       SWIFT_AUTH_URL=keystone_swift.auth_url, SWIFT_ACCOUNT=keystone_swift.username,
                       SWIFT_PASSWORD=keystone_swift.password, SWIFT_PROJECT_NAME=keystone_swift.project_name,
                       SWIFT_USER_DOMAIN_NAME=keystone_swift.user_domain_name,
                       SWIFT_PROJECT_DOMAIN_NAME=keystone_swift.project_domain_name,
                       SWIFT_REGION_NAME=keystone_swift.region_name, SWIFT_WRITE_CONTAINER=container)
    del environ["AWS_BUCKETNAME"]
    result = run("check", "--env", "integration", "--connect", env=environ)
    assert result.returncode == 0, result
    assert "connect swift store: ok" in result.stdout
    assert f"swift://{container}/odoo-cloud-check/" in result.stdout
    wrong = run("check", "--env", "integration", "--connect", env={**environ, "SWIFT_PASSWORD": "nope-kv3"})
    assert wrong.returncode == 3, wrong
    assert "connect swift store: FAILED" in wrong.stdout and "nope-kv3" not in wrong.stdout


def test_running_env_of_an_odoo_config_file_wins_over_the_variable(tmp_path):
    conf = tmp_path / "odoo.conf"
    conf.write_text("[options]\nrunning_env = dev\ndb_host = db\n")
    result = run("check", "-c", str(conf), env={"RUNNING_ENV": "prod"})
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0] == f"running_env: dev (running_env in {conf})"
    conf.write_text("[options]\nrunning_env = staging\n")
    result = run("check", "--config", str(conf))
    assert result.returncode == 1
    assert f"PROBLEM running_env in {conf}='staging'" in result.stdout
    # no running_env in the file: the variables decide, as with server_environment
    conf.write_text("[options]\ndb_host = db\n")
    result = run("check", "-c", str(conf), env={"RUNNING_ENV": "dev"})
    assert result.stdout.startswith("running_env: dev (RUNNING_ENV)")
    # --env wins over everything
    assert run("check", "-c", str(conf), "--env", "dev").stdout.startswith("running_env: dev (--env)")


def test_an_unreadable_config_file_is_a_usage_error(tmp_path):
    result = run("check", "-c", str(tmp_path / "missing.conf"))
    assert result.returncode == 2
    assert "cannot read Odoo configuration" in result.stderr


def test_json_output_for_scripts():
    environ = {**prod_env("acme"), "AWS_BUCKETNAME": "acme-odoo-test"}
    result = run("check", "--env", "prod", "--json", env=environ)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["running_env"] == "prod" and data["exit_code"] == 1 and data["ok"] is False
    expected = ("'<project>-odoo-prod' as a whole name, e.g. 'acme-odoo-prod' "
                "(or set AWS_BUCKETNAME_UNSTRUCTURED=1 to bypass the naming rule)")
    assert data["problems"] == [
        {"variable": "AWS_BUCKETNAME", "found": "'acme-odoo-test'", "expected": expected}]
    assert data["probes"] is None
    good = json.loads(run("check", "--env", "prod", "--json", env=prod_env("acme")).stdout)
    assert good["ok"] is True and good["problems"] == []
    assert good["store"] == "s3" and good["project"] == "acme"


def test_json_output_with_probes(s3_prod):
    environ, _, _ = s3_prod
    result = run("check", "--env", "prod", "--connect", "--json", env=environ)
    assert result.returncode == 0, result
    data = json.loads(result.stdout)
    assert [(p["name"], p["status"]) for p in data["probes"]] == [("redis", "ok"), ("s3 store", "ok"),
                                                                  ("s3 ownership", "ok"), ("statsd", "ok")]
    assert environ["AWS_SECRET_ACCESS_KEY"] not in result.stdout
