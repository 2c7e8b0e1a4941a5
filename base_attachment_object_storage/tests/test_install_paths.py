# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Install, upgrade and uninstall paths (hooks.py): the GC tables and the keep-in-database parameter.

DDL is transactional in PostgreSQL: the test transaction's rollback restores the tables afterwards.
"""
import json

from odoo.modules.module import get_manifest
from odoo.tests.common import TransactionCase, tagged

from odoo_cloud.storage import gc, rules

from ..hooks import post_init_hook, uninstall_hook


@tagged("post_install", "-at_install")
class TestInstallPaths(TransactionCase):
    def _tables(self):
        self.env.cr.execute("SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
                            (gc.TABLE, gc.EPOCH_TABLE))
        return self.env.cr.fetchone()

    def test_installed_then_dropped_by_the_uninstall_hook_then_recreated_by_an_upgrade(self):
        self.assertEqual(self._tables(), (True, True))
        uninstall_hook(self.env)
        self.assertEqual(self._tables(), (False, False))
        self.env["ir.attachment"].init()  # what install and `-u` run
        self.assertEqual(self._tables(), (True, True))
        self.env.cr.execute(f"SELECT count(*) FROM {gc.EPOCH_TABLE}")
        self.assertEqual(self.env.cr.fetchone()[0], gc.EPOCH_PARTS)

    def test_the_keep_in_db_parameter_comes_from_the_core_defaults_and_an_admin_value_stays(self):
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(json.loads(params.get_param(rules.PARAMETER)), rules.DEFAULT_RULES)
        params.set_param(rules.PARAMETER, '{"image/": 10}')
        post_init_hook(self.env)
        self.assertEqual(params.get_param(rules.PARAMETER), '{"image/": 10}')
        uninstall_hook(self.env)
        self.assertFalse(params.get_param(rules.PARAMETER))
        post_init_hook(self.env)
        self.assertEqual(params.get_param(rules.PARAMETER), rules.DEFAULT_RULES_TEXT)

    def test_the_manifest_declares_the_hooks(self):
        manifest = get_manifest("base_attachment_object_storage")
        self.assertEqual(manifest.get("post_init_hook"), "post_init_hook")
        self.assertEqual(manifest.get("uninstall_hook"), "uninstall_hook")
