# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Odoo glue of the per-environment checks: refuse to load a badly configured database, install().

The rules themselves live in `odoo_cloud.environments` (shared with `odoo-cloud check`); this model only
feeds them what Odoo knows: server_environment's `running_env`, the current `ir_attachment.location`
and the database name (for `{db}` in bucket names).
"""
import logging
import os

from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import config

from odoo_cloud.environments import DEV, KNOWN_ENVIRONMENTS, LOCATION_PARAMETER, check_environment
from odoo_cloud.storage import backends

_logger = logging.getLogger(__name__)


class CloudPlatform(models.AbstractModel):
    _name = "cloud.platform"
    _description = "Cloud platform: per-environment checks and installation"

    # ------------------------------------------------------------------ checks
    @api.model
    def _running_env(self):
        """server_environment's resolution (config `running_env`, RUNNING_ENV, ODOO_STAGE, 'test')."""
        # importing the module is what resolves it; it is loaded already as a dependency
        from odoo.addons.server_environment import server_env  # noqa: F401

        return config.get("running_env") or None

    @api.model
    def check(self):
        """Every problem of the current configuration, as an `odoo_cloud.environments.Report`."""
        location = self.env["ir.attachment"].sudo()._storage()
        return check_environment(self._running_env(), os.environ, location=location,
                                 dbname=self.env.cr.dbname, running_env_variable="running_env")

    def _register_hook(self):
        super()._register_hook()
        self._check_at_load()

    @api.model
    def _check_at_load(self):
        """Raise (the registry then fails to load) when the deployment is badly configured.

        A wrong `ir_attachment.location` only warns: install() is what sets it, and install() needs a
        loaded database to run in.
        """
        report = self.check()
        dbname = self.env.cr.dbname
        for problem in report.location_problems:
            _logger.warning("cloud_platform: database %s: %s", dbname, problem)
        blocking = report.blocking_problems
        if not blocking:
            _logger.info("cloud_platform: database %s: configuration OK for running_env %r",
                         dbname, report.running_env)
            return report
        error = report.error(blocking)
        if report.settings.platform.unsafe:
            _logger.warning("cloud_platform: ODOO_CLOUD_PLATFORM_UNSAFE is on, database %s loads "
                            "despite: %s", dbname, error)
            return report
        _logger.critical("cloud_platform: database %s refused to load: %s", dbname, error)
        raise error

    # ------------------------------------------------------------------ install
    @api.model
    def install(self, migrate=True, **migration_options):
        """Set `ir_attachment.location` for the running environment and migrate the attachments.

        Idempotent: a second call finds the location set and nothing left to migrate. Returns what it
        did (also logged), for anthem songs and deploy scripts.
        """
        if not self.env.is_admin():
            raise AccessError(self.env._("Only administrators can install the cloud platform."))
        report = self.check()
        unsafe = report.settings.platform.unsafe
        self._refuse(report, report.blocking_problems, unsafe)
        params = self.env["ir.config_parameter"].sudo()
        before = self.env["ir.attachment"]._storage()
        target = report.expected_location
        done = {"running_env": report.running_env, "location_before": before, "location": before,
                "migration": None}
        if target is None:
            if report.running_env not in KNOWN_ENVIRONMENTS:  # only reachable with UNSAFE on
                raise UserError(self.env._(
                    "cloud_platform: running_env %(env)r is none of %(known)s: no location to set",
                    env=report.running_env, known=", ".join(KNOWN_ENVIRONMENTS)))
            if report.running_env != DEV:
                raise UserError(self.env._(
                    "cloud_platform: no object store to use in %(env)s (set %(variables)s, and "
                    "ODOO_CLOUD_PLATFORM_STORAGE when both are set)",
                    env=report.running_env,
                    variables=" or ".join(b.bucket_variable.name for b in backends.all_backends())))
            _logger.info("cloud_platform: running_env dev: %s left at %r, nothing migrated",
                         LOCATION_PARAMETER, before)
            return done
        self._require_store_addon(target)
        if before != target:
            params.set_param(LOCATION_PARAMETER, target)
            _logger.info("cloud_platform: %s set from %r to %r for running_env %r",
                         LOCATION_PARAMETER, before, target, report.running_env)
        else:
            _logger.info("cloud_platform: %s already %r", LOCATION_PARAMETER, target)
        done["location"] = target
        after = self.check()
        self._refuse(after, after.problems, unsafe)
        if migrate:
            done["migration"] = self._migrate_attachments(**migration_options)
        return done

    @api.model
    def _require_store_addon(self, location):
        """This addon depends on neither store (installing it must not pull boto3 and swiftclient): the
        store of the environment needs its own addon, `attachment_s3` or `attachment_swift`."""
        installed = self.env["ir.attachment"]._object_storage_schemes()
        if location in backends.SCHEMES and location not in installed:
            raise UserError(self.env._(
                "cloud_platform: the environment stores attachments in %(location)s: install the addon "
                "attachment_%(location)s first (it brings that store's client library)", location=location))

    @api.model
    def _refuse(self, report, problems, unsafe):
        if not problems:
            return
        error = report.error(problems)
        if unsafe:
            _logger.warning("cloud_platform: ODOO_CLOUD_PLATFORM_UNSAFE is on, install() goes on "
                            "despite: %s", error)
            return
        raise error

    @api.model
    def _migrate_attachments(self, **options):
        """Move every attachment to the location just set, with the migration engine.

        Batches are committed as they go (the engine's own transactions), so a failure leaves a
        resumable state: install() raises so the deploy step fails, and running it again resumes.
        """
        attachments = self.env["ir.attachment"].sudo()
        location = attachments._storage()
        _logger.info("cloud_platform: migrating attachments to %r", location)
        report = attachments.migrate_storage(**options)
        keys = ("moved", "kept_in_db", "failed", "remaining", "skipped_reason")
        summary = ", ".join(f"{key}={report[key]}" for key in keys if report.get(key))
        if report.get("failed"):
            reasons = "; ".join(f"#{f['attachment_id']}: {f['reason']}" for f in report["failures"][:5])
            _logger.error("cloud_platform: migration to %r incomplete: %s (%s)", location, summary, reasons)
            raise UserError(self.env._(
                "cloud_platform: %(failed)s attachment(s) could not be moved to %(location)s (%(reasons)s). "
                "Run install() again once fixed: it resumes.",
                failed=report["failed"], location=location, reasons=reasons))
        _logger.info("cloud_platform: migration to %r done: %s", location, summary or "nothing to move")
        return report
