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
    from odoo.addons.base.models.ir_qweb import IrQWeb

    def _pregenerate_assets_bundles(self):
        _logger.info("asset bundles not pregenerated (scripts/odoo_tests.py: no browser tests here)")

    IrQWeb._pregenerate_assets_bundles = _pregenerate_assets_bundles
