from odoo import api, models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.model
    def _object_storage_schemes(self):
        """Installing this addon makes `ir_attachment.location = swift` usable in this database."""
        return [*super()._object_storage_schemes(), "swift"]
