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
