import uuid

from odoo.addons.base_attachment_object_storage.tests.common import ObjectStorageHttpTests, ObjectStorageTests
from odoo.tests import HttpCase, TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestAttachmentSwift(ObjectStorageTests, TransactionCase):
    scheme = "swift"


@tagged("post_install", "-at_install")
class TestAttachmentSwiftHttp(ObjectStorageHttpTests, HttpCase):
    scheme = "swift"

    def presign_environment(self):
        """Swift temp URLs need a key on the account and the same key in SWIFT_TEMP_URL_KEY."""
        key = "tempurl-" + uuid.uuid4().hex
        with self.store.pool.connection() as conn:
            conn.post_account({"X-Account-Meta-Temp-URL-Key": key})
        return {"SWIFT_TEMP_URL_KEY": key}
