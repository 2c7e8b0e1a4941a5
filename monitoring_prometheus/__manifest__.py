# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Monitoring: Prometheus",
    "summary": "Prometheus metrics of every worker on a listener of their own (server-wide)",
    "version": "1.0.0",
    "category": "Extra Tools",
    "author": "Odoo Cloud Addons contributors",
    "website": "https://github.com/odoo-cloud/odoo-cloud-addons",
    "license": "LGPL-3",
    "depends": ["base", "web"],
    "external_dependencies": {"python": ["odoo-cloud", "prometheus_client"]},
    "post_load": "post_load",
}
