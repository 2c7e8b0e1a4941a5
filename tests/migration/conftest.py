"""A fresh database with Odoo 18's ir_attachment table and an empty filestore, per test."""
from __future__ import annotations

import uuid

import psycopg2
import pytest

from . import seed as seeding


@pytest.fixture
def attachment_db(postgres_server):
    """(dsn, psycopg2 connection) of a new database holding an empty ir_attachment table."""
    name = "mig_" + uuid.uuid4().hex[:12]
    dsn = postgres_server.create_database(name)
    conn = psycopg2.connect(dsn)
    seeding.create_table(conn)
    yield dsn, conn
    conn.close()
    admin = psycopg2.connect(postgres_server.dsn("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def filestore(tmp_path):
    path = tmp_path / "filestore" / "db"
    path.mkdir(parents=True)
    return path


def s3_environ(s3_server, bucket: str) -> dict[str, str]:
    return {
        "AWS_HOST": s3_server.endpoint_url, "AWS_REGION": s3_server.region,
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_BUCKETNAME": bucket,
    }


def swift_environ(swift_server, container: str) -> dict[str, str]:
    return {
        "SWIFT_AUTH_URL": swift_server.auth_url, "SWIFT_ACCOUNT": swift_server.user,
        "SWIFT_PASSWORD": swift_server.key, "SWIFT_WRITE_CONTAINER": container,
    }


def store_from(environ: dict[str, str], scheme: str):
    """The store odoo_cloud builds from these variables (the same path Odoo and the CLI take)."""
    from odoo_cloud.config import load_settings
    from odoo_cloud.storage.factory import build_store

    return build_store(scheme, load_settings(environ))
