# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""session_redis inside a real Odoo (18.0 or 19.0), against the real redis-server the test runner started.

The outage tests start their own redis-server (a real one, on a free port) so that
they can stop and restart it without disturbing the runner's.
"""
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import date, datetime
from unittest.mock import patch

import redis
from odoo import http
from odoo.tests import HttpCase, tagged

from odoo_cloud.config import load_settings
from odoo_cloud.sessions import codec
from odoo_cloud.sessions.connection import failure_deadline

from .._series import reset_session_store
from ..http_store import OdooRedisSessionStore, RedisSession, build_store

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class HttpSessionMixin:
    def login_over_http(self, login="admin", password="admin"):
        """Log in the way a browser does: GET the form (CSRF token), POST it; returns the response."""
        page = self.url_open("/web/login")
        self.assertEqual(page.status_code, 200, page.text[:300])
        token = CSRF_RE.search(page.text).group(1)
        return self.url_open("/web/login", data={"login": login, "password": password, "csrf_token": token},
                             allow_redirects=False)

    def json_call(self, path, params=None):
        body = {"jsonrpc": "2.0", "method": "call", "params": params or {}}
        return self.url_open(path, data=json.dumps(body),
                             headers={"Content-Type": "application/json"})

    def cookie_sid(self):
        return self.opener.cookies.get("session_id")


@tagged("post_install", "-at_install")
class TestSessionRedis(HttpSessionMixin, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store = http.root.session_store
        cls.redis = cls.store.connection.client

    def stored(self, sid):
        raw = self.redis.get(self.store.keys.session(sid))
        return codec.unpack(raw) if raw else None

    def age_activity(self, sid, seconds):
        """Pretend the session's last recorded activity is `seconds` older (its 13-digit header stamp)."""
        key = self.store.keys.session(sid)
        stamp = self.stored(sid).active_at - seconds
        self.redis.setrange(key, 7, b"%013d" % stamp)
        return stamp

    def test_root_store_is_redis_even_after_lazy_properties_are_reset(self):
        self.assertIsInstance(http.root.session_store, OdooRedisSessionStore)
        reset_session_store(http.root)  # what Odoo's own test_http tests do
        self.assertIsInstance(http.root.session_store, OdooRedisSessionStore)
        self.assertIs(http.root.session_store.session_class, RedisSession)

    def test_login_over_http_rotates_the_id_and_stores_an_authenticated_session(self):
        self.url_open("/web/login")
        anonymous_sid = self.cookie_sid()
        response = self.login_over_http()
        self.assertEqual(response.status_code, 303, response.text[:300])
        sid = self.cookie_sid()
        self.assertTrue(sid and sid != anonymous_sid, "login must give a new session id")
        self.assertIsNone(self.stored(anonymous_sid), "the pre-login id must be invalid after login")
        stored = self.stored(sid)
        self.assertEqual(stored.kind, "a")
        self.assertEqual(stored.data["uid"], self.env.ref("base.user_admin").id)
        ttl = self.redis.ttl(self.store.keys.session(sid))
        self.assertGreater(ttl, self.store.expiry.authenticated_ttl - 60)
        info = self.json_call("/web/session/get_session_info").json()
        self.assertEqual(info["result"]["uid"], self.env.ref("base.user_admin").id)

    def test_a_failed_login_keeps_an_anonymous_short_lived_session(self):
        response = self.login_over_http(password="wrong")
        self.assertEqual(response.status_code, 200)
        stored = self.stored(self.cookie_sid())
        if stored is not None:  # Odoo may or may not write the anonymous session: if it does, short TTL
            self.assertEqual(stored.kind, "n")
            self.assertLessEqual(self.redis.ttl(self.store.keys.session(self.cookie_sid())),
                                 self.store.expiry.anonymous_ttl)

    def test_logout_rotates_and_forgets_the_user(self):
        self.login_over_http()
        logged_in_sid = self.cookie_sid()
        response = self.url_open("/web/session/logout", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertNotEqual(self.cookie_sid(), logged_in_sid)
        self.assertIsNone(self.stored(logged_in_sid))
        after = self.stored(self.cookie_sid())
        self.assertFalse(after and after.data.get("uid"))

    def test_device_revocation_deletes_the_session_in_redis(self):
        self.login_over_http()
        sid = self.cookie_sid()
        self.assertEqual(self.json_call("/web/session/get_session_info").status_code, 200)  # logs the device
        device = self.env["res.device"].search([("session_identifier", "=", sid[:42])])
        self.assertTrue(device, "an authenticated request logs its device")
        device._revoke()
        self.assertIsNone(self.stored(sid))
        reply = self.json_call("/web/session/get_session_info").json()
        self.assertEqual(reply["error"]["code"], 100, "the revoked cookie is no longer logged in")

    def test_dates_and_sets_survive_and_an_unstorable_value_never_breaks_a_save(self):
        session = self.store.new()
        session["when"] = datetime(2024, 1, 2, 3, 4, 5)
        session["day"] = date(2024, 1, 2)
        session["groups"] = {"a", "b"}
        session["bad"] = object()  # Odoo's own Session would raise TypeError here
        with self.assertLogs("odoo_cloud.sessions.codec", "ERROR") as logs:
            self.store.save(session)
        self.assertIn("'bad'", logs.output[0])
        loaded = self.store.get(session.sid)
        self.assertEqual(loaded["when"], datetime(2024, 1, 2, 3, 4, 5))
        self.assertEqual(loaded["day"], date(2024, 1, 2))
        self.assertEqual(loaded["groups"], {"a", "b"})
        self.assertNotIn("bad", loaded)
        self.store.delete(loaded)

    def test_one_round_trip_to_load_and_none_to_save_an_unchanged_session(self):
        self.login_over_http()
        # the first request after login legitimately saves: Odoo records the device trace in the session
        self.assertEqual(self.json_call("/web/webclient/version_info").status_code, 200)
        self.redis.config_resetstat()
        self.assertEqual(self.json_call("/web/webclient/version_info").status_code, 200)
        stats = self.redis.info("commandstats")
        calls = {k[len("cmdstat_"):]: v["calls"] for k, v in stats.items() if k not in ("cmdstat_info",)}
        calls.pop("config|resetstat", None)
        self.assertEqual(calls.get("evalsha"), 1, calls)  # the load
        self.assertNotIn("set", calls, "nothing changed: nothing written")

    def test_requests_count_as_activity_for_vacuum_reads_from_code_do_not(self):
        # issue 10 item 11: an unchanged session is not rewritten, yet vacuum judges by the last request
        self.login_over_http()
        active = self.cookie_sid()
        self.assertEqual(self.json_call("/web/webclient/version_info").status_code, 200)
        idle = self.store.new()
        idle.update(uid=self.env.ref("base.user_admin").id, login="admin")
        self.store.save(idle)
        two_hours = 2 * 3600
        self.age_activity(active, two_hours)
        self.age_activity(idle.sid, two_hours)
        self.store.get(idle.sid)  # a read from code (no request): not the user's activity
        self.redis.config_resetstat()
        self.assertEqual(self.json_call("/web/webclient/version_info").status_code, 200)  # unchanged session
        stats = self.redis.info("commandstats")
        self.assertEqual(stats["cmdstat_evalsha"]["calls"], 1, "still one round trip per request")
        self.assertNotIn("cmdstat_set", stats, "the session itself is not rewritten")
        self.assertGreaterEqual(self.stored(active).active_at, int(time.time()) - 60)
        self.env["ir.config_parameter"].sudo().set_param("sessions.max_inactivity_seconds", 3600)
        self.env["ir.http"]._gc_sessions()
        self.assertIsNotNone(self.stored(active), "used a moment ago: vacuum keeps it")
        self.assertIsNone(self.stored(idle.sid), "unused for two hours: vacuum removes it")
        info = self.json_call("/web/session/get_session_info").json()
        self.assertEqual(info["result"]["username"], "admin")

    def test_store_serves_odoo_19_session_contract(self):
        for method in ("get_missing_session_identifiers", "delete_from_identifiers", "delete_old_sessions",
                       "vacuum", "generate_key", "is_valid_key", "rotate", "new", "get", "save", "delete"):
            self.assertTrue(callable(getattr(http.root.session_store, method, None)), method)
        self.login_over_http()
        sid = self.cookie_sid()
        missing = http.root.session_store.get_missing_session_identifiers({sid[:42], "A" * 42})
        self.assertEqual(missing, {"A" * 42})

    def test_soft_rotation_over_http_keeps_the_user_logged_in_and_collects_the_old_id(self):
        if not hasattr(http, "SESSION_ROTATION_INTERVAL"):
            self.skipTest("Odoo 18 never soft-rotates sessions")
        self.login_over_http()
        self.url_open("/odoo")
        first = self.cookie_sid()
        self.url_open("/odoo")
        self.assertEqual(self.cookie_sid(), first, "not rotated before the interval")
        # three hours later (Odoo compares the session's create_time with the clock)
        session = self.store.get(first)
        session["create_time"] -= http.SESSION_ROTATION_INTERVAL
        self.store.save(session)
        self.assertEqual(self.url_open("/odoo").status_code, 200)
        second = self.cookie_sid()
        self.assertNotEqual(second, first)
        self.assertEqual(second[:42], first[:42], "a soft rotation keeps the identifier")
        old = self.stored(first).data
        self.assertEqual(old["next_sid"], second)
        self.assertIn("deletion_time", old)
        self.assertTrue(self.stored(second).data["gc_previous_sessions"])
        info = self.json_call("/web/session/get_session_info").json()
        self.assertEqual(info["result"]["uid"], self.env.ref("base.user_admin").id)
        # the old cookie still works (a concurrent request) and follows the same successor
        self.assertEqual(self.store.get(first)["next_sid"], second)
        # once the successor is older than the deletion delay, the next request removes its predecessor
        session = self.store.get(second)
        session["create_time"] -= http.SESSION_DELETION_TIMER
        self.store.save(session)
        self.assertEqual(self.url_open("/odoo").status_code, 200)
        self.assertEqual(self.cookie_sid(), second)
        self.assertIsNone(self.stored(first), "the predecessor is deleted")
        self.assertNotIn("gc_previous_sessions", self.stored(second).data)
        keys = list(self.redis.scan_iter(match=self.store.keys.session_pattern(first[:42])))
        self.assertEqual(keys, [self.store.keys.session(second).encode()])

    def test_opt_in_import_copies_filesystem_sessions_once(self):
        import os
        from pathlib import Path

        from odoo.tools import config

        from .. import import_filesystem_sessions, install

        sid = self.store.generate_key()
        directory = Path(config.session_dir) / sid[:2]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / sid).write_text(json.dumps({"uid": 2, "login": "admin", "db": self.env.cr.dbname}))
        self.addCleanup(os.unlink, directory / sid)
        self.redis.delete(self.store.keys.meta("filesystem-import"))
        settings = install(load_settings(dict(os.environ, ODOO_SESSION_REDIS_IMPORT_FILESYSTEM="1")).sessions)
        self.assertTrue(settings.import_filesystem)
        report = import_filesystem_sessions(settings)
        self.assertGreaterEqual(report.imported, 1)
        self.assertEqual(http.root.session_store.get(sid)["login"], "admin")
        self.assertTrue(import_filesystem_sessions(settings).skipped_already_done)

    def test_invalid_configuration_leaves_sessions_where_they_are_and_says_why(self):
        import os

        from .. import post_load

        before = http.Application.__dict__["session_store"]
        with patch.dict(os.environ, {"ODOO_SESSION_REDIS_PORT": "not-a-port"}), \
                self.assertLogs("odoo.addons.session_redis", "ERROR") as logs:
            post_load()
        self.assertIn("ODOO_SESSION_REDIS_PORT", logs.output[0])
        self.assertIs(http.Application.__dict__["session_store"], before)

    def test_keys_carry_the_configured_prefix(self):
        self.login_over_http()
        prefix = self.store.keys.prefix + ":"
        keys = [k.decode() for k in self.redis.scan_iter(match=f"{prefix}*", count=1000)]
        self.assertIn(self.store.keys.session(self.cookie_sid()), keys)
        self.assertTrue(all(k.startswith(prefix) for k in keys))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A real redis-server this test may stop and restart (same port, no persistence)."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="session-redis-outage-")
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@tagged("post_install", "-at_install")
class TestSessionRedisOutage(HttpSessionMixin, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.private = PrivateRedis()
        cls.private.start()
        cls.addClassCleanup(cls.private.close)
        settings = load_settings({
            "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_URL": cls.private.url,
            "ODOO_SESSION_REDIS_PREFIX": "outage-test", "ODOO_SESSION_REDIS_EXPIRATION": "3600",
            "ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "0.5", "ODOO_SESSION_REDIS_TIMEOUT": "0.5",
        }).sessions
        cls.outage_store = build_store(settings)
        # root caches its store in its instance dict: drop it, or the class patch would not be seen
        reset_session_store(http.root)
        cls.addClassCleanup(reset_session_store, http.root)
        cls.classPatch(http.Application, "session_store", cls.outage_store)

    def timed(self, call):
        started = time.monotonic()
        response = call()
        return response, time.monotonic() - started

    def test_outage_gives_fast_503s_keeps_health_static_and_rpc_up_and_recovers_by_itself(self):
        self.assertEqual(self.login_over_http().status_code, 303)
        self.private.stop()
        try:
            with self.assertLogs("odoo.http", "ERROR") as logs:
                page, seconds = self.timed(lambda: self.url_open("/odoo/action-base.action_res_users",
                                                                 allow_redirects=False))
            self.assertEqual(page.status_code, 503)
            # fails fast: within the store's configured timeouts plus one request's work, not a hang
            self.assertLess(seconds, failure_deadline(self.outage_store.connection.settings) + 1.0)
            self.assertEqual(page.headers.get("Retry-After"), "5")
            self.assertEqual(len(logs.output), 1, logs.output)
            self.assertIn("Redis session store redis://127.0.0.1", logs.output[0])
            self.assertIn("unavailable during get", logs.output[0])

            with self.assertLogs("odoo.http", "ERROR"):
                rpc = self.json_call("/web/webclient/version_info")
            self.assertEqual(rpc.status_code, 503)

            # no session needed: served with a throwaway session (one warning every few seconds at most)
            with patch.object(OdooRedisSessionStore, "_last_degraded_log", 0.0), \
                    self.assertLogs("odoo.addons.session_redis.http_store", "WARNING"):
                self.assertEqual(self.url_open("/web/health").status_code, 200)
            self.assertEqual(self.url_open("/web/static/img/favicon.ico").status_code, 200)
            version = self.url_open("/xmlrpc/2/common", data=(
                "<?xml version='1.0'?><methodCall><methodName>version</methodName><params/></methodCall>"),
                headers={"Content-Type": "text/xml"})
            self.assertEqual(version.status_code, 200)
            self.assertIn("server_version", version.text)
        finally:
            self.private.start()

        # Redis is back (empty: no persistence): the old cookie is simply unknown, logging in works again
        self.assertEqual(self.url_open("/web/login").status_code, 200)
        self.assertEqual(self.login_over_http().status_code, 303)
        info = self.json_call("/web/session/get_session_info").json()
        self.assertEqual(info["result"]["uid"], self.env.ref("base.user_admin").id)

    def test_a_failed_save_is_a_503_not_a_json_rpc_error(self):
        self.login_over_http()
        original = OdooRedisSessionStore.save

        def save_during_outage(store, session):
            # a real failure: Redis is stopped between the load and the save of the same request
            self.private.stop()
            try:
                return original(store, session)
            finally:
                self.private.start()

        with patch.object(OdooRedisSessionStore, "save", save_during_outage), \
                self.assertLogs("odoo.http", "ERROR") as logs:
            reply = self.json_call("/web/session/get_session_info")  # touch()es the session: a save follows
        self.assertEqual(reply.status_code, 503, reply.text[:300])
        self.assertIn("unavailable during save", logs.output[0])
