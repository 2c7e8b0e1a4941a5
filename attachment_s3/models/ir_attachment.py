from odoo import api, models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.model
    def _object_storage_schemes(self):
        """Installing this addon makes `ir_attachment.location = s3` usable in this database."""
        return [*super()._object_storage_schemes(), "s3"]
