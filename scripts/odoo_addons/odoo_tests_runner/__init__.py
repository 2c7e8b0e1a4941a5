# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Loaded by scripts/odoo_tests.py with --load, never installed in a database.

Before its post_install tests, Odoo pregenerates every JS/CSS asset bundle when any test is an HttpCase
(odoo/service/server.py, `env['ir.qweb']._pregenerate_assets_bundles()`): 20-70 s on 2 cores, spent
only for browser tours. Tours cannot run here (no Chromium) and our HttpCase tests use url_open, which
builds a bundle on demand if it ever asks for one. Odoo's own tests do rely on it (test_http's
test_static20/21 read the pregenerated bundles' attachments): the runner does not load this module when an
Odoo addon is selected (unless `--assets no`), nor with `--assets yes`.
"""
import logging

_logger = logging.getLogger(__name__)


def post_load():
    from odoo.addons.base.models import ir_qweb

    # The model class is IrQWeb on Odoo 18, IrQweb on 19.
    qweb_class = getattr(ir_qweb, "IrQWeb", None) or ir_qweb.IrQweb

    def _pregenerate_assets_bundles(self):
        _logger.info("asset bundles not pregenerated (scripts/odoo_tests.py: no browser tests here)")

    qweb_class._pregenerate_assets_bundles = _pregenerate_assets_bundles
