# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Install, upgrade and uninstall paths of the GC tables (`object_storage_gc`, `object_storage_gc_epoch`).

The core (`odoo_cloud.storage.gc`) owns their DDL, so that the CLI tools (migration, fsck) create the same
tables on a database this addon never ran in. Install and upgrade: `ir.attachment.init()` calls
`gc.ensure_table`, which is idempotent and brings an older table up to date. Uninstall: this hook drops
them; candidates still pending are forgotten, so their objects stay in the bucket (a leak, never a loss).
"""
from odoo_cloud.storage import gc


def uninstall_hook(env):
    gc.drop_tables(env.cr)
