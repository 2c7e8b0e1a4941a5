# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""The GC tables' install/upgrade path (`ir.attachment.init()`) and uninstall path (the hook).

DDL is transactional in PostgreSQL: the test transaction's rollback restores the tables afterwards.
"""
from odoo.modules.module import get_manifest
from odoo.tests.common import TransactionCase, tagged

from odoo_cloud.storage import gc

from ..hooks import uninstall_hook


@tagged("post_install", "-at_install")
class TestGcTables(TransactionCase):
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

    def test_the_manifest_declares_the_hook(self):
        manifest = get_manifest("base_attachment_object_storage")
        self.assertEqual(manifest.get("uninstall_hook"), "uninstall_hook")
