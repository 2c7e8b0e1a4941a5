from . import test_attachment_swift  # noqa: F401
