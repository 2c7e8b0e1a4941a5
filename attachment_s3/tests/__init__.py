from . import test_attachment_s3  # noqa: F401
