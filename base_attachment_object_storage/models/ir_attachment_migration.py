"""Entry points of the attachment migration engine in Odoo: `force_storage()` and `migrate_storage()`.

The engine (odoo_cloud.storage.migration) works on SQL through ``env.cr`` and commits once per batch, so
the ORM cache is flushed before it starts and invalidated for every batch it switched: records read
before the migration never serve a stale store_fname/db_datas afterwards.
"""
from __future__ import annotations

import logging

import odoo
from odoo import api, models
from odoo.exceptions import AccessError, UserError

from odoo_cloud.storage import SCHEMES, StorageError, backends, rules
from odoo_cloud.storage.migration import (
    Engine,
    Filestore,
    Location,
    MigrationAborted,
    NoCommitDatabase,
    Options,
)
from odoo_cloud.storage.migration.objects import VERIFY_MODES, ObjectWriter, StoreReader

from . import writing
from .errors import CORE_ERRORS
from .settings import storage_settings

_logger = logging.getLogger(__name__)

LOCATION_PARAMETER = "ir_attachment.location"
#: what the client of a migration that met an outage is told (503, see writing.py)
MIGRATION_UNAVAILABLE = ("Attachment migration stopped: the attachment storage is unavailable, please retry "
                         "later. Batches done so far are committed; run it again to resume.")


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    @api.model
    def force_storage(self):
        """Core's entry point, admin only: move every attachment to the configured location."""
        if not self.env.is_admin():
            raise AccessError(self.env._("Only administrators can execute this action."))
        report = self.migrate_storage()
        if report["failed"]:
            _logger.warning("force_storage: %d attachment(s) could not be moved, see the log above",
                            report["failed"])
        return True

    @api.model
    def migrate_storage(self, *, batch_size=200, workers=8, limit=None, dry_run=False, verify="auto",
                        progress_interval=10.0, commit=None, location=None):
        """Move attachments to `location` (default: the configured `ir_attachment.location`).

        For scripts and anthem songs: commits one batch at a time (``commit=False``, or running inside
        an Odoo test, keeps everything in the current transaction), can be interrupted and called
        again, and returns the report as a dict (moved, kept_in_db, failed, failures, remaining...).
        """
        if not self.env.is_admin():
            raise AccessError(self.env._("Only administrators can execute this action."))
        if verify not in VERIFY_MODES:
            raise UserError(self.env._("verify must be one of %(modes)s", modes=", ".join(VERIFY_MODES)))
        location = location or self.env["ir.config_parameter"].sudo().get_param(LOCATION_PARAMETER, "file")
        if storage_settings().storage.disabled:
            _logger.warning("DISABLE_ATTACHMENT_STORAGE is set: attachment migration to %s skipped", location)
            return {"location": location, "skipped_reason": "DISABLE_ATTACHMENT_STORAGE", "moved": 0,
                    "failed": 0, "failures": [], "remaining": None, "ok": True}
        if commit is None:
            commit = not odoo.modules.module.current_test
        try:
            target, writer = self._migration_target(location, verify)
            reader = self._migration_reader()
            options = Options(batch_size=batch_size, workers=workers, limit=limit, dry_run=dry_run,
                              progress_interval=progress_interval)
        except CORE_ERRORS as exc:
            raise UserError(str(exc)) from None
        self.env.flush_all()
        database = self.env.cr if commit else NoCommitDatabase(self.env.cr)
        engine = Engine(
            database, target, filestore=Filestore(self._filestore()), writer=writer, read_object=reader,
            options=options, on_batch=self._migration_invalidate,
            mark_uploads=self._object_storage_mark_fresh if target.kind == "object" else None,
        )
        try:
            with writing.unavailable_as_503(f"attachment migration to {location}", MIGRATION_UNAVAILABLE):
                report = engine.run()
        except (MigrationAborted, StorageError) as exc:
            raise UserError(self.env._(
                "Attachment migration to %(location)s stopped: %(error)s. Batches done so "
                "far are committed; run it again to resume.", location=location, error=exc)) from None
        finally:
            self.env.invalidate_all(flush=False)
        return report.as_dict()

    @api.model
    def _migration_target(self, location, verify):
        if location == "db":
            return Location.db(), None
        if location == "file":
            return Location.file(), None
        if location not in SCHEMES:
            raise ValueError(f"{LOCATION_PARAMETER}={location!r}: expected db, file, "
                             f"{', '.join(SCHEMES)}")
        if location not in self._object_storage_schemes():
            raise ValueError(f"{LOCATION_PARAMETER}={location!r} but attachment_{location} is not "
                             "installed in this database")
        writer = ObjectWriter(self._object_store(location), verify=verify)
        param = self.env["ir.config_parameter"].sudo().get_param(rules.PARAMETER)
        return Location.object(writer.uri_prefix, rules.parse_rules(param)), writer

    @api.model
    def _migration_reader(self):
        """Reads sources in any bucket of the stores this database has configured and installed."""
        settings = storage_settings()
        stores = {}
        for scheme in self._object_storage_schemes():
            if backends.get(scheme).configured(settings):
                stores[scheme] = self._object_store(scheme)
        return StoreReader(stores) if stores else None

    def _migration_invalidate(self, ids):
        """Called by the engine after each batch: SQL changed these rows behind the ORM's back."""
        self.browse(ids).invalidate_recordset(flush=False)
