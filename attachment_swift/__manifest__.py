# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Attachments on OpenStack Swift",
    "summary": "Store attachments on OpenStack Swift object storage",
    "version": "1.0.0",
    "category": "Knowledge",
    "author": "Odoo Cloud Addons contributors",
    "website": "https://github.com/odoo-cloud/odoo-cloud-addons",
    "license": "LGPL-3",
    "depends": ["base_attachment_object_storage"],
    "external_dependencies": {"python": ["odoo-cloud", "python-swiftclient", "keystoneauth1"]},
}
