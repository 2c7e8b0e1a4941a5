# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import contextlib
import os
import socket
import time
from unittest.mock import patch

from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools import mute_logger

from odoo_cloud.metrics import Metrics

from .. import hooks


@tagged("post_install", "-at_install")
class TestMonitoringStatsd(HttpCase):
    """Requests through Odoo's real HTTP server; packets read from a real UDP socket of this test."""

    def setUp(self):
        super().setUp()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addCleanup(self.sock.close)
        metrics = Metrics("odootests", "test", host="127.0.0.1", port=self.sock.getsockname()[1])
        self.addCleanup(metrics.close)
        # the wrappers post_load installs (idempotent), pointed at this test's socket
        hooks._wrap_application()
        hooks._wrap_rpc_dispatch()
        self.patch(hooks, "metrics", metrics)

    def names(self, expected, timeout=3.0):
        """Metric names received until every `expected` one arrived (or the timeout)."""
        names = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not set(expected) <= set(names):
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            names += [line.partition(":")[0] for line in data.decode().split("\n") if line]
        return names

    def test_request_timer_and_status_counters(self):
        self.assertEqual(self.url_open("/web/health").status_code, 200)
        self.assertEqual(self.url_open("/definitely/not/here").status_code, 404)
        expected = ["odoo.http.request.odootests.test", "odoo.http.status.odootests.test.2xx",
                    "odoo.http.status.odootests.test.4xx", "odoo.http.sql_count.odootests.test"]
        names = self.names(expected)
        for name in expected:
            self.assertIn(name, names)

    def test_button_timer_has_model_and_method(self):
        self.authenticate("admin", "admin")
        partner = self.env["res.partner"].create({"name": "Statsd Button"})
        self.make_jsonrpc_request("/web/dataset/call_button", {
            "model": "res.partner", "method": "open_commercial_entity", "args": [[partner.id]], "kwargs": {}})
        name = "odoo.http.button.odootests.test.res_partner.open_commercial_entity"
        self.assertIn(name, self.names([name]))

    def test_xmlrpc_timer_has_model_and_method(self):
        uid = self.xmlrpc_common.authenticate(self.env.cr.dbname, "admin", "admin", {})
        self.xmlrpc_object.execute_kw(self.env.cr.dbname, uid, "admin", "res.partner", "search_count", [[]])
        name = "odoo.rpc.odootests.test.res_partner.search_count"
        self.assertIn(name, self.names([name]))

    def test_only_authenticated_calls_of_existing_pairs_name_a_metric(self):
        db = self.env.cr.dbname
        bogus = "bogus.model." + "x" * 5000
        # anonymous button call, XML-RPC without a valid password, logged in but unknown model / method
        self.authenticate(None, None)  # a session on the database, nobody logged in
        with contextlib.suppress(Exception):  # answered "Session expired"
            self.make_jsonrpc_request("/web/dataset/call_button", {
                "model": bogus, "method": "run", "args": [[1]], "kwargs": {}})
        calls = (("wrong", bogus, "read"), ("", "res.partner", "read"), ("admin", bogus, "read"),
                 ("admin", "res.partner", "no_such_" + bogus), ("admin", "res.partner", "_private_" + bogus))
        for password, model, method in calls:  # Odoo logs the unknown/private method errors: muted
            with contextlib.suppress(Exception), mute_logger("odoo.http"):
                self.xmlrpc_object.execute_kw(db, 2, password, model, method, [[]])
        self.xmlrpc_object.execute_kw(db, 2, "admin", "res.partner", "search_count", [[]])
        name = "odoo.rpc.odootests.test.res_partner.search_count"
        names = self.names([name])
        self.assertIn(name, names)
        self.assertEqual([n for n in names if n.startswith(("odoo.rpc.", "odoo.http.button."))], [name])
        self.assertEqual(hooks.metrics.dynamic_name_count(), 1)

    def test_json2_timer_only_for_an_authenticated_existing_pair(self):
        """Odoo 19's /json/2/<model>/<method> (module `rpc`); skipped where that route does not exist."""
        if not self.env["ir.module.module"].search([("name", "=", "rpc"), ("state", "=", "installed")]):
            self.skipTest("no /json/2 route (Odoo 18: no `rpc` module)")
        bogus = "bogus.model." + "x" * 3000
        self.assertEqual(self.url_open(f"/json/2/{bogus}/read", data="{}",
                                       headers={"Content-Type": "application/json"}).status_code, 401)
        self.authenticate("admin", "admin")
        browser_tab = {"Content-Type": "application/json", "Sec-Fetch-Dest": "document",
                       "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-User": "?1"}
        unknown = self.url_open(f"/json/2/{bogus}/read", data="{}", headers=browser_tab)
        self.assertEqual(unknown.status_code, 404)
        response = self.url_open("/json/2/res.partner/search_count", data='{"domain": []}',
                                 headers=browser_tab)
        self.assertEqual(response.status_code, 200, response.text[:300])
        name = "odoo.rpc.odootests.test.res_partner.search_count"
        names = self.names([name])
        self.assertIn(name, names)
        self.assertEqual([n for n in names if n.startswith("odoo.rpc.")], [name])

    def test_no_daemon_never_fails_a_request(self):
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        self.patch(hooks, "metrics", Metrics("odootests", "test", host="127.0.0.1", port=port))
        self.assertEqual(self.url_open("/web/health").status_code, 200)


class TestMonitoringStatsdConfiguration(TransactionCase):
    def test_a_bad_configuration_is_reported_and_changes_nothing(self):
        from .. import post_load

        environ = {k: v for k, v in os.environ.items() if not k.startswith(("STATSD_", "ODOO_STATSD"))}
        environ.update(ODOO_STATSD="1", STATSD_PORT="eighty")
        before = hooks.metrics
        with patch.dict(os.environ, environ, clear=True), \
                self.assertLogs("odoo.addons.monitoring_statsd", "ERROR") as logged:
            post_load()
        (message,) = logged.output
        self.assertIn("STATSD_CUSTOMER", message)
        self.assertIn("STATSD_PORT='eighty'", message)
        self.assertIs(hooks.metrics, before)
