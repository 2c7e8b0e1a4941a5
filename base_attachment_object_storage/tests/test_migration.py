"""The migration engine through Odoo: force_storage(), migrate_storage(), ORM cache coherence.

Odoo tests run in one transaction that is rolled back: migrate_storage() detects it and works in
savepoints (no commit, old copies only marked). Commits, kills and concurrent runners are covered by
the core suite (tests/migration) on a real PostgreSQL.
"""
from __future__ import annotations

import hashlib
import os
import uuid

from odoo.exceptions import AccessError
from odoo.tests.common import TransactionCase, new_test_user, tagged


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


@tagged("post_install", "-at_install")  # after attachment_s3/attachment_swift are installed too
class TestAttachmentMigration(TransactionCase):
    def setUp(self):
        super().setUp()
        self.params = self.env["ir.config_parameter"].sudo()
        self.params.set_param("ir_attachment.location", "file")
        self.Attachment = self.env["ir.attachment"]
        self.contents = [f"{self.id()} {uuid.uuid4()} {i}\n".encode() + os.urandom(3000) for i in range(12)]
        self.contents.append(self.contents[0])  # shared content
        self.attachments = self.Attachment.create([
            {"name": f"doc{i}.bin", "raw": data, "mimetype": "application/octet-stream"}
            for i, data in enumerate(self.contents)
        ])
        self.image = self.Attachment.create({"name": "small.png", "raw": self.unique_png(),
                                             "mimetype": "image/png"})

    def unique_png(self):
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)).save(out, format="PNG")
        return out.getvalue()

    def migrate(self, location, **options):
        self.params.set_param("ir_attachment.location", location)
        return self.Attachment.migrate_storage(**options)

    def assert_contents(self):
        for attachment, data in zip(self.attachments, self.contents, strict=True):
            self.assertEqual(attachment.raw, data)
            self.assertEqual(attachment.checksum, sha1(data))
            self.assertEqual(attachment.file_size, len(data))

    def test_file_to_db_and_back_with_a_coherent_cache(self):
        self.assertTrue(all(self.attachments.mapped("store_fname")))
        self.assert_contents()  # cached: store_fname, raw
        report = self.migrate("db", batch_size=5, workers=3)
        self.assertTrue(report["ok"])
        self.assertGreaterEqual(report["moved"], len(self.attachments) + 1)  # + the database's own files
        # no invalidation by the test: migrate_storage() must have done it
        self.assertFalse(any(self.attachments.mapped("store_fname")))
        self.assert_contents()
        self.env.cr.execute("SELECT count(*) FROM ir_attachment WHERE id = ANY(%s) AND db_datas IS NOT NULL",
                            [self.attachments.ids])
        self.assertEqual(self.env.cr.fetchone()[0], len(self.attachments))

        report = self.migrate("file", batch_size=4)
        self.assertTrue(report["ok"])
        self.assertEqual(self.attachments[0].store_fname, self.attachments[-1].store_fname, "shared content")
        for attachment in self.attachments:
            self.assertEqual(attachment.store_fname, f"{attachment.checksum[:2]}/{attachment.checksum}")
            self.assertFalse(attachment.db_datas)
        self.assert_contents()
        self.assertEqual(self.migrate("file")["moved"], 0, "a second run has nothing to do")

    def test_dry_run_and_limit(self):
        report = self.migrate("db", dry_run=True)
        self.assertTrue(report["dry_run"])
        self.assertGreaterEqual(report["pending_at_start"], len(self.attachments) + 1)
        self.assertTrue(all(self.attachments.mapped("store_fname")), "a dry run changes nothing")
        report = self.migrate("db", limit=3, batch_size=2)
        self.assertEqual(report["moved"], 3)

    def test_missing_file_is_reported_not_emptied(self):
        victim = self.attachments[5]
        path = self.Attachment._full_path(victim.store_fname)
        os.unlink(path)
        try:
            report = self.migrate("db")
        finally:
            with open(path, "wb") as handle:  # the filestore outlives the rolled-back test
                handle.write(self.contents[5])
        self.assertFalse(report["ok"])
        self.assertIn(victim.id, [f["attachment_id"] for f in report["failures"]])
        self.assertTrue(victim.store_fname, "left where it was")
        self.assertFalse(victim.db_datas)

    def test_force_storage_is_admin_only(self):
        user = new_test_user(self.env, login=f"mig-{uuid.uuid4().hex[:8]}", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.Attachment.with_user(user).force_storage()
        with self.assertRaises(AccessError):
            self.Attachment.with_user(user).migrate_storage()
        self.params.set_param("ir_attachment.location", "db")
        self.assertTrue(self.Attachment.force_storage())
        self.assertFalse(any(self.attachments.mapped("store_fname")))
        self.assert_contents()

    def test_to_object_store_with_keep_in_db_rules(self):
        from ..models.settings import storage_settings

        settings = storage_settings()
        configured = [s for s in self.Attachment._object_storage_schemes()
                      if (settings.s3 if s == "s3" else settings.swift).configured]
        if not configured:
            self.skipTest("no object store installed and configured (attachment_s3/attachment_swift)")
        scheme = configured[0]
        report = self.migrate(scheme, batch_size=4, workers=4)
        self.assertTrue(report["ok"], report["failures"])
        store = self.Attachment._object_store(scheme)
        for attachment, data in zip(self.attachments, self.contents, strict=True):
            self.assertEqual(attachment.store_fname, store.uri(sha1(data)))
            self.assertEqual(store.get(sha1(data)), data)
        self.assertFalse(self.image.store_fname, "small images stay in the database (keep-in-DB rules)")
        self.assert_contents()
        report = self.migrate("file")
        self.assertTrue(report["ok"])
        self.assertFalse(any(a.store_fname.startswith(f"{scheme}://") for a in self.attachments))
        self.assert_contents()
