"""Acceptance of issue 10 item 1 in a real Odoo 18 (skipped where no Odoo venv exists): database A keeps
reading its attachment after Odoo's own "Duplicate database" made B from it, B unlinked the attachment
and B's garbage collector ran with its candidates past the grace period (one server, one bucket
without `{db}`: every database of the server shares it)."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

from devstack._process import free_port
from devstack.odoo import ODOO_PYTHON, bare_environment, database_options, find_venv_odoo, odoo_command
from devstack.odoo_db import OdooInstall
from devstack.odoo_env import s3_variables
from devstack.paths import REPO_ROOT

ODOO_ROOT, ODOO_WHY = find_venv_odoo()
if ODOO_ROOT is None:
    pytest.skip(f"Odoo acceptance SKIPPED: {ODOO_WHY} (run scripts/setup_odoo.sh)", allow_module_level=True)


class Server:
    """odoo-bin serving every database of the cluster (Odoo's database manager enabled, master 'admin')."""

    def __init__(self, pg, dbname, data_dir, environ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.with_suffix(".log")
        argv = [*odoo_command(ODOO_ROOT, ODOO_PYTHON), "server",
                *database_options(ODOO_ROOT, pg, dbname, data_dir),
                "--http-interface=127.0.0.1", f"--http-port={self.port}", f"--gevent-port={free_port()}",
                "--workers=0", "--max-cron-threads=0", "--log-level=info", "--db-filter=.*"]
        self.proc = subprocess.Popen(argv, env=bare_environment(environ), stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if requests.get(f"{self.url}/web/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError("odoo did not answer /web/health: " + self.log.read_text()[-3000:])

    def call(self, service, method, *args):
        body = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method,
                                                                 "args": list(args)}}
        reply = requests.post(f"{self.url}/jsonrpc", json=body, timeout=300).json()
        assert "error" not in reply, reply["error"]
        return reply["result"]

    def rpc(self, dbname, model, method, *args, **kwargs):
        return self.call("object", "execute_kw", dbname, 2, "admin", model, method, list(args), kwargs)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def odoo_shell(pg, dbname, data_dir, environ, code):
    argv = [*odoo_command(ODOO_ROOT, ODOO_PYTHON), "shell",
            *database_options(ODOO_ROOT, pg, dbname, data_dir),
            "--no-http", "--log-level=info"]
    return subprocess.run(argv, env=bare_environment(environ), input=code, capture_output=True, text=True,
                          timeout=300, check=False)


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
    server = Server(postgres_server, original, tmp_path / "data", env)
    try:
        server.rpc(original, "ir.config_parameter", "set_param", "ir_attachment.location", "s3")
        att_id = server.rpc(original, "ir.attachment", "create",
                            {"name": "contract.pdf", "datas": base64.b64encode(data).decode()})
        fname = server.rpc(original, "ir.attachment", "read", [att_id], ["store_fname"])[0]["store_fname"]
        assert fname == f"s3://{bucket}/{sha}"

        # Odoo's own duplicate (CREATE DATABASE ... TEMPLATE, then a new database.uuid)
        assert server.call("db", "duplicate_database", "admin", original, copy) is True
        uuids = {name: server.rpc(name, "ir.config_parameter", "get_param", "database.uuid")
                 for name in (original, copy)}
        assert uuids[original] != uuids[copy], "Odoo 18 regenerates the copy's uuid"
        server.rpc(copy, "ir.attachment", "unlink", [att_id])
    finally:
        server.stop()

    # B's candidates are past the grace period (the default, 3600 s)
    conn = psycopg2.connect(postgres_server.dsn(copy))
    with conn, conn.cursor() as cr:
        cr.execute("UPDATE object_storage_gc SET marked_at = marked_at - interval '2 hours'")
        assert cr.rowcount >= 1
    conn.close()
    gc_run = odoo_shell(postgres_server, copy, tmp_path / "data", env,
                        "env['ir.attachment']._gc_object_storage(); env.cr.commit(); print('GC DONE')")
    output = gc_run.stdout + gc_run.stderr
    assert "GC DONE" in output, output[-3000:]

    reader = odoo_shell(postgres_server, original, tmp_path / "data", env,
                        "import hashlib; print('SHA', hashlib.sha1("
                        f"env['ir.attachment'].browse({att_id}).raw).hexdigest())")
    assert f"SHA {sha}" in reader.stdout, (reader.stdout + reader.stderr)[-3000:]
    assert "missing from the store" not in reader.stdout + reader.stderr
    assert s3_server.client().get_object(Bucket=bucket, Key=sha)["Body"].read() == data
    # B's collector checked A, through this server's connection parameters
    assert f"also checked in {original}" in output, output[-3000:]
