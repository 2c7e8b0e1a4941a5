# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Test runner support (scripts/odoo_tests.py)",
    "summary": "Server-wide only, never installed: skips the asset pregeneration meant for browser tours",
    "version": "1.0.0",
    "license": "LGPL-3",
    "author": "Odoo Cloud Addons",
    "depends": ["base"],
    "post_load": "post_load",
    "installable": True,
}
