"""Acceptance of issue 3 in a real Odoo 18 (skipped where no Odoo venv exists): with attachment_s3 (then
attachment_swift) installed and the location set, an uploaded file lands in the bucket under its sha1,
downloads byte-identical (also with a Range header), survives a restart of Odoo with its local data
directory wiped, and a second Odoo process on the same database serves it too.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

import psycopg2
import pytest
import requests

from devstack.odoo import ODOO_PYTHON, find_venv_odoo
from devstack.odoo_db import OdooInstall
from devstack.odoo_env import s3_variables, swift_variables
from devstack.odoo_server import OdooHttpServer, odoo_shell
from devstack.paths import REPO_ROOT

ODOO_ROOT, ODOO_WHY = find_venv_odoo()
if ODOO_ROOT is None:
    pytest.skip(f"Odoo acceptance SKIPPED: {ODOO_WHY} (run scripts/setup_odoo.sh)", allow_module_level=True)


class OdooServer(OdooHttpServer):
    """One odoo-bin HTTP server of the test database, plus a logged-in browser session for downloads."""

    def __init__(self, pg, dbname: str, data_dir: Path, environ: dict):
        super().__init__(ODOO_ROOT, pg, dbname, data_dir, environ)
        self.session = requests.Session()

    def login(self):
        params = {"db": self.dbname, "login": "admin", "password": "admin"}
        reply = self.session.post(f"{self.url}/web/session/authenticate",
                                  json={"jsonrpc": "2.0", "params": params}, timeout=60)
        assert reply.json().get("result", {}).get("uid") == 2, reply.text[:500]

    def download(self, att_id, headers=None):
        return self.session.get(f"{self.url}/web/content/{att_id}?download=true", headers=headers or {},
                                timeout=60)


@pytest.fixture(scope="module")
def odoo_db(postgres_server, s3_server, swift_server, odoo_databases, tmp_path_factory):
    """A database with attachment_s3 and attachment_swift installed (admin/admin, no demo): a copy of the
    session's `base` + `web` database with both installed into it."""
    odoo = OdooInstall("18.0", ODOO_ROOT, ODOO_PYTHON)
    return odoo_databases.copy(odoo, tmp_path_factory.mktemp("odoo-install"), prefix="accept",
                               install=["attachment_s3", "attachment_swift"])


def store_env(scheme, s3_server, swift_server, bucket):
    if scheme == "s3":
        return s3_variables(s3_server, bucket)
    return swift_variables(swift_server, bucket)


def object_in_bucket(scheme, s3_server, swift_server, bucket, key) -> bytes:
    if scheme == "s3":
        return s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    import swiftclient

    conn = swiftclient.Connection(authurl=swift_server.auth_url, user=swift_server.user, key=swift_server.key)
    return conn.get_object(bucket, key)[1]


@pytest.mark.parametrize("scheme", ["s3", "swift"])
def test_upload_restart_with_wiped_data_dir_and_second_process(scheme, odoo_db, postgres_server, s3_server,
                                                               swift_server, unique_prefix, tmp_path):
    bucket = f"{unique_prefix}-{scheme}"
    # PYTHONPATH: the Odoo processes import this tree's core, not another checkout's editable install
    env = {"RUNNING_ENV": "dev", "PYTHONPATH": str(REPO_ROOT),
           **store_env(scheme, s3_server, swift_server, bucket)}
    data = f"Rapport annuel ({scheme}) ".encode() + os.urandom(300_000)
    sha = hashlib.sha1(data).hexdigest()

    first = OdooServer(postgres_server, odoo_db, tmp_path / "data-1", env)
    try:
        first.rpc("ir.config_parameter", "set_param", "ir_attachment.location", scheme)
        att_id = first.rpc("ir.attachment", "create", {"name": "Résumé été.pdf",
                                                        "datas": base64.b64encode(data).decode()})
        fname = first.rpc("ir.attachment", "read", [att_id], ["store_fname"])[0]["store_fname"]
        assert fname == f"{scheme}://{bucket}/{sha}"
        assert object_in_bucket(scheme, s3_server, swift_server, bucket, sha) == data
        first.login()
        assert first.download(att_id).content == data
        ranged = first.download(att_id, {"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == data[100:200]
    finally:
        first.stop()
    shutil.rmtree(tmp_path / "data-1")  # the local data directory is gone

    restarted = OdooServer(postgres_server, odoo_db, tmp_path / "data-2", env)
    second = OdooServer(postgres_server, odoo_db, tmp_path / "data-3", env)
    try:
        for server in (restarted, second):
            server.login()
            response = server.download(att_id)
            assert response.status_code == 200 and response.content == data
            assert server.download(att_id, {"Range": "bytes=-50"}).content == data[-50:]
        # delete it: the object stays until the autovacuum's GC runs
        second.rpc("ir.attachment", "unlink", [att_id])
        assert object_in_bucket(scheme, s3_server, swift_server, bucket, sha) == data
    finally:
        restarted.stop()
        second.stop()
    # the candidates are past the grace period (grace_seconds below 600 is refused: docs/DATA_SAFETY.md)
    conn = psycopg2.connect(postgres_server.dsn(odoo_db))
    with conn, conn.cursor() as cr:
        cr.execute("UPDATE object_storage_gc SET marked_at = marked_at - interval '2 hours'")
    conn.close()
    shell = odoo_shell(ODOO_ROOT, postgres_server, odoo_db, tmp_path / "data-4", env,
                       code="env['ir.attachment']._gc_object_storage(); env.cr.commit(); print('GC DONE')")
    assert "GC DONE" in shell.stdout, (shell.stdout + shell.stderr)[-3000:]
    with pytest.raises(Exception, match=r"404|NoSuchKey|Not Found"):
        object_in_bucket(scheme, s3_server, swift_server, bucket, sha)


def test_read_cache_serves_the_second_download_without_the_store(odoo_db, postgres_server, s3_server,
                                                                  swift_server, unique_prefix, tmp_path):
    """Issue 15 from outside: with ATTACHMENT_STORAGE_CACHE_SIZE set, once an attachment was downloaded the
    next downloads (whole, ranged, conditional) are answered while the S3 server is stopped: no request
    reaches the store. A corrupted cached copy is detected and fetched again."""
    bucket = f"{unique_prefix}-cache"
    cache_dir = tmp_path / "read-cache"
    env = {"RUNNING_ENV": "dev", **store_env("s3", s3_server, swift_server, bucket),
           "ATTACHMENT_STORAGE_CACHE_SIZE": str(64 * 1024 * 1024),
           "ATTACHMENT_STORAGE_CACHE_DIR": str(cache_dir)}
    data = b"%PDF-1.4 cached " + os.urandom(120_000)
    sha = hashlib.sha1(data).hexdigest()
    server = OdooServer(postgres_server, odoo_db, tmp_path / "data", env)
    try:
        server.rpc("ir.config_parameter", "set_param", "ir_attachment.location", "s3")
        att_id = server.rpc("ir.attachment", "create", {"name": "cached.pdf",
                                                         "datas": base64.b64encode(data).decode()})
        server.login()
        first = server.download(att_id)
        assert first.status_code == 200 and first.content == data
        assert (cache_dir / "objects" / sha[:2] / sha).read_bytes() == data
        with s3_server.outage():
            again = server.download(att_id)
            assert again.status_code == 200 and again.content == data
            ranged = server.download(att_id, {"Range": "bytes=1000-1999"})
            assert ranged.status_code == 206 and ranged.content == data[1000:2000]
            etag = first.headers.get("ETag")
            assert etag and server.download(att_id, {"If-None-Match": etag}).status_code == 304
        (cache_dir / "objects" / sha[:2] / sha).write_bytes(b"garbage" + data[7:])
        repaired = server.download(att_id)
        assert repaired.status_code == 200 and repaired.content == data
        assert (cache_dir / "objects" / sha[:2] / sha).read_bytes() == data
    finally:
        server.stop()
