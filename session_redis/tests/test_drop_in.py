# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Switching from camptocamp's session_redis, and OCA auth_session_timeout, inside a real Odoo (18.0/19.0).

A user logged in under the original keeps their cookie: the session is written here exactly as the
original writes it (key `session::<prefix>:<sid>`, `json.dumps(..., cls=SessionEncoder)`), and the next
request is logged in. auth_session_timeout is not installed (its 18.0/19.0 code is not available to
the test runner): `_auth_timeout_check` below reproduces the calls its file-based releases make.
"""
import json
import os
import time
from datetime import date, datetime
from os.path import getmtime
from unittest.mock import patch

from odoo import http
from odoo.tests import HttpCase, tagged

from odoo_cloud.sessions import codec
from odoo_cloud.sessions.activity_files import ACTIVITY_KEY

from .test_session_redis import HttpSessionMixin


class OriginalEncoder(json.JSONEncoder):
    """What camptocamp's json_encoding.SessionEncoder writes."""

    def default(self, o):
        if isinstance(o, datetime):
            return {"_type": "datetime_isoformat", "value": o.isoformat()}
        if isinstance(o, date):
            return {"_type": "date_isoformat", "value": o.isoformat()}
        if isinstance(o, set):
            return {"_type": "set", "value": tuple(o)}
        return super().default(o)


def _auth_timeout_check(delay, ignored_urls):
    """OCA auth_session_timeout's ResUsers._auth_timeout_check (server-auth 16.0), its calls unchanged."""
    request = http.request
    session = request.session
    if not session.uid:
        return
    deadline = time.time() - delay
    path = http.root.session_store.get_session_filename(session.sid)
    try:
        expired = getmtime(path) < deadline
    except OSError:
        expired = True  # the addon's own rule: an unreadable file expires the session
    if expired:
        session.logout(keep_db=True)
        raise http.SessionExpiredException("Session expired")
    if request.httprequest.path not in ignored_urls:
        os.utime(path, None)


@tagged("post_install", "-at_install")
class TestDropIn(HttpSessionMixin, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store = http.root.session_store
        cls.redis = cls.store.connection.client

    def stored(self, sid):
        raw = self.redis.get(self.store.keys.session(sid))
        return codec.unpack(raw) if raw else None

    def uid_over_http(self):
        reply = self.json_call("/web/session/get_session_info").json()
        return reply.get("result", {}).get("uid")

    # ------------------------------------------------------------------ camptocamp session_redis
    def test_a_cookie_whose_session_the_original_wrote_stays_logged_in(self):
        self.assertIsNotNone(self.store.legacy, "the fallback is on by default")
        self.login_over_http()
        sid = self.cookie_sid()
        data = self.stored(sid).data
        data["since"] = datetime(2024, 5, 6, 7, 8, 9)  # the original kept dates as tagged objects
        prefix = self.store.legacy.layout.prefix
        legacy_key = f"session::{prefix}:{sid}" if prefix else f"session:{sid}"
        self.redis.delete(self.store.keys.session(sid))  # as if only the original had ever run
        self.redis.set(legacy_key, json.dumps(data, cls=OriginalEncoder).encode("utf-8"))
        self.redis.expire(legacy_key, 3600)

        self.assertEqual(self.uid_over_http(), self.env.ref("base.user_admin").id)

        self.assertEqual(self.cookie_sid(), sid, "same cookie, nobody logged out")
        self.assertEqual(self.redis.exists(legacy_key), 0)
        moved = self.stored(sid)
        self.assertEqual(moved.kind, "a")
        self.assertEqual(moved.data["since"], datetime(2024, 5, 6, 7, 8, 9))
        self.assertEqual(self.uid_over_http(), self.env.ref("base.user_admin").id)  # now from our key

    # ------------------------------------------------------------------ OCA auth_session_timeout
    def run_with_timeout_check(self, delay=3600, ignored=("/web/webclient/version_info",)):
        ir_http = type(self.env["ir.http"])
        original = ir_http._authenticate.__func__

        def _authenticate(cls, endpoint):
            original(cls, endpoint)
            if http.request.session.uid:
                _auth_timeout_check(delay, ignored)

        return patch.object(ir_http, "_authenticate", classmethod(_authenticate))

    def set_activity(self, sid, when):
        session = self.store.get(sid, record_activity=False)
        session[ACTIVITY_KEY] = when
        self.store.save(session)

    def test_auth_session_timeout_sees_the_activity_it_records_on_every_front_end(self):
        self.login_over_http()
        sid = self.cookie_sid()
        with self.run_with_timeout_check():
            self.assertTrue(self.uid_over_http())
            recorded = self.stored(sid).data[ACTIVITY_KEY]
            self.assertAlmostEqual(recorded, time.time(), delta=5, msg="the request counted as activity")

            stale = int(time.time()) - 600  # older than the activity granularity, newer than the timeout
            self.set_activity(sid, stale)
            self.assertEqual(self.json_call("/web/webclient/version_info").status_code, 200)  # ignored URL
            self.assertEqual(self.stored(sid).data[ACTIVITY_KEY], stale, "an ignored URL is not activity")
            self.assertTrue(self.uid_over_http())
            self.assertGreater(self.stored(sid).data[ACTIVITY_KEY], stale + 500)

            self.set_activity(sid, int(time.time()) - 7200)  # idle for longer than the timeout
            self.assertFalse(self.uid_over_http(), "an idle session is expired by the addon")
            self.assertFalse(self.uid_over_http())

    def test_the_session_file_of_a_session_read_outside_its_request(self):
        self.login_over_http()
        sid = self.cookie_sid()
        self.set_activity(sid, 1_700_000_000)
        path = self.store.get_session_filename(sid)
        self.assertEqual(int(getmtime(path)), 1_700_000_000)
        with self.assertRaises(ValueError):
            self.store.get_session_filename("../../etc/passwd")
