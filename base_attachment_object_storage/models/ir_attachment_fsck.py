"""The scheduled sampled check of odoo-cloud fsck (off by default): missing objects show on a dashboard
before a user opens one. The engine is `odoo_cloud.storage.fsck.sample_check`."""
from __future__ import annotations

import logging

from odoo import api, models

from odoo_cloud.storage.fsck import sample_check

_logger = logging.getLogger(__name__)

SAMPLE_PARAM = "object_storage.fsck.sample_size"
DEFAULT_SAMPLE = 200


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.model
    def _object_storage_fsck_sample(self, sample_size=None):
        """HEAD the objects of a random sample of rows (system parameter object_storage.fsck.sample_size,
        default 200); log what is missing or damaged; the counts are published as metrics."""
        if sample_size is None:
            raw = self.env["ir.config_parameter"].sudo().get_param(SAMPLE_PARAM)
            try:
                sample_size = max(1, int(raw)) if raw else DEFAULT_SAMPLE
            except ValueError:
                _logger.warning("system parameter %s=%r is not a whole number: using %d", SAMPLE_PARAM, raw,
                                DEFAULT_SAMPLE)
                sample_size = DEFAULT_SAMPLE
        report = sample_check(self.env.cr, self._object_store, sample_size)
        for example in report.missing:
            _logger.error("object storage fsck: attachment %(id)s (%(res_model)s/%(res_id)s %(name)r) "
                          "references %(store_fname)s, missing from the store", example)
        for example in report.damaged:
            _logger.error("object storage fsck: attachment %(id)s references %(store_fname)s whose size "
                          "%(size)s differs from the row's %(file_size)s", example)
        _logger.info("object storage fsck sample: %d checked, %d missing, %d damaged, %d unreachable",
                     report.checked, len(report.missing), len(report.damaged), report.unavailable)
        return report.as_dict()
