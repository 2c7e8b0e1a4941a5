# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Base Attachment Object Storage",
    "summary": "Store attachments in an object storage (S3, Swift) instead of the local filestore",
    "version": "1.0.0",
    "category": "Knowledge",
    "author": "Odoo Cloud Addons contributors",
    "website": "https://github.com/odoo-cloud/odoo-cloud-addons",
    "license": "LGPL-3",
    "depends": ["base"],
    "external_dependencies": {"python": ["odoo-cloud"]},
    "data": ["data/ir_cron_fsck.xml"],
    "post_init_hook": "post_init_hook",
    "uninstall_hook": "uninstall_hook",
}
