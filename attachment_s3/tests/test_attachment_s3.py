from odoo.addons.base_attachment_object_storage.tests.common import ObjectStorageHttpTests, ObjectStorageTests
from odoo.tests import HttpCase, TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestAttachmentS3(ObjectStorageTests, TransactionCase):
    scheme = "s3"


@tagged("post_install", "-at_install")
class TestAttachmentS3Http(ObjectStorageHttpTests, HttpCase):
    scheme = "s3"
