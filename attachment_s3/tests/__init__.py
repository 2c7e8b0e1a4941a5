from . import test_attachment_s3
