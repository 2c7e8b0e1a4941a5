# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Install, upgrade and uninstall paths: the GC tables and the keep-in-database rules' parameter.

GC tables (`object_storage_gc`, `object_storage_gc_epoch`):

The core (`odoo_cloud.storage.gc`) owns their DDL, so that the CLI tools (migration, fsck) create the same
tables on a database this addon never ran in. Install and upgrade: `ir.attachment.init()` calls
`gc.ensure_table`, which is idempotent and brings an older table up to date. Uninstall: this hook drops
them; candidates still pending are forgotten, so their objects stay in the bucket (a leak, never a loss).

Keep-in-database rules: the parameter `ir_attachment.storage.force.database` is written at install from
the core's `rules.DEFAULT_RULES` (the one place of the defaults), unless it is set already; an upgrade
never touches it (an administrator's value stays); uninstalling removes it, as it removed the data record
of earlier versions. Databases installed with that record keep its value (a `noupdate` record, which an
upgrade does not delete).
"""
from odoo_cloud.storage import gc, rules


def post_init_hook(env):
    params = env["ir.config_parameter"].sudo()
    if not params.get_param(rules.PARAMETER):
        params.set_param(rules.PARAMETER, rules.DEFAULT_RULES_TEXT)


def uninstall_hook(env):
    gc.drop_tables(env.cr)
    env["ir.config_parameter"].sudo().search([("key", "=", rules.PARAMETER)]).unlink()
