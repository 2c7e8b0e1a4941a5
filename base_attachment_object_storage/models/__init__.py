from . import ir_attachment, ir_attachment_fsck, ir_attachment_migration  # noqa: F401
