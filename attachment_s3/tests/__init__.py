from . import test_attachment_s3, test_invalid_references  # noqa: F401
