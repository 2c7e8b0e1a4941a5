"""Issue 10 item 3 in Odoo: a store_fname whose key could address another bucket (`..` segments) is
never marked for the GC, never sent to the store, and never prevents deleting the attachment."""
from odoo.addons.base_attachment_object_storage.tests.common import ObjectStorageMixin, sha1
from odoo.tests import TransactionCase, tagged

from odoo_cloud import instrumentation
from odoo_cloud.storage import gc as object_gc


@tagged("post_install", "-at_install")
class TestInvalidReferences(ObjectStorageMixin, TransactionCase):
    scheme = "s3"

    def test_a_hostile_reference_is_never_marked_nor_sent_and_unlink_works(self):
        data = self.unique(1000)
        att = self.Attachment.create({"name": "x.bin", "raw": data, "mimetype": "application/octet-stream"})
        hostile = [f"s3://{self.store.bucket}/../other-bucket/{sha1(data)}", f"s3://../other/{sha1(data)}"]
        others = self.Attachment.create([{"name": f"y{i}.bin", "raw": self.unique(100)} for i in range(2)])
        for record, fname in zip(others, hostile, strict=True):
            self.env.cr.execute("UPDATE ir_attachment SET store_fname = %s WHERE id = %s", (fname, record.id))
        others.invalidate_recordset()
        seen = []
        instrumentation.subscribe(seen.append)
        try:
            with self.assertLogs("odoo_cloud.storage.gc", "WARNING") as logs:
                others.unlink()
        finally:
            instrumentation.unsubscribe(seen.append)
        self.assertFalse(others.exists())
        self.assertEqual(len(logs.records), len(hostile))
        self.assertEqual([op.name for op in seen if op.name.startswith("storage.")], [], "no store call")
        self.assertFalse(set(hostile) & set(object_gc.pending(self.env.cr)))
        self.assertEqual(self.read_back(att), data)
