"""Acceptance of issue 10 item 1 in a real Odoo 18 (skipped where no Odoo venv exists): database A keeps
reading its attachment after Odoo's own "Duplicate database" made B from it, B unlinked the attachment
and B's garbage collector ran with its candidates past the grace period (one server, one bucket
without `{db}`: every database of the server shares it)."""
from __future__ import annotations

import base64
import hashlib
import os
import uuid

import psycopg2
import pytest

from devstack.odoo import ODOO_PYTHON, find_venv_odoo
from devstack.odoo_db import OdooInstall
from devstack.odoo_env import s3_variables
from devstack.odoo_server import OdooHttpServer, odoo_shell
from devstack.paths import REPO_ROOT

ODOO_ROOT, ODOO_WHY = find_venv_odoo()
if ODOO_ROOT is None:
    pytest.skip(f"Odoo acceptance SKIPPED: {ODOO_WHY} (run scripts/setup_odoo.sh)", allow_module_level=True)


def test_duplicate_database_then_gc_of_the_copy_keeps_the_originals_attachment(postgres_server, s3_server,
                                                                               odoo_databases, unique_prefix,
                                                                               tmp_path):
    bucket = f"{unique_prefix}-shared"  # no {db}: the databases of this server share it
    # PYTHONPATH: the Odoo processes import this tree's core, not another checkout's editable install
    env = {"RUNNING_ENV": "dev", "PYTHONPATH": str(REPO_ROOT), **s3_variables(s3_server, bucket)}
    original = "dup_a_" + uuid.uuid4().hex[:8]
    copy = original.replace("dup_a_", "dup_b_")
    # A: a copy of the session's `base` + `web` database, attachment_s3 installed into it
    odoo_databases.copy(OdooInstall("18.0", ODOO_ROOT, ODOO_PYTHON), tmp_path / "install", name=original,
                        install=["attachment_s3"], environ=env)

    data = b"contract of database A " + os.urandom(100_000)
    sha = hashlib.sha1(data).hexdigest()
    # Odoo's database manager serves every database of the cluster (master password 'admin')
    server = OdooHttpServer(ODOO_ROOT, postgres_server, original, tmp_path / "data", env, db_filter=".*",
                            log_level="info")
    try:
        server.rpc("ir.config_parameter", "set_param", "ir_attachment.location", "s3")
        att_id = server.rpc("ir.attachment", "create",
                            {"name": "contract.pdf", "datas": base64.b64encode(data).decode()})
        fname = server.rpc("ir.attachment", "read", [att_id], ["store_fname"])[0]["store_fname"]
        assert fname == f"s3://{bucket}/{sha}"

        # Odoo's own duplicate (CREATE DATABASE ... TEMPLATE, then a new database.uuid)
        assert server.call("db", "duplicate_database", "admin", original, copy) is True
        uuids = {name: server.execute_kw(name, "ir.config_parameter", "get_param", "database.uuid")
                 for name in (original, copy)}
        assert uuids[original] != uuids[copy], "Odoo 18 regenerates the copy's uuid"
        server.execute_kw(copy, "ir.attachment", "unlink", [att_id])
    finally:
        server.stop()

    # B's candidates are past the grace period (the default, 3600 s)
    conn = psycopg2.connect(postgres_server.dsn(copy))
    with conn, conn.cursor() as cr:
        cr.execute("UPDATE object_storage_gc SET marked_at = marked_at - interval '2 hours'")
        assert cr.rowcount >= 1
    conn.close()
    gc_run = odoo_shell(ODOO_ROOT, postgres_server, copy, tmp_path / "data", env, log_level="info",
                        code="env['ir.attachment']._gc_object_storage(); env.cr.commit(); print('GC DONE')")
    output = gc_run.stdout + gc_run.stderr
    assert "GC DONE" in output, output[-3000:]

    reader = odoo_shell(ODOO_ROOT, postgres_server, original, tmp_path / "data", env, log_level="info",
                        code="import hashlib; print('SHA', hashlib.sha1("
                        f"env['ir.attachment'].browse({att_id}).raw).hexdigest())")
    assert f"SHA {sha}" in reader.stdout, (reader.stdout + reader.stderr)[-3000:]
    assert "missing from the store" not in reader.stdout + reader.stderr
    assert s3_server.client().get_object(Bucket=bucket, Key=sha)["Body"].read() == data
    # B's collector checked A, through this server's connection parameters
    assert f"also checked in {original}" in output, output[-3000:]
