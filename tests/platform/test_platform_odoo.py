"""cloud_platform in a real Odoo 18: refusal at registry load, the UNSAFE bypass, install() per environment.

These need environment variables at odoo-bin start, so each scenario is an odoo-bin subprocess on a copy
(CREATE DATABASE ... TEMPLATE) of one database where cloud_platform was installed once (itself a copy of
the session's `base` + `web` database).
"""
import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest

from devstack.odoo import (
    ODOO_PYTHON,
    ODOO_VENV,
    bare_environment,
    database_options,
    find_venv_odoo,
    odoo_command,
)
from devstack.odoo_db import OdooInstall
from devstack.paths import REPO_ROOT

ODOO_ROOT, ODOO_WHY = find_venv_odoo()
if ODOO_ROOT is None:
    pytest.skip(f"Odoo tests SKIPPED: {ODOO_WHY} (run scripts/setup_odoo.sh)", allow_module_level=True)

TIMEOUT = 600


class Odoo:
    """odoo-bin against the test PostgreSQL, one data dir, only the variables a test gives."""

    def __init__(self, postgres, data_dir: Path):
        self.pg = postgres
        self.data_dir = data_dir

    def run(self, dbname, environ, *args, stdin=None, timeout=TIMEOUT):
        argv = [*odoo_command(ODOO_ROOT, ODOO_PYTHON), *args[:1],
                *database_options(ODOO_ROOT, self.pg, dbname, self.data_dir), "--no-http",
                "--log-level=info", *args[1:]]
        return subprocess.run(argv, env=bare_environment(environ), input=stdin, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def anthem(self, dbname, environ, target):
        """`anthem <target> -d db ...`, the way a deploy script plays a song."""
        argv = [str(ODOO_VENV / "bin" / "anthem"), target,
                *database_options(ODOO_ROOT, self.pg, dbname, self.data_dir)]
        return subprocess.run(argv, env=bare_environment(environ), capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)

    def shell(self, dbname, environ, code):
        return self.run(dbname, environ, "shell", stdin=code)

    def server(self, dbname, environ, *args):
        return self.run(dbname, environ, "server", "--stop-after-init", *args)

    def sql(self, dbname, query, params=()):
        with psycopg2.connect(self.pg.dsn(dbname)) as conn, conn.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None

    def copy(self, template):
        name = f"{template}_{uuid.uuid4().hex[:6]}"
        self.sql("postgres", "SELECT 1")  # fail early with a clear error if the server is gone
        conn = psycopg2.connect(self.pg.dsn("postgres"))
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        conn.close()
        source = self.data_dir / "filestore" / template
        if source.exists():
            shutil.copytree(source, self.data_dir / "filestore" / name)
        return name


def log_of(result):
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def odoo(postgres_server, tmp_path_factory):
    return Odoo(postgres_server, tmp_path_factory.mktemp("odoo-data"))


@pytest.fixture(scope="session")
def template_db(odoo, odoo_databases):
    """One database with cloud_platform installed (as dev: nothing required) and 3 file attachments:
    a copy of the session's `base` + `web` database (tests/conftest.py) with the addons installed into it."""
    # cloud_platform no longer brings a storage provider (installing it must not force boto3 and
    # swiftclient): the deployments tested here install the ones they use
    name = odoo_databases.copy(OdooInstall("18.0", ODOO_ROOT, ODOO_PYTHON), odoo.data_dir, prefix="cp",
                               install=["cloud_platform", "attachment_s3", "attachment_swift"],
                               environ={"RUNNING_ENV": "dev"})
    seeded = odoo.shell(name, {"RUNNING_ENV": "dev"}, SEED)
    assert seeded.returncode == 0 and "SEEDED 3" in seeded.stdout, log_of(seeded)[-5000:]
    return name


SEED = """
env['ir.config_parameter'].set_param('ir_attachment.location', 'file')
for i in range(3):
    env['ir.attachment'].create({'name': f'doc{i}.txt', 'raw': (f'cloud platform %d ' % i).encode() * 2000})
env.cr.commit()
print('SEEDED', env['ir.attachment'].search_count([('name', 'like', 'doc%.txt')]))
"""


def redis_env(redis_server, project, env):
    return {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": redis_server.host,
            "ODOO_SESSION_REDIS_PORT": str(redis_server.port),
            "ODOO_SESSION_REDIS_PREFIX": f"{project}-odoo-{env}"}


def s3_env(s3_server, bucket):
    return {"AWS_HOST": s3_server.endpoint_url, "AWS_REGION": s3_server.region,
            "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
            "AWS_BUCKETNAME": bucket}


@pytest.fixture
def prod_env(redis_server, s3_server, statsd_listener):
    project = "t" + uuid.uuid4().hex[:8]
    return {"RUNNING_ENV": "prod", **redis_env(redis_server, project, "prod"),
            **s3_env(s3_server, f"{project}-odoo-prod"), "ODOO_LOGGING_JSON": "1", "ODOO_STATSD": "1",
            "STATSD_CUSTOMER": project, "STATSD_HOST": statsd_listener.host,
            "STATSD_PORT": str(statsd_listener.port)}


# ---------------------------------------------------------------- refusal at registry load
def test_prod_with_a_wrong_bucket_refuses_to_load(odoo, template_db, prod_env):
    db = odoo.copy(template_db)
    project = prod_env["STATSD_CUSTOMER"]
    environ = {**prod_env, "AWS_BUCKETNAME": f"{project}-odoo-integration"}
    environ.pop("ODOO_LOGGING_JSON")
    result = odoo.server(db, environ)
    log = log_of(result)
    assert result.returncode != 0, log[-3000:]
    assert f"cloud_platform: database {db} refused to load" in log
    assert "Failed to initialize database" in log
    # one error listing every problem
    assert "2 problem(s)" in log
    assert f"AWS_BUCKETNAME='{project}-odoo-integration': expected '<project>-odoo-prod'" in log
    assert "ODOO_LOGGING_JSON=<unset>: expected on" in log
    assert prod_env["AWS_SECRET_ACCESS_KEY"] not in log


def test_the_same_database_loads_with_the_unsafe_bypass(odoo, template_db, prod_env):
    db = odoo.copy(template_db)
    environ = {**prod_env, "AWS_BUCKETNAME": "acme-odoo-integration", "ODOO_CLOUD_PLATFORM_UNSAFE": "1"}
    result = odoo.server(db, environ)
    log = log_of(result)
    assert result.returncode == 0, log[-3000:]
    assert "ODOO_CLOUD_PLATFORM_UNSAFE is on, database" in log and "acme-odoo-integration" in log


def test_a_malformed_unsafe_flag_does_not_bypass(odoo, template_db, prod_env):
    db = odoo.copy(template_db)
    result = odoo.server(db, {**prod_env, "AWS_BUCKETNAME": "x", "ODOO_CLOUD_PLATFORM_UNSAFE": "please"})
    assert result.returncode != 0
    assert "ODOO_CLOUD_PLATFORM_UNSAFE='please'" in log_of(result)


def test_an_unknown_running_env_refuses_to_load(odoo, template_db):
    db = odoo.copy(template_db)
    result = odoo.server(db, {"RUNNING_ENV": "staging"})
    assert result.returncode != 0
    assert "running_env='staging': expected one of prod, integration, test, dev" in log_of(result)


def test_a_good_prod_loads_and_only_warns_about_the_location(odoo, template_db, prod_env):
    db = odoo.copy(template_db)
    result = odoo.server(db, prod_env)
    log = log_of(result)
    assert result.returncode == 0, log[-3000:]
    assert "ir_attachment.location='file': expected 's3' in prod" in log


# ---------------------------------------------------------------- install()
INSTALL = """
result = env['cloud.platform'].install()
env.cr.commit()
print('INSTALLED', result['location_before'], result['location'])
print('MOVED', (result['migration'] or {}).get('moved'), (result['migration'] or {}).get('failed'))
again = env['cloud.platform'].install()
env.cr.commit()
print('AGAIN', again['location_before'], again['location'])
print('MOVED AGAIN', (again['migration'] or {}).get('moved'))
"""


def moved(result):
    """(moved, failed) of the first install(), and moved of the second, from the shell's output."""
    first = next(line for line in result.stdout.splitlines() if line.startswith("MOVED "))
    again = next(line for line in result.stdout.splitlines() if line.startswith("MOVED AGAIN "))
    _, count, failed = first.split()
    return int(count), int(failed), int(again.split()[-1])


def attachments(odoo, db):
    return odoo.sql(db, "SELECT name, store_fname, db_datas IS NOT NULL FROM ir_attachment "
                        "WHERE name LIKE 'doc%%.txt' ORDER BY name")


def test_install_in_test_moves_attachments_into_the_database(odoo, template_db, redis_server):
    db = odoo.copy(template_db)
    environ = {"RUNNING_ENV": "test", **redis_env(redis_server, "acme", "test"),
               "ODOO_SESSION_REDIS_EXPIRATION": "86400"}
    result = odoo.shell(db, environ, INSTALL)
    assert result.returncode == 0, log_of(result)[-3000:]
    assert "INSTALLED file db" in result.stdout and "AGAIN db db" in result.stdout
    count, failed, again = moved(result)
    assert count >= 3 and failed == 0 and again == 0
    location = odoo.sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'ir_attachment.location'")
    assert location == [("db",)]
    rows = attachments(odoo, db)
    assert len(rows) == 3 and all(fname is None and in_db for _, fname, in_db in rows), rows
    assert "cloud_platform: ir_attachment.location set from 'file' to 'db'" in log_of(result)


def test_install_in_dev_changes_nothing(odoo, template_db):
    db = odoo.copy(template_db)
    before = attachments(odoo, db)
    result = odoo.shell(db, {"RUNNING_ENV": "dev"}, INSTALL)
    assert result.returncode == 0, log_of(result)[-3000:]
    assert "INSTALLED file file" in result.stdout
    assert attachments(odoo, db) == before
    assert "running_env dev: ir_attachment.location left at 'file'" in log_of(result)


S3_GLUE = REPO_ROOT / "base_attachment_object_storage" / "models"


def stored_objects_match(odoo, db, read):
    """Every seeded row points at an object whose bytes hash to the row's checksum."""
    rows = odoo.sql(db, "SELECT store_fname, checksum FROM ir_attachment WHERE name LIKE 'doc%%.txt'")
    assert len(rows) == 3
    for store_fname, checksum in rows:
        assert hashlib.sha1(read(store_fname)).hexdigest() == checksum, store_fname
    return [store_fname for store_fname, _ in rows]


@pytest.mark.skipif(not S3_GLUE.is_dir(), reason="base_attachment_object_storage has no Odoo glue yet "
                                                 "(ir.attachment does not know location 's3')")
@pytest.mark.parametrize("env", ["prod", "integration"])
def test_install_in_prod_and_integration_moves_attachments_to_s3(odoo, template_db, prod_env, s3_server, env):
    db = odoo.copy(template_db)
    project = prod_env["STATSD_CUSTOMER"]
    bucket = f"{project}-odoo-{env}"
    environ = {**prod_env, "RUNNING_ENV": env, "AWS_BUCKETNAME": bucket, "ODOO_SESSION_REDIS_PREFIX": bucket}
    result = odoo.shell(db, environ, INSTALL)
    log = log_of(result)
    assert result.returncode == 0, log[-3000:]
    assert "INSTALLED file s3" in result.stdout and "AGAIN s3 s3" in result.stdout
    count, failed, again = moved(result)
    assert count >= 3 and failed == 0 and again == 0
    client = s3_server.client()

    def read(store_fname):
        assert store_fname.startswith(f"s3://{bucket}/"), store_fname
        return client.get_object(Bucket=bucket, Key=store_fname.split("/", 3)[3])["Body"].read()

    stored_objects_match(odoo, db, read)


@pytest.mark.skipif(not S3_GLUE.is_dir(), reason="base_attachment_object_storage has no Odoo glue yet")
def test_install_in_prod_moves_attachments_to_swift(odoo, template_db, prod_env, swift_server):
    from swiftclient import client as swift

    db = odoo.copy(template_db)
    project = prod_env["STATSD_CUSTOMER"]
    container = f"{project}-odoo-prod"
    environ = {k: v for k, v in prod_env.items() if not k.startswith("AWS_")}
    environ.update(SWIFT_AUTH_URL=swift_server.auth_url, SWIFT_ACCOUNT=swift_server.user,
                   SWIFT_PASSWORD=swift_server.key, SWIFT_WRITE_CONTAINER=container)
    result = odoo.shell(db, environ, INSTALL)
    assert result.returncode == 0, log_of(result)[-3000:]
    assert "INSTALLED file swift" in result.stdout and "AGAIN swift swift" in result.stdout
    count, failed, again = moved(result)
    assert count >= 3 and failed == 0 and again == 0
    connection = swift.Connection(authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key)

    def read(store_fname):
        assert store_fname.startswith(f"swift://{container}/"), store_fname
        return connection.get_object(container, store_fname.split("/", 3)[3])[1]

    stored_objects_match(odoo, db, read)
    connection.close()


@pytest.mark.skipif(not S3_GLUE.is_dir(), reason="base_attachment_object_storage has no Odoo glue yet")
def test_install_fails_loudly_when_a_file_is_missing_and_resumes(odoo, template_db, prod_env, s3_server):
    db = odoo.copy(template_db)
    (fname,) = odoo.sql(db, "SELECT store_fname FROM ir_attachment WHERE name = 'doc1.txt'")[0]
    missing = odoo.data_dir / "filestore" / db / fname
    content = missing.read_bytes()
    missing.unlink()
    result = odoo.shell(db, prod_env, INSTALL)
    log = log_of(result)
    assert "INSTALLED" not in result.stdout, result.stdout
    assert "1 attachment(s) could not be moved to s3" in log
    # everything else moved; the row without its file still points at the filestore
    rows = {name: fname for name, fname, _ in attachments(odoo, db)}
    assert rows["doc1.txt"] == fname and rows["doc0.txt"].startswith("s3://")
    # the file is back (its emptied directory was tidied away meanwhile): install() again resumes
    missing.parent.mkdir(parents=True, exist_ok=True)
    missing.write_bytes(content)
    result = odoo.shell(db, prod_env, INSTALL)
    assert result.returncode == 0, log_of(result)[-3000:]
    count, failed, again = moved(result)
    assert count == 1 and failed == 0 and again == 0
    assert attachments(odoo, db)[1][1].startswith("s3://")


@pytest.mark.skipif(not (ODOO_VENV / "bin" / "anthem").exists(),
                    reason="anthem is not installed in .venvs/odoo (pip install anthem==0.15.0)")
def test_the_anthem_song_installs(odoo, template_db, redis_server):
    db = odoo.copy(template_db)
    environ = {"RUNNING_ENV": "test", **redis_env(redis_server, "acme", "test"),
               "ODOO_SESSION_REDIS_EXPIRATION": "3600"}
    result = odoo.anthem(db, environ, "odoo.addons.cloud_platform.songs::install")
    assert result.returncode == 0, log_of(result)[-3000:]
    location = odoo.sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'ir_attachment.location'")
    assert location == [("db",)]
    assert all(fname is None and in_db for _, fname, in_db in attachments(odoo, db))
