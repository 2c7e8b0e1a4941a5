# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Cloud Platform",
    "summary": "Check and install the cloud configuration for the running environment",
    "version": "1.0.0",
    "category": "Extra Tools",
    "author": "Odoo Cloud Addons contributors",
    "website": "https://github.com/odoo-cloud/odoo-cloud-addons",
    "license": "LGPL-3",
    # not attachment_s3 / attachment_swift: install the one the environment uses (install() says so)
    "depends": [
        "base",
        "server_environment",
        "base_attachment_object_storage",
        "session_redis",
        "logging_json",
        "monitoring_statsd",
    ],
    "external_dependencies": {"python": ["odoo-cloud"]},
}
