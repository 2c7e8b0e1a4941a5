"""Databases with Odoo 18's ir_attachment table (the migration suite's fixtures) and a GC grace setting."""
from __future__ import annotations

import uuid

import psycopg2
import pytest

from tests.migration import seed as seeding
from tests.migration.conftest import s3_environ, swift_environ  # noqa: F401  (re-exported for the tests)


@pytest.fixture
def make_db(postgres_server):
    """Factory of fresh databases (dsn, connection) holding ir_attachment and ir_config_parameter."""
    made = []

    def make(grace_seconds: float = 1.0):
        name = "fsck_" + uuid.uuid4().hex[:12]
        dsn = postgres_server.create_database(name)
        conn = psycopg2.connect(dsn)
        seeding.create_table(conn)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE ir_config_parameter "
                        "(id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL)")
            cur.execute("INSERT INTO ir_config_parameter (key, value) VALUES "
                        "('object_storage.gc.grace_seconds', %s)", (str(grace_seconds),))
        conn.commit()
        made.append((name, conn))
        return name, dsn, conn

    yield make
    admin = psycopg2.connect(postgres_server.dsn("postgres"))
    admin.autocommit = True
    for name, conn in made:
        conn.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
