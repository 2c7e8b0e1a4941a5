"""Odoo tests shared by attachment_s3 and attachment_swift (a mixin: `scheme` names the store).

The servers are the real ones started by scripts/odoo_tests.py; Odoo tests run in one transaction that
is rolled back, while objects uploaded meanwhile are not: every test uses content of its own
(uuid-salted), and the GC's autonomous marks make those uploads collectable afterwards.
"""
from __future__ import annotations

import base64
import gc as python_gc
import hashlib
import io
import json
import logging
import os
import socket
import sys
import tempfile
import time
import uuid
import xmlrpc.client
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import requests
from odoo.exceptions import UserError
from odoo.release import version_info
from odoo.tools import mute_logger

from odoo_cloud import instrumentation
from odoo_cloud.storage import StorageUnavailable, ownership
from odoo_cloud.storage import gc as object_gc

from ..models.reading import AttachmentStorageUnavailable
from ..models.settings import reset_settings, storage_settings
from . import request_timeouts  # noqa: F401 - Swift's (connect, read) timeout under Odoo's test client

# A stopped store must fail fast: one attempt, short connect timeout.
FAIL_FAST = {
    "s3": {"AWS_MAX_ATTEMPTS": "1", "AWS_CONNECT_TIMEOUT": "1"},
    "swift": {"SWIFT_RETRIES": "0", "SWIFT_CONNECT_TIMEOUT": "1"},
}
UNAVAILABLE_TEXT = "The attachment storage is unavailable"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def png(width: int, height: int, noise: bool) -> bytes:
    from PIL import Image

    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 10, 10))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@contextmanager
def environ(**values):
    """Change the process environment (and the settings read from it) for a block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
    reset_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


def cache_directives(response) -> set[str]:
    """Directive names of a response's Cache-Control ("private, max-age=5" -> {"private", "max-age"})."""
    value = response.headers.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


@contextmanager
def private_store(scheme: str):
    """A real S3 (SeaweedFS) or Swift server of this test's own, started from the repo's devstack, with
    the variables that point the addon at it: the test may stop it (`server.outage()`, to be used
    while those variables are set) without taking the suite's shared server down."""
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    import devstack
    from devstack.odoo_env import s3_variables, swift_variables

    with tempfile.TemporaryDirectory(prefix="object-storage-outage-") as base_dir:
        if scheme == "s3":
            server = devstack.SeaweedFSServer(base_dir)
            variables = s3_variables(server, "outage-" + uuid.uuid4().hex[:12])
        else:
            server = devstack.SwiftServer(base_dir)
            variables = swift_variables(server, "outage-" + uuid.uuid4().hex[:12])
        # weed takes its credentials from AWS_* variables when set (the suite's store): not ours
        with environ(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None):
            server.start()
        try:
            yield server, {**variables, **FAIL_FAST[scheme]}
        finally:
            server.stop()


def readable_again(store, key: str, deadline_seconds: float = 60) -> None:
    """Wait until a restarted server serves `key` again (fails the test after the deadline)."""
    give_up = time.monotonic() + deadline_seconds
    while True:
        try:
            store.head(key)
            store.get(key)
            return
        except StorageUnavailable:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ObjectStorageMixin:
    scheme = None  # "s3" or "swift"
    # Odoo 18's loader only collects test methods defined on the class itself unless this is set
    allow_inherited_tests_method = True

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("ir_attachment.location", self.scheme)
        self.Attachment = self.env["ir.attachment"]
        self.store = self.Attachment._object_store(self.scheme)

    def unique(self, size: int = 0) -> bytes:
        """Content no other test uploads: uploads outlive the test's rolled-back transaction."""
        head = f"{self.id()} {uuid.uuid4()}\n".encode()
        return head + os.urandom(max(0, size - len(head)))

    def read_back(self, attachment):
        attachment.invalidate_recordset()
        return attachment.raw


class ObjectStorageTests(ObjectStorageMixin):
    """CRUD, rules, GC, failure semantics (TransactionCase)."""

    def test_create_read_write_copy_unlink(self):
        data = self.unique(100_000)
        att = self.Attachment.create(
            {"name": "data.bin", "raw": data, "mimetype": "application/octet-stream"})
        self.assertEqual(att.store_fname, f"{self.scheme}://{self.store.bucket}/{sha1(data)}")
        self.assertFalse(att.db_datas)
        self.assertEqual(self.store.get(sha1(data)), data, "the object is in the bucket under its sha1")
        self.assertEqual(self.read_back(att), data)
        self.assertEqual(base64.b64decode(att.datas), data)
        self.assertEqual(self.Attachment._file_read(att.store_fname, 1000), data[:1000], "19.0's size")
        with self.assertRaisesRegex(ValueError, "not a path of the local filestore"):
            self.Attachment._full_path(att.store_fname)

        copy = att.copy()
        self.assertEqual(copy.store_fname, att.store_fname, "identical content is stored once")

        new = self.unique(5000)
        att.write({"raw": new})
        self.assertEqual(att.store_fname, self.store.uri(sha1(new)))
        self.assertEqual(self.read_back(att), new)
        self.assertIn(copy.store_fname, object_gc.pending(self.env.cr), "the old object is a GC candidate")

        fname = att.store_fname
        att.unlink()
        self.assertIn(fname, object_gc.pending(self.env.cr))
        self.assertEqual(self.store.get(sha1(new)), new, "unlink never deletes at once")

    def test_non_ascii_name_and_empty_content(self):
        data = self.unique(2000)
        att = self.Attachment.create({"name": "Résumé été 2026 €.pdf", "raw": data})
        self.assertEqual(self.read_back(att), data)
        empty = self.Attachment.create({"name": "vide.txt", "raw": b""})
        self.assertFalse(empty.store_fname)

    def test_rules_keep_small_images_and_assets_in_the_database(self):
        small = png(16, 16, noise=False)
        self.assertLess(len(small), 51200)
        small_att = self.Attachment.create({"name": "small.png", "raw": small, "mimetype": "image/png"})
        self.assertFalse(small_att.store_fname)
        self.assertEqual(small_att.db_datas, small)
        tiny = png(16, 16, noise=True)  # unique: no other test stores it
        tiny_att = self.Attachment.create({"name": "tiny.png", "raw": tiny, "mimetype": "image/png"})
        self.assertEqual((tiny_att.store_fname, tiny_att.db_datas), (False, tiny))
        self.assertFalse(self.store.exists(sha1(tiny)), "content kept in the DB is never uploaded (19.0 "
                                                        "calls _file_write for it after the INSERT)")

        big = png(160, 160, noise=True)
        self.assertGreater(len(big), 51200)
        big_att = self.Attachment.create({"name": "big.png", "raw": big, "mimetype": "image/png"})
        self.assertEqual(big_att.store_fname, self.store.uri(sha1(big)))

        script = b"console.log(1);" + self.unique(200_000).hex().encode()
        js = self.Attachment.create({"name": "a.js", "raw": script, "mimetype": "application/javascript"})
        self.assertFalse(js.store_fname)

        self.env["ir.config_parameter"].sudo().set_param(
            "ir_attachment.storage.force.database", '{"image/": 10}')
        moved = self.Attachment.create({"name": "small2.png", "raw": small, "mimetype": "image/png"})
        self.assertTrue(moved.store_fname, "rules are read from the system parameter")
        self.env["ir.config_parameter"].sudo().set_param("ir_attachment.storage.force.database", "nonsense")
        with self.assertRaisesRegex(UserError, "ir_attachment.storage.force.database"):
            self.Attachment.create({"name": "x.bin", "raw": self.unique(10)})

    def test_rolled_back_unlink_loses_nothing_and_gc_collects_real_orphans(self):
        data = self.unique(3000)
        att = self.Attachment.create({"name": "keep.bin", "raw": data})
        key = sha1(data)
        with self.assertRaises(ZeroDivisionError):
            with self.env.cr.savepoint():
                att.unlink()
                1 / 0  # noqa: B018 - the unlink's transaction fails
        self.Attachment._object_storage_collect(grace_seconds=0)
        self.assertTrue(self.store.exists(key), "a rolled-back unlink loses nothing")
        self.assertEqual(self.read_back(att), data)

        att.unlink()
        reports = self.Attachment._object_storage_collect(grace_seconds=0)
        self.assertIn(self.store.uri(key), [name for report in reports for name in report.deleted])
        self.assertFalse(self.store.exists(key))

    def test_gc_keeps_objects_still_referenced_by_another_attachment(self):
        data = self.unique(3000)
        first = self.Attachment.create({"name": "a.bin", "raw": data})
        second = self.Attachment.create({"name": "b.bin", "raw": data})
        first.unlink()
        self.Attachment._object_storage_collect(grace_seconds=0)
        self.assertEqual(self.read_back(second), data)

    def test_storage_domain_selects_what_is_not_in_the_write_bucket(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ir_attachment.location", "db")
        in_db = self.Attachment.create({"name": "db.bin", "raw": self.unique(60_000)})
        params.set_param("ir_attachment.location", self.scheme)
        stored = self.Attachment.create({"name": "stored.bin", "raw": self.unique(60_000)})
        elsewhere = self.Attachment.create({"name": "other.bin", "raw": self.unique(60_000)})
        self.env.cr.execute("UPDATE ir_attachment SET store_fname = %s WHERE id = %s",
                            (f"{self.scheme}://another-bucket/{elsewhere.checksum}", elsewhere.id))
        elsewhere.invalidate_recordset()
        ids = (in_db | stored | elsewhere).ids
        found = self.Attachment.search([*self.Attachment._get_storage_domain(), ("id", "in", ids)])
        self.assertEqual(found, in_db | elsewhere)

    def test_gc_bounds_come_from_system_parameters(self):
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(self.Attachment._object_storage_gc_options(), {})
        params.set_param("object_storage.gc.batch_size", "50")
        params.set_param("object_storage.gc.grace_seconds", "900")
        self.assertEqual(self.Attachment._object_storage_gc_options(),
                         {"batch_size": 50, "grace_seconds": 900})
        # below the minimum a writer between its upload and its INSERT could lose its object
        params.set_param("object_storage.gc.grace_seconds", "0")
        with self.assertRaisesRegex(UserError, "object_storage.gc.grace_seconds=0: expected at least 600"):
            self.Attachment._object_storage_gc_options()
        params.set_param("object_storage.gc.grace_seconds", "900")
        params.set_param("object_storage.gc.max_seconds", "soon")
        with self.assertRaisesRegex(UserError, "object_storage.gc.max_seconds='soon'"):
            self.Attachment._object_storage_gc_options()

    def test_reads_a_bucket_it_does_not_write(self):
        other_env = {"AWS_BUCKETNAME": self.store.bucket + "-other"} if self.scheme == "s3" \
            else {"SWIFT_WRITE_CONTAINER": self.store.bucket + "-other"}
        data = self.unique(4000)
        with environ(**other_env):
            other = self.Attachment._object_store(self.scheme)
            other.put(sha1(data), data)
        att = self.Attachment.create({"name": "old.bin", "raw": b"placeholder"})
        self.env.cr.execute("UPDATE ir_attachment SET store_fname = %s, db_datas = NULL, checksum = %s "
                            "WHERE id = %s", (other.uri(sha1(data)), sha1(data), att.id))
        self.assertEqual(self.read_back(att), data)
        att.unlink()
        self.Attachment._object_storage_collect(grace_seconds=0)
        self.assertEqual(other.get(sha1(data)), data, "never deleted from a bucket we do not write")

    def test_database_records_itself_in_its_bucket(self):
        self.Attachment._object_storage_register()
        mine = [record for record in ownership.list_records(self.store)
                if record.identity.dbname == self.env.cr.dbname]
        self.assertTrue(mine, "an owner record names this database")
        self.assertEqual(mine[0].role, ownership.OWNER)
        self.assertEqual(mine[0].identity.database_uuid,
                         self.env["ir.config_parameter"].sudo().get_param("database.uuid"))

    def test_non_prod_refuses_to_write_in_a_bucket_prod_owns(self):
        name = self.store.bucket + "-prod-owned"  # any name: only the record says it is prod's
        other_env = {"AWS_BUCKETNAME": name, "AWS_BUCKETNAME_UNSTRUCTURED": "1"} if self.scheme == "s3" \
            else {"SWIFT_WRITE_CONTAINER": name, "SWIFT_WRITE_CONTAINER_UNSTRUCTURED": "1"}
        prod = ownership.DatabaseIdentity("prod_db", str(uuid.uuid4()), "another-cluster")
        with environ(**other_env):
            store = self.Attachment._object_store(self.scheme)
            ownership.register(store, prod, ownership.OWNER, "prod")
            self.assertNotEqual(self.Attachment._object_storage_running_env(), "prod")
            data = self.unique(3000)
            with mute_logger("odoo.addons.base_attachment_object_storage.models.ir_attachment"), \
                    self.assertRaisesRegex(UserError, "belongs to prod.*ODOO_CLOUD_PLATFORM_UNSAFE"):
                self.Attachment.create({"name": "staging.bin", "raw": data})
            self.assertFalse(store.exists(sha1(data)), "nothing written into prod's bucket")
            reports = self.Attachment._object_storage_collect(grace_seconds=0)
            refused = [r for r in reports if r.refused and store.prefix in r.refused]
            self.assertEqual(len(refused), 1, [str(r) for r in reports])
            self.assertIn("belongs to prod", refused[0].refused)

    def test_db_placeholder_names_this_database_s_bucket(self):
        variable = "AWS_BUCKETNAME" if self.scheme == "s3" else "SWIFT_WRITE_CONTAINER"
        template = self.store.bucket + "-{db}"
        expected = f"{self.store.bucket}-{self.env.cr.dbname}"
        with environ(**{variable: template}):
            self.assertEqual(self.Attachment._object_store(self.scheme).bucket, expected)
            if self.scheme == "swift":  # S3 bucket names cannot hold the '_' of the test database's name
                data = self.unique(3000)
                att = self.Attachment.create({"name": "db.bin", "raw": data})
                self.assertEqual(att.store_fname, f"swift://{expected}/{sha1(data)}")
                self.assertEqual(self.read_back(att), data)

    def test_missing_object_reads_empty_with_a_warning(self):
        data = self.unique(3000)
        att = self.Attachment.create({"name": "gone.bin", "raw": data})
        self.store.delete(sha1(data))
        published = []
        instrumentation.subscribe(published.append)
        try:
            with self.assertLogs("odoo.addons.base_attachment_object_storage", "WARNING") as logs:
                self.assertEqual(self.read_back(att), b"")
        finally:
            instrumentation.unsubscribe(published.append)
        self.assertIn(f"storage.{self.scheme}.missing", [op.name for op in published], "the counter's event")
        self.assertIn(sha1(data), "\n".join(logs.output))
        self.assertIn(f"ir.attachment({att.id},)", "\n".join(logs.output))

    def test_scheduled_fsck_sample_names_missing_and_damaged_objects(self):
        """The sampled check of the (inactive by default) scheduled action: one HEAD per sampled row, the
        missing and the damaged object named in the log and published as storage.fsck.* operations."""
        cron = self.env.ref("base_attachment_object_storage.ir_cron_object_storage_fsck_sample")
        self.assertFalse(cron.active, "off by default")
        kept, gone, resized = (self.unique(3000) for _ in range(3))
        atts = {name: self.Attachment.create({"name": f"{name}.bin", "raw": data})
                for name, data in (("kept", kept), ("gone", gone), ("resized", resized))}
        self.store.delete(sha1(gone))
        self.env.cr.execute("UPDATE ir_attachment SET file_size = 1 WHERE id = %s", (atts["resized"].id,))
        # the sample covers every object-stored row of this (test) database
        self.env.cr.execute("SELECT count(*) FROM ir_attachment WHERE store_fname ~ '^[a-z0-9]+://'")
        population = self.env.cr.fetchone()[0]
        published = []
        instrumentation.subscribe(published.append)
        try:
            with self.assertLogs("odoo.addons.base_attachment_object_storage", "ERROR") as logs:
                report = self.Attachment._object_storage_fsck_sample(sample_size=population)
        finally:
            instrumentation.unsubscribe(published.append)
        self.assertEqual(report["checked"], population)
        self.assertIn(atts["gone"].id, [row["id"] for row in report["missing"]])
        self.assertIn(atts["resized"].id, [row["id"] for row in report["damaged"]])
        self.assertNotIn(atts["kept"].id, [row["id"] for row in report["missing"] + report["damaged"]])
        names = [op.name for op in published]
        self.assertIn("storage.fsck.missing", names)
        self.assertIn("storage.fsck.damaged", names)
        self.assertIn("storage.fsck.ok", names)
        self.assertIn(f"attachment {atts['gone'].id} ", "\n".join(logs.output))

    def test_unreachable_store_fails_clearly_and_writes_nothing(self):
        data = self.unique(3000)
        att = self.Attachment.create({"name": "here.bin", "raw": data})
        dead = {"AWS_HOST": f"http://127.0.0.1:{closed_port()}", "AWS_MAX_ATTEMPTS": "1",
                "AWS_CONNECT_TIMEOUT": "1"} if self.scheme == "s3" else \
            {"SWIFT_AUTH_URL": f"http://127.0.0.1:{closed_port()}/auth/v1.0", "SWIFT_RETRIES": "0",
             "SWIFT_CONNECT_TIMEOUT": "1"}
        count = self.Attachment.search_count([])
        with environ(**dead), mute_logger("odoo.addons.base_attachment_object_storage.models.writing"):
            # the same 503 as a read (not a UserError: retrying later helps); ORM callers see the detail
            with self.assertRaisesRegex(AttachmentStorageUnavailable, "could not be stored.*retry later"):
                self.Attachment.create({"name": "lost.bin", "raw": self.unique(3000)})
            with self.assertRaisesRegex(AttachmentStorageUnavailable, "could not be stored") as raised:
                att.write({"raw": self.unique(3000)})
            self.assertEqual(raised.exception.code, 503)
            self.assertIn(f"{self.scheme}://{self.store.bucket}", str(raised.exception), "the detail")
            self.assertNotIn(self.store.bucket, raised.exception.description, "what a client gets")
            self.env.cr.execute("SELECT store_fname, checksum FROM ir_attachment WHERE id = %s", (att.id,))
            self.assertEqual(self.env.cr.fetchone(), (self.store.uri(sha1(data)), sha1(data)),
                             "a failed upload leaves the row on its old, stored content")
            with self.assertRaisesRegex(AttachmentStorageUnavailable, "unavailable"):
                self.read_back(att)
        self.assertEqual(self.Attachment.search_count([]), count, "no row points at an unstored object")
        self.assertEqual(self.read_back(att), data, "works again once the store answers")

    def test_migration_into_an_unreachable_store_is_a_503_that_says_resume(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ir_attachment.location", "db")
        in_db = self.Attachment.create({"name": "to-move.bin", "raw": self.unique(60_000)})
        params.set_param("ir_attachment.location", self.scheme)
        dead = {"AWS_HOST": f"http://127.0.0.1:{closed_port()}", "AWS_MAX_ATTEMPTS": "1",
                "AWS_CONNECT_TIMEOUT": "1"} if self.scheme == "s3" else \
            {"SWIFT_AUTH_URL": f"http://127.0.0.1:{closed_port()}/auth/v1.0", "SWIFT_RETRIES": "0",
             "SWIFT_CONNECT_TIMEOUT": "1"}
        with environ(**dead), mute_logger("odoo.addons.base_attachment_object_storage.models.writing",
                                          "odoo_cloud.storage.migration"), \
                self.assertRaisesRegex(AttachmentStorageUnavailable, "migration stopped.*run it again"):
            self.Attachment.migrate_storage(batch_size=50, workers=2)
        in_db.invalidate_recordset()
        self.assertFalse(in_db.store_fname, "not switched to an object that was never written")
        self.assertTrue(in_db.db_datas)

    def test_disable_attachment_storage(self):
        data = self.unique(3000)
        stored = self.Attachment.create({"name": "stored.bin", "raw": data})
        with environ(DISABLE_ATTACHMENT_STORAGE="1"):
            self.assertTrue(storage_settings().storage.disabled)
            with patch.object(type(self.store), "put", side_effect=AssertionError("store contacted")):
                new = self.Attachment.create({"name": "new.bin", "raw": self.unique(3000)})
            self.assertFalse(new.store_fname, "new data goes to the database")
            self.assertTrue(new.db_datas)
            with self.assertRaisesRegex(AttachmentStorageUnavailable, "DISABLE_ATTACHMENT_STORAGE"):
                self.read_back(stored)
        self.assertEqual(self.read_back(stored), data)


class ObjectStorageHttpTests(ObjectStorageMixin):
    """Downloads through /web/content (HttpCase)."""

    def setUp(self):
        super().setUp()
        self.authenticate("admin", "admin")

    def test_download_streams_with_etag_and_ranges(self):
        data = self.unique(300_000)
        att = self.Attachment.create(
            {"name": "Résumé.bin", "raw": data, "mimetype": "application/octet-stream"})
        url = f"/web/content/{att.id}?download=true"
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, data)
        self.assertEqual(response.headers["Content-Length"], str(len(data)))
        self.assertIn("R%C3%A9sum%C3%A9.bin", response.headers["Content-Disposition"])
        etag = response.headers["ETag"]
        self.assertIn(sha1(data), etag)

        ranged = self.url_open(url, headers={"Range": "bytes=1000-1999"})
        self.assertEqual(ranged.status_code, 206)
        self.assertEqual(ranged.content, data[1000:2000])
        self.assertEqual(ranged.headers["Content-Range"], f"bytes 1000-1999/{len(data)}")
        tail = self.url_open(url, headers={"Range": "bytes=-10"})
        self.assertEqual(tail.content, data[-10:])

        cached = self.url_open(url, headers={"If-None-Match": etag})
        self.assertEqual(cached.status_code, 304)
        self.assertEqual(cached.content, b"")
        unsatisfiable = self.url_open(url, headers={"Range": f"bytes={len(data) + 5}-"})
        self.assertEqual(unsatisfiable.status_code, 416)

    def test_download_without_file_size_and_of_a_missing_object(self):
        data = self.unique(50_000)
        att = self.Attachment.create({"name": "legacy.bin", "raw": data})
        self.env.cr.execute("UPDATE ir_attachment SET file_size = NULL WHERE id = %s", (att.id,))
        att.invalidate_recordset()
        url = f"/web/content/{att.id}?download=true"
        response = self.url_open(url, headers={"Range": "bytes=0-9"})
        self.assertEqual((response.status_code, response.content), (206, data[:10]))
        self.store.delete(sha1(data))
        with self.assertLogs("odoo.addons.base_attachment_object_storage", "WARNING"):
            missing = self.url_open(url)
        self.assertEqual(missing.status_code, 404)

    def test_download_of_content_kept_in_the_database(self):
        """A row without a file (store_fname False: a small image, an asset bundle) downloads as in core."""
        small = png(16, 16, noise=False)
        att = self.Attachment.create({"name": "small.png", "raw": small, "mimetype": "image/png"})
        self.assertIs(att.store_fname, False)
        response = self.url_open(f"/web/content/{att.id}")
        self.assertEqual((response.status_code, response.content), (200, small))

    def test_download_redirects_to_a_presigned_url(self):
        data = self.unique(20_000)
        att = self.Attachment.create({"name": "signed.bin", "raw": data})
        extra = self.presign_environment()
        with environ(ATTACHMENT_STORAGE_PRESIGNED_URL="1", ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY="600",
                     **extra):
            response = self.url_open(f"/web/content/{att.id}?download=true", allow_redirects=False)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response.headers["Cache-Control"], "max-age=540, private")
        location = response.headers["Location"]
        self.assertNotIn("/web/content", location)
        fetched = requests.get(location, timeout=10)
        self.assertEqual(fetched.status_code, 200)
        self.assertEqual(fetched.content, data)

    def presign_environment(self):
        return {}

    def test_cache_scope_on_every_download_path(self):
        """Non-public attachments: `private` on every answer (no shared cache may replay them); public
        ones may be cached by shared caches."""
        image = png(300, 300, noise=True)  # above the keep-in-DB size of images: in the store
        private = self.Attachment.create({"name": "private.png", "raw": image, "mimetype": "image/png"})
        public = self.Attachment.create({"name": "public.png", "raw": image + self.unique(10),
                                         "mimetype": "image/png", "public": True})
        self.assertTrue(private.store_fname and public.store_fname)
        for att in (private, public):
            url = f"/web/content/{att.id}"
            full = self.url_open(url)
            self.assertEqual(full.status_code, 200)
            answers = {
                "200 streamed": full,
                "206 range": self.url_open(url, headers={"Range": "bytes=0-9"}),
                "304 revalidation": self.url_open(url, headers={"If-None-Match": full.headers["ETag"]}),
                "HEAD": self.opener.head(self.base_url() + url, timeout=30),
                "200 immutable (unique)": self.url_open(f"{url}?unique={att.checksum}"),
                "206 immutable range": self.url_open(f"{url}?unique={att.checksum}",
                                                     headers={"Range": "bytes=5-"}),
                "200 resized image": self.url_open(f"/web/image/{att.id}/64x64"),
                "200 cropped image": self.url_open(f"/web/image/{att.id}?width=32&height=48&crop=1"),
            }
            with environ(ATTACHMENT_STORAGE_PRESIGNED_URL="1", **self.presign_environment()):
                answers["302 presigned"] = self.url_open(url, allow_redirects=False)
            statuses = {path: response.status_code for path, response in answers.items()}
            self.assertEqual(statuses, {
                "200 streamed": 200, "206 range": 206, "304 revalidation": 304, "HEAD": 200,
                "200 immutable (unique)": 200, "206 immutable range": 206, "200 resized image": 200,
                "200 cropped image": 200, "302 presigned": 302})
            for path, response in answers.items():
                directives = cache_directives(response)
                if not att.public:
                    self.assertIn("private", directives, f"{path} of a private attachment: {directives}")
                    self.assertNotIn("public", directives, f"{path} of a private attachment")
                elif "max-age" in directives and path != "304 revalidation":
                    self.assertNotIn("private", directives, f"{path} of a public attachment")
            if att.public:
                self.assertIn("public", cache_directives(answers["302 presigned"]))
                self.assertIn("public", cache_directives(answers["200 immutable (unique)"]))

    def test_every_download_path_answers_503_while_the_store_is_down(self):
        """A stopped store: the same fast, clear, uncacheable 503 on every path that reads bytes."""
        with private_store(self.scheme) as (server, variables), environ(**variables):
            image = png(300, 300, noise=True)
            picture = self.Attachment.create({"name": "picture.png", "raw": image, "mimetype": "image/png"})
            legacy = self.Attachment.create({"name": "legacy.png", "raw": png(301, 300, noise=True),
                                             "mimetype": "image/png"})
            blob_data = self.unique(60_000)
            blob = self.Attachment.create({"name": "blob.bin", "raw": blob_data,
                                           "mimetype": "application/octet-stream"})
            self.env.cr.execute("UPDATE ir_attachment SET file_size = NULL WHERE id = %s", (legacy.id,))
            legacy.invalidate_recordset()
            partner = self.env["res.partner"].create(
                {"name": "Outage", "image_1920": base64.b64encode(image)})
            self.assertTrue(picture.store_fname.startswith(f"{self.scheme}://outage-"))
            self.env.flush_all()  # the partner's resized images are computed now, not during the outage
            cases = [
                ("GET", f"/web/content/{blob.id}", {}),
                ("GET", f"/web/content/{blob.id}?download=1", {}),
                ("GET", f"/web/content/{blob.id}?download=true", {"Range": "bytes=100-199"}),
                ("GET", f"/web/content/ir.attachment/{blob.id}/datas?download=1", {}),
                ("GET", f"/web/content?model=ir.attachment&id={blob.id}&field=raw", {}),
                ("HEAD", f"/web/content/{legacy.id}", {}),
                ("GET", f"/web/image/{picture.id}", {}),
                ("GET", f"/web/image/{picture.id}/64x64", {}),
                ("GET", f"/web/image/{picture.id}?width=64&height=32&crop=1", {}),
                ("GET", f"/web/image/{picture.id}/64x64?download=1", {}),
                ("GET", f"/web/image?model=ir.attachment&id={picture.id}&field=datas&width=16", {}),
                ("GET", f"/web/image/{legacy.id}", {}),  # no file_size: the size is asked from the store
                ("GET", f"/web/image/{legacy.id}/64x64", {}),
                ("GET", f"/web/image/res.partner/{partner.id}/image_1920", {}),
                ("GET", f"/web/image/res.partner/{partner.id}/image_1920/64x64", {}),
                ("GET", f"/web/content/res.partner/{partner.id}/image_1920?download=1", {}),
            ]
            with server.outage(), mute_logger("odoo.addons.base_attachment_object_storage.models.reading"):
                answers = {f"{method} {url} {headers or ''}": self.opener.request(
                    method, self.base_url() + url, headers=headers, timeout=60, allow_redirects=False)
                    for method, url, headers in cases}
                with self.assertRaisesRegex(AttachmentStorageUnavailable, "unavailable"):
                    self.read_back(blob)
                rpc = self.url_open("/web/dataset/call_kw", headers={"Content-Type": "application/json"},
                                    data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
                                        "model": "ir.attachment", "method": "read", "args": [[blob.id]],
                                        "kwargs": {"fields": ["datas"]}}}))
            self.assertEqual({case: response.status_code for case, response in answers.items()},
                             dict.fromkeys(answers, 503))
            self.assert_clean_503(rpc, "a web client read (JSON-RPC)", variables)
            self.assertIn(UNAVAILABLE_TEXT, rpc.json()["error"]["data"]["message"], "a web client read")
            for case, response in answers.items():
                self.assertEqual(response.headers.get("Cache-Control"), "no-store", case)
                self.assertIn("Retry-After", response.headers, case)
                if not case.startswith("HEAD"):
                    self.assertIn(UNAVAILABLE_TEXT, response.text, case)
                    self.assertNotIn("Traceback", response.text, case)
            # the store is back (a restarted SeaweedFS may answer 500 for a moment): the same paths work again
            readable_again(self.Attachment._object_store(self.scheme), sha1(blob_data))
            self.assertEqual(self.url_open(f"/web/content/{blob.id}").content, blob_data)
            self.assertEqual(self.url_open(f"/web/image/{picture.id}/64x64").status_code, 200)

    def assert_clean_503(self, response, case, variables):
        """The outage answer: 503, retry later, never cached, no traceback, no endpoint/bucket/secret."""
        self.assertEqual(response.status_code, 503, f"{case}: {response.text[:300]}")
        self.assertEqual(response.headers.get("Cache-Control"), "no-store", case)
        self.assertIn("Retry-After", response.headers, case)
        self.assertIn("unavailable", response.text, case)
        for leak in ("Traceback", "127.0.0.1", *variables.values()):
            if len(leak) > 3:
                self.assertNotIn(leak, response.text, case)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            error = body.get("error", body)  # JSON-RPC wraps it; 19.0's /json/2/ is the error itself
            data = error.get("data", error)
            self.assertEqual(data["debug"], "", f"{case}: no traceback for the web client to show")
            if "error" in body:
                self.assertEqual(error["code"], 503, case)

    def rpc(self, model, method, args, kwargs=None):
        payload = {"jsonrpc": "2.0", "method": "call", "id": 7, "params": {
            "model": model, "method": method, "args": args, "kwargs": kwargs or {}}}
        return self.url_open(f"/web/dataset/call_kw/{model}/{method}", data=json.dumps(payload),
                             headers={"Content-Type": "application/json"})

    def external_create(self, path):
        """`execute_kw(db, 2, 'admin', 'ir.attachment', 'create', ...)` as an external API client sends it."""
        args = (self.env.cr.dbname, 2, "admin", "ir.attachment", "create", [{
            "name": "external.bin", "datas": base64.b64encode(self.unique(60_000)).decode()}])
        if path.startswith("/xmlrpc/"):
            return self.opener.post(f"{self.base_url()}{path}", timeout=60, data=xmlrpc.client.dumps(
                args, "execute_kw"), headers={"Content-Type": "text/xml"})
        payload = {"jsonrpc": "2.0", "method": "call", "id": 3,
                   "params": {"service": "object", "method": "execute_kw", "args": list(args)}}
        return self.opener.post(f"{self.base_url()}{path}", timeout=60, data=json.dumps(payload),
                                headers={"Content-Type": "application/json"})

    def test_every_upload_path_answers_503_while_the_store_is_down(self):
        """A stopped store: every path that writes bytes answers like a read does (503, Retry-After, no
        traceback, nothing about the endpoint), saves nothing, and says in the log what happened."""
        from odoo.http import Request

        with private_store(self.scheme) as (server, variables), environ(**variables):
            old = self.unique(60_000)
            kept = self.Attachment.create({"name": "kept.bin", "raw": old})
            kept_fname = kept.store_fname
            partner = self.env["res.partner"].create({"name": "Upload outage"})
            picture = base64.b64encode(png(300, 300, noise=True)).decode()  # above the keep-in-DB size
            small_png = png(16, 16, noise=False)  # kept in the database: needs no store
            installed = set(self.env["ir.module.module"].search([("state", "=", "installed")]).mapped("name"))
            count = self.Attachment.search_count([])
            answers = {}
            with server.outage(), mute_logger("odoo.addons.web.controllers.binary"), \
                    self.assertLogs("odoo.addons.base_attachment_object_storage.models.writing",
                                    "WARNING") as logs:
                answers["JSON-RPC create datas"] = self.rpc("ir.attachment", "create", [{
                    "name": "new.bin", "datas": base64.b64encode(self.unique(60_000)).decode()}])
                answers["JSON-RPC write raw"] = self.rpc("ir.attachment", "write", [[kept.id], {
                    "datas": base64.b64encode(self.unique(60_000)).decode()}])
                answers["JSON-RPC image field resized on write"] = self.rpc(
                    "res.partner", "write", [[partner.id], {"image_1920": picture}])
                # this route catches every exception and answers 200 ("Something horrible happened"):
                # the outage it swallowed is raised after it, and the first file (kept in the
                # database, stored fine) is rolled back with the rest
                answers["/web/binary/upload_attachment"] = self.opener.post(
                    f"{self.base_url()}/web/binary/upload_attachment", timeout=60,
                    files=[("ufile", ("small.png", small_png, "image/png")),
                           ("ufile", ("big.bin", self.unique(60_000), "application/octet-stream"))],
                    data={"csrf_token": Request.csrf_token(self), "model": "res.partner", "id": partner.id})
                if "mail" in installed:
                    answers["/mail/attachment/upload"] = self.opener.post(
                        f"{self.base_url()}/mail/attachment/upload", timeout=60,
                        files={"ufile": ("mail.bin", self.unique(60_000), "application/octet-stream")},
                        data={"csrf_token": Request.csrf_token(self), "thread_model": "res.partner",
                              "thread_id": partner.id})
                # the external APIs (base on 18.0, the rpc module on 19.0), login/password in the payload
                if "rpc" in installed or version_info[0] < 19:
                    for path in ("/xmlrpc/2/object", "/xmlrpc/object", "/jsonrpc"):
                        answers[f"{path} execute_kw create"] = self.external_create(path)
                if "rpc" in installed:  # 19.0: the /json/2/ API, authenticated by an API key
                    key = self.env["res.users.apikeys"].with_user(self.env.ref("base.user_admin"))._generate(
                        "rpc", "outage test", None)
                    answers["/json/2/ create"] = self.opener.post(
                        f"{self.base_url()}/json/2/ir.attachment/create", timeout=60,
                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                        data=json.dumps({"vals_list": [{
                            "name": "json2.bin", "datas": base64.b64encode(self.unique(60_000)).decode()}]}))
            for case, response in answers.items():
                self.assert_clean_503(response, case, variables)
            secret = variables.get("AWS_SECRET_ACCESS_KEY") or variables["SWIFT_PASSWORD"]
            failed = [line for line in logs.output if "the attachment storage is unavailable" in line]
            self.assertGreaterEqual(len(failed), len(answers), "\n".join(logs.output))
            self.assertIn("the route answered anyway", "\n".join(logs.output), "upload_attachment's")
            for line in logs.output:
                self.assertNotIn(secret, line)
            self.assertEqual(self.Attachment.search_count([]), count, "nothing saved, no orphan row")
            kept.invalidate_recordset()
            partner.invalidate_recordset()
            self.assertEqual((kept.store_fname, kept.raw), (kept_fname, old), "the old content stays")
            self.assertFalse(partner.image_1920)
            readable_again(self.Attachment._object_store(self.scheme), sha1(old))
            later = base64.b64encode(self.unique(6000)).decode()
            again = self.rpc("ir.attachment", "create", [{"name": "later.bin", "datas": later}])
            self.assertEqual(again.status_code, 200)
            self.assertTrue(again.json().get("result"), again.text[:300])

    def test_64mb_download_keeps_worker_memory_bounded(self):
        size = 64 * 1024 * 1024
        data = os.urandom(size)
        att = self.Attachment.create({"name": "big.bin", "raw": data, "mimetype": "application/octet-stream"})
        digest = sha1(data)
        del data
        att.invalidate_recordset()
        python_gc.collect()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM (peak RSS) of this process: server and test share it
        before = _status_kb("VmRSS")
        response = self.opener.get(f"{self.base_url()}/web/content/{att.id}?download=true", stream=True,
                                   timeout=120)
        hasher = hashlib.sha1()
        for chunk in response.iter_content(256 * 1024):
            hasher.update(chunk)
        growth_mb = (_status_kb("VmHWM") - before) / 1024
        self.assertEqual(hasher.hexdigest(), digest)
        self.assertLess(growth_mb, 32, f"peak RSS grew by {growth_mb:.1f} MB while streaming 64 MB")
        # control: the same measure sees a whole-object read (so the figure above is not blind)
        python_gc.collect()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _status_kb("VmRSS")
        self.assertEqual(sha1(self.read_back(att)), digest)
        whole_mb = (_status_kb("VmHWM") - before) / 1024
        self.assertGreater(whole_mb, 60)
        logging.getLogger(__name__).info(
            "64 MB download through the Odoo stream path (%s): peak RSS +%.1f MB "
            "(whole-object read: +%.1f MB)",
            self.scheme, growth_mb, whole_mb)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)
