# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import io
import json
import logging
import os
import re
import threading
import warnings
from unittest.mock import patch

import odoo.netsvc
from odoo.tests import HttpCase, TransactionCase, tagged

from odoo_cloud import logs

from .. import hooks


@tagged("post_install", "-at_install")
class TestLoggingJson(HttpCase):
    """Request ids and JSON lines through Odoo's real HTTP server (the test process serves requests)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # post_load did it when ODOO_LOGGING_JSON is on; without it, set up only the request context
        # (idempotent) so the whole test run's console is not switched to JSON behind the runner's back
        hooks.install_request_context()

    def setUp(self):
        super().setUp()
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logs.JsonFormatter())
        root = logging.getLogger()
        root.addHandler(self.handler)
        self.addCleanup(root.removeHandler, self.handler)

    def lines(self):
        self.handler.flush()
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def test_request_id_round_trip(self):
        response = self.url_open("/web/health", headers={"X-Request-ID": "odoo-test-42"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["X-Request-ID"], "odoo-test-42")
        hostile = self.url_open("/web/health", headers={"X-Request-ID": "no spaces allowed"})
        self.assertRegex(hostile.headers["X-Request-ID"], r"^[0-9a-f]{32}$")
        plain = self.url_open("/web/health")
        self.assertRegex(plain.headers["X-Request-ID"], r"^[0-9a-f]{32}$")
        self.assertNotEqual(plain.headers["X-Request-ID"], hostile.headers["X-Request-ID"])

    def test_lines_of_a_request_share_its_id(self):
        self.authenticate("admin", "admin")
        response = self.url_open("/web/login", headers={"X-Request-ID": "odoo-test-login"})
        self.assertEqual(response.status_code, 200)
        access = [line for line in self.lines()
                  if line["logger"] == "werkzeug" and line.get("request_id") == "odoo-test-login"]
        if not access:
            werkzeug_level = logging.getLogger("werkzeug").getEffectiveLevel()
            self.assertGreater(werkzeug_level, logging.INFO, "no access line although werkzeug logs INFO")
            self.skipTest(f"werkzeug access lines are disabled in this run (level {werkzeug_level})")
        (line,) = access
        self.assertEqual(line["http_method"], "GET")
        self.assertEqual(line["http_path"], "/web/login")
        self.assertEqual(line["http_status"], 200)
        self.assertIsInstance(line["sql_count"], int)
        self.assertIsInstance(line["duration_ms"], float)

    def test_no_request_id_outside_requests(self):
        """A cron-like thread logs with no id, even while the test thread has served requests."""
        self.url_open("/web/health", headers={"X-Request-ID": "odoo-test-before-thread"})
        thread = threading.Thread(target=lambda: logging.getLogger("odoo.addons.base.models.ir_cron")
                                  .info("cron job ran"), name="odoo.service.cron.cron0")
        thread.start()
        thread.join()
        cron = [line for line in self.lines() if line["message"] == "cron job ran"]
        self.assertEqual(len(cron), 1)
        self.assertIsNone(cron[0]["request_id"])
        self.assertEqual(cron[0]["thread"], "odoo.service.cron.cron0")

    def test_warnings_routed_by_odoo_become_json(self):
        """Odoo's init_logger captures warnings into logging: they must come out as one JSON line."""

        class Noisy:
            def __str__(self):
                warnings.warn("Noisy.__str__ is deprecated", DeprecationWarning, stacklevel=1)
                return "noisy"

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.getLogger("odoo.addons.logging_json").info("formatting %s", Noisy())
        messages = [line["message"] for line in self.lines()]
        self.assertIn("formatting noisy", messages)
        self.assertTrue(any("Noisy.__str__ is deprecated" in message for message in messages), messages)

    def test_root_handlers_write_json_and_the_db_handler_is_left_alone(self):
        if os.environ.get("ODOO_LOGGING_JSON", "").lower() not in ("1", "true", "yes", "on"):
            self.skipTest("ODOO_LOGGING_JSON is off in this run: post_load kept Odoo's text format")
        handlers = [h for h in logging.getLogger().handlers if h is not self.handler]
        self.assertTrue(handlers)
        for handler in handlers:
            if isinstance(handler, odoo.netsvc.PostgreSQLHandler):
                self.assertNotIsInstance(handler.formatter, logs.JsonFormatter)
            else:
                self.assertIsInstance(handler.formatter, logs.JsonFormatter)
        record = logging.LogRecord("odoo.test", logging.INFO, __file__, 1, "check %s", ("me",), None)
        line = json.loads(handlers[0].format(record))
        self.assertEqual(line["message"], "check me")
        self.assertTrue(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"]))


class TestLoggingJsonConfiguration(TransactionCase):
    def test_a_bad_boolean_is_reported_and_changes_nothing(self):
        from .. import post_load

        formatters = [handler.formatter for handler in logging.getLogger().handlers]
        with patch.dict(os.environ, {"ODOO_LOGGING_JSON": "sometimes"}), \
                self.assertLogs("odoo.addons.logging_json", "ERROR") as logged:
            post_load()
        (message,) = logged.output
        self.assertIn("ODOO_LOGGING_JSON='sometimes'", message)
        self.assertIn("1/true/yes/on or 0/false/no/off", message)
        self.assertEqual([handler.formatter for handler in logging.getLogger().handlers], formatters)
