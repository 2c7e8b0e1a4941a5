# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Odoo-facing side of the Redis session store: Odoo's Session class, Odoo's errors.

The engine (odoo_cloud.sessions) knows nothing of Odoo; this module only
adapts it: sessions are `odoo.http.Session` objects, `rotate` recomputes the
session token, and a Redis outage becomes an HTTP 503 logged once by Odoo's
own request handler — except for requests that need no session (static files,
`auth='none'` routes with `save_session=False` of server-wide modules, such
as /web/health, /xmlrpc and /jsonrpc — /websocket/health only when `bus` is in
--load), which are served with a throwaway session so that health checks and
RPC integrations survive an outage.
"""
from __future__ import annotations

import logging
import time

from odoo import http
from odoo.service import security
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from odoo_cloud.sessions import RedisSessionStore, SessionStoreUnavailable, activity_files, codec

from . import _series

_logger = logging.getLogger(__name__)

#: seconds a client should wait before retrying (Retry-After of the 503)
RETRY_AFTER = 5
#: at most one "serving without a session" warning per process in this many seconds
DEGRADED_LOG_EVERY = 10.0

class RedisSession(_series.SessionBase):
    """Odoo's Session, keeping dates/sets as values and what the store loaded.

    Odoo's `__setitem__` copies values through `json.dumps`, which raises on a
    date or a set (a 500); here values are copied through the store's codec,
    and a value even the codec refuses is kept for the current request only:
    the store leaves it out of the saved session with an error naming the key.
    """

    __slots__ = ("degraded", "stored")

    def __init__(self, data, sid, new=False):
        super().__init__({}, sid, new)
        # values come decoded from the store (fresh objects): no copy needed, and dates stay dates
        self._Session__data.update(data)
        self.stored = None
        self.degraded = False

    def __setitem__(self, item, value):
        try:
            value = codec.clone(value)
        except (TypeError, ValueError, RecursionError):  # pylint: disable=except-pass
            pass  # not storable: left out at save time, with an error log naming `item`
        data = self._Session__data
        if item not in data or data[item] != value:
            self.is_dirty = True
        data[item] = value


class RedisSessionUnavailable(ServiceUnavailable):
    """503 for the user; one ERROR line (masked URL + cause) for the log.

    Odoo's `Application.__call__` logs an exception that has a `loglevel`
    attribute with `_logger.log(exc.loglevel, exc)` and no traceback, then
    sends it as the response: exactly one clear line per failed request.
    """

    loglevel = logging.ERROR

    def __init__(self, cause: SessionStoreUnavailable) -> None:
        super().__init__(description="Sessions are temporarily unavailable. Please retry in a few seconds.",
                         retry_after=RETRY_AFTER)
        self.cause = cause

    def __str__(self) -> str:
        return f"503 Service Unavailable: {self.cause}"


def _current_httprequest():
    try:
        return http.request.httprequest if http.request else None
    except RuntimeError:  # no request bound (cron, shell, tests calling the store directly)
        return None


def needs_no_session(httprequest) -> bool:
    """True for requests Odoo serves without reading or writing the session.

    Static files only read `session.debug`; `auth='none'` routes that do not
    save the session behave for a visitor without a cookie exactly as they
    would with an empty session.
    """
    path = httprequest.path
    if http.root.get_static_file(path):
        return True
    try:
        rule, _args = http.root.nodb_routing_map.bind_to_environ(httprequest.environ).match(return_rule=True)
    except HTTPException:
        return False
    routing = rule.endpoint.routing
    return routing.get("auth") == "none" and routing.get("save_session", True) is False


class OdooRedisSessionStore(RedisSessionStore):
    """`odoo.http.root.session_store` backed by Redis, with Odoo 18's and 19's method signatures."""

    _last_degraded_log = 0.0

    def get(self, sid, record_activity=None):
        """One round trip; a read while serving a request counts as that user's activity (for vacuum),
        unless `record_activity` says otherwise (a read from code, e.g. for auth_session_timeout)."""
        httprequest = _current_httprequest()
        if record_activity is None:
            record_activity = httprequest is not None
        try:
            return super().get(sid, record_activity=record_activity)
        except SessionStoreUnavailable as exc:
            if httprequest is not None and needs_no_session(httprequest):
                return self._degraded_session(sid, httprequest, exc)
            raise RedisSessionUnavailable(exc) from exc

    def _degraded_session(self, sid, httprequest, exc):
        now = time.monotonic()
        if now - OdooRedisSessionStore._last_degraded_log > DEGRADED_LOG_EVERY:
            OdooRedisSessionStore._last_degraded_log = now
            _logger.warning("%s; serving %s without a session (it needs none)", exc, httprequest.path)
        session = self.session_class({}, sid, True)
        session.degraded = True
        session.can_save = False
        return session

    def save(self, session):
        if getattr(session, "degraded", False):
            return False  # never overwrite the real session with the throwaway one
        self._record_file_activity(session)
        try:
            return super().save(session)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc

    def delete(self, session):
        try:
            return super().delete(session)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc

    def rotate(self, session, env=None, soft=False, before_save=None):
        """Odoo's rotate, one atomic round trip: hard (new id; the old one and its predecessors deleted)
        or, on 19, soft (same first 42 characters, the old id kept briefly); fresh session token."""
        def refresh_token(rotated):
            if rotated.uid and env:
                rotated.session_token = security.compute_session_token(rotated, env)
            _series.stamp_rotation(rotated)

        try:
            return super().rotate(session, before_save=before_save or refresh_token, soft=soft)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc

    def delete_old_sessions(self, session):
        try:
            return super().delete_old_sessions(session)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc

    def vacuum(self, max_lifetime=http.SESSION_LIFETIME):
        return super().vacuum(max_lifetime)

    def delete_from_identifiers(self, identifiers):
        try:
            return super().delete_from_identifiers(identifiers)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc

    def get_missing_session_identifiers(self, identifiers):
        try:
            return super().get_missing_session_identifiers(identifiers)
        except SessionStoreUnavailable as exc:
            raise RedisSessionUnavailable(exc) from exc


    # ------------------------------------------------------------ OCA auth_session_timeout
    _activity_files = None

    def get_session_filename(self, sid):
        """A file whose mtime is the session's last activity as OCA auth_session_timeout records it.

        That addon stats the file, expires the session when it is too old and
        touches it otherwise; see odoo_cloud/sessions/activity_files.py. The
        request's session is marked dirty so that `save` reads the touch back
        (its bytes, hence Redis, change only when the activity moved).
        """
        if not self.is_valid_key(sid):
            raise ValueError("invalid session id")  # as Odoo's FilesystemSessionStore
        session = _request_session(sid)
        if session is None:  # called outside the request of that session: read it, not as activity
            session = self.get(sid, record_activity=False)
        else:
            session.is_dirty = True
        stored = getattr(session, "stored", None)
        seen = activity_files.last_seen(dict(session), stored.active_at if stored else None, self.clock())
        return self._files().materialize(sid, seen)

    def _files(self):
        if self._activity_files is None:
            self._activity_files = activity_files.ActivityFiles(granularity=self.expiry.activity_granularity)
        return self._activity_files

    def _record_file_activity(self, session):
        if self._activity_files is None:
            return
        touched = self._activity_files.collect(session.sid)
        if touched is not None and self._activity_files.advanced(session.get(activity_files.ACTIVITY_KEY),
                                                                  touched):
            session[activity_files.ACTIVITY_KEY] = int(touched)


def _request_session(sid):
    httprequest = _current_httprequest()
    if httprequest is None:
        return None
    session = getattr(http.request, "session", None)
    return session if session is not None and session.sid == sid else None


def build_store(settings) -> OdooRedisSessionStore:
    return OdooRedisSessionStore.from_settings(settings, session_class=RedisSession,
                                               deletion_delay=_series.DELETION_DELAY)

