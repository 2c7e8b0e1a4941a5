from . import ir_attachment, ir_attachment_migration  # noqa: F401
