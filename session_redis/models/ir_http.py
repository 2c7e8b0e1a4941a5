# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import models

from ..http_store import RedisSessionUnavailable


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _handle_error(cls, exception):
        # JSON-RPC routes would wrap it in a 200 "Odoo Server Error": a Redis outage is a 503 for every route
        if isinstance(exception, RedisSessionUnavailable):
            return exception
        return super()._handle_error(exception)
