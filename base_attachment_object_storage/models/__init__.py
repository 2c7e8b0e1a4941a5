from . import ir_attachment
from . import ir_attachment_migration
