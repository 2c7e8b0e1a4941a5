from . import ir_attachment, ir_attachment_fsck, ir_attachment_migration, ir_attachment_ownership  # noqa: F401
