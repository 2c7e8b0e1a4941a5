# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "JSON Logging",
    "summary": "One JSON object per log line, with request id and SQL figures (server-wide)",
    "version": "1.0.0",
    "category": "Extra Tools",
    "author": "Odoo Cloud Addons contributors",
    "website": "https://github.com/odoo-cloud/odoo-cloud-addons",
    "license": "LGPL-3",
    "depends": ["base"],
    "external_dependencies": {"python": ["odoo-cloud", "python-json-logger"]},
    "post_load": "post_load",
}
