from . import (  # noqa: F401
    ir_attachment,
    ir_attachment_fsck,
    ir_attachment_migration,
    ir_attachment_ownership,
    ir_http,
)
