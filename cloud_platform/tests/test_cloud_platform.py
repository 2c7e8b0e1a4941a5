# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""cloud.platform inside Odoo: the load-time check and install() for each running environment.

The running environment and the variables are set per test (server_environment's `running_env` in
Odoo's config, and the process environment), exactly what a deployment changes; the services behind
them are the real servers scripts/odoo_tests.py started.
"""
import logging
import os
from types import SimpleNamespace
from unittest.mock import patch

from odoo.addons.cloud_platform import songs
from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from odoo_cloud.environments import EnvironmentCheckError

CONTENT = b"cloud platform attachment " * 200


def redis_vars(env):
    return {"ODOO_SESSION_REDIS": "1",
            "ODOO_SESSION_REDIS_HOST": os.environ.get("ODOO_SESSION_REDIS_HOST", "127.0.0.1"),
            "ODOO_SESSION_REDIS_PORT": os.environ.get("ODOO_SESSION_REDIS_PORT", "6379"),
            "ODOO_SESSION_REDIS_PREFIX": f"acme-odoo-{env}"}


@tagged("post_install", "-at_install")
class TestCloudPlatform(TransactionCase):
    def running(self, running_env, environ):
        """Run the next block as `running_env` with exactly `environ` as the process environment."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_", "ODOO_", "STATSD_",
                                                                         "RUNNING_ENV", "DISABLE_"))}
        env_patch = patch.dict(os.environ, {**keep, **environ}, clear=True)
        config_patch = patch.dict(config.options, {"running_env": running_env})
        env_patch.start()
        config_patch.start()
        self.addCleanup(env_patch.stop)
        self.addCleanup(config_patch.stop)

    def file_attachment(self):
        self.env["ir.config_parameter"].set_param("ir_attachment.location", "file")
        attachment = self.env["ir.attachment"].create({"name": "cloud.txt", "raw": CONTENT})
        self.assertTrue(attachment.store_fname)
        return attachment

    # -------------------------------------------------------------- checks
    def test_a_prod_with_an_integration_bucket_is_refused_listing_every_problem(self):
        self.running("prod", {"AWS_BUCKETNAME": "acme-odoo-integration", **redis_vars("prod")})
        with self.assertRaises(EnvironmentCheckError) as info, self.assertLogs(
                "odoo.addons.cloud_platform.models.cloud_platform", logging.CRITICAL):
            self.env["cloud.platform"]._check_at_load()
        text = str(info.exception)
        self.assertIn("running_env 'prod'", text)
        self.assertIn("AWS_BUCKETNAME='acme-odoo-integration': expected '<project>-odoo-prod'", text)
        self.assertEqual(info.exception.variables, ["AWS_BUCKETNAME", "ODOO_LOGGING_JSON", "ODOO_STATSD"])

    def test_unsafe_turns_the_refusal_into_a_warning(self):
        self.running("prod", {"AWS_BUCKETNAME": "acme-odoo-integration", "ODOO_CLOUD_PLATFORM_UNSAFE": "1"})
        with self.assertLogs("odoo.addons.cloud_platform.models.cloud_platform", logging.WARNING) as logs:
            report = self.env["cloud.platform"]._check_at_load()
        self.assertIn("AWS_BUCKETNAME", report.error().variables)
        self.assertTrue(any("ODOO_CLOUD_PLATFORM_UNSAFE is on" in line for line in logs.output))

    def test_a_wrong_location_only_warns_at_load(self):
        self.running("test", {**redis_vars("test"), "ODOO_SESSION_REDIS_EXPIRATION": "86400"})
        self.env["ir.config_parameter"].set_param("ir_attachment.location", "file")
        with self.assertLogs("odoo.addons.cloud_platform.models.cloud_platform", logging.WARNING) as logs:
            report = self.env["cloud.platform"]._check_at_load()
        self.assertEqual(report.blocking_problems, ())
        self.assertTrue(any("ir_attachment.location='file': expected 'db'" in line for line in logs.output))

    def test_running_env_comes_from_server_environment(self):
        self.assertEqual(self.env["cloud.platform"].check().running_env, config["running_env"])

    def test_db_placeholder_uses_this_database(self):
        self.running("prod", {"AWS_BUCKETNAME": "{db}-odoo-prod", **redis_vars("prod")})
        report = self.env["cloud.platform"].check()
        # '{db}' became this database's name, so it is compared with the Redis prefix's project
        problems = [p for p in report.problems if p.variable == "ODOO_SESSION_REDIS_PREFIX"]
        if self.env.cr.dbname == "acme":
            self.assertEqual(problems, [])
        else:
            self.assertIn(f"'{self.env.cr.dbname}-odoo-prod'", problems[0].expected)

    # -------------------------------------------------------------- install()
    def test_install_in_test_moves_attachments_into_the_database(self):
        attachment = self.file_attachment()
        self.running("test", {**redis_vars("test"), "ODOO_SESSION_REDIS_EXPIRATION": "86400"})
        with self.assertLogs("odoo.addons.cloud_platform.models.cloud_platform", logging.INFO) as logs:
            done = self.env["cloud.platform"].install()
        self.assertEqual((done["location_before"], done["location"]), ("file", "db"))
        self.assertGreaterEqual(done["migration"]["moved"], 1)
        self.assertEqual(done["migration"]["failed"], 0)
        self.assertEqual(self.env["ir.config_parameter"].get_param("ir_attachment.location"), "db")
        attachment.invalidate_recordset()
        self.assertFalse(attachment.store_fname)
        self.assertEqual(attachment.raw, CONTENT)
        self.assertTrue(any("set from 'file' to 'db'" in line for line in logs.output))
        # idempotent
        again = self.env["cloud.platform"].install()
        self.assertEqual((again["location_before"], again["location"]), ("db", "db"))
        self.assertEqual(again["migration"]["moved"], 0)
        attachment.invalidate_recordset()
        self.assertEqual(attachment.raw, CONTENT)

    def test_install_in_dev_leaves_everything_alone(self):
        attachment = self.file_attachment()
        fname = attachment.store_fname
        self.running("dev", {})
        done = self.env["cloud.platform"].install()
        self.assertEqual((done["location_before"], done["location"], done["migration"]),
                         ("file", "file", None))
        attachment.invalidate_recordset()
        self.assertEqual(attachment.store_fname, fname)

    def test_install_refuses_a_bad_configuration(self):
        self.running("integration", {"AWS_BUCKETNAME": "acme-odoo-prod", **redis_vars("integration"),
                                     "ODOO_LOGGING_JSON": "1"})
        with self.assertRaises(EnvironmentCheckError) as info:
            self.env["cloud.platform"].install()
        self.assertEqual(info.exception.variables, ["AWS_BUCKETNAME"])
        self.assertEqual(self.env["ir.attachment"]._storage(), "file")

    def test_install_with_unsafe_still_needs_a_known_environment(self):
        self.running("staging", {"ODOO_CLOUD_PLATFORM_UNSAFE": "1"})
        with self.assertRaisesRegex(UserError, "'staging' is none of prod, integration, test, dev"):
            self.env["cloud.platform"].install()

    def test_install_with_unsafe_and_no_store_in_prod_says_so(self):
        self.running("prod", {"ODOO_CLOUD_PLATFORM_UNSAFE": "1"})
        with self.assertRaisesRegex(UserError, "no object store to use in prod"):
            self.env["cloud.platform"].install()
        self.assertEqual(self.env["ir.attachment"]._storage(), "file")

    def test_install_needs_the_addon_of_the_environments_store(self):
        """cloud_platform depends on neither store: install() names the one to install, sets nothing."""
        self.running("prod", {"AWS_BUCKETNAME": "acme-odoo-prod", "ODOO_CLOUD_PLATFORM_UNSAFE": "1"})
        attachments = type(self.env["ir.attachment"])
        with patch.object(attachments, "_object_storage_schemes", lambda self: []), \
                self.assertRaisesRegex(UserError, "install the addon attachment_s3 first"):
            self.env["cloud.platform"].install()
        self.assertEqual(self.env["ir.attachment"]._storage(), "file")

    def test_install_is_for_administrators(self):
        user = self.env["res.users"].create({"name": "Plain", "login": "plain-cloud-platform"})
        with self.assertRaises(AccessError):
            self.env["cloud.platform"].with_user(user).install()

    def test_anthem_song_calls_install(self):
        self.file_attachment()
        self.running("test", {**redis_vars("test"), "ODOO_SESSION_REDIS_EXPIRATION": "3600"})
        songs.install(SimpleNamespace(env=self.env))  # anthem hands songs a context with .env
        self.assertEqual(self.env["ir.attachment"]._storage(), "db")
