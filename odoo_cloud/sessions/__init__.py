"""HTTP sessions in Redis, framework-free (Odoo's glue lives in the session_redis addon).

    store = RedisSessionStore.from_settings(load_settings().sessions)
    session = store.get(sid)          # one round trip
    session["uid"] = 2; store.save(session)   # one round trip, only if changed
"""
from .codec import CorruptSession, StoredSession
from .connection import RedisConnection, build_client
from .errors import SessionStoreUnavailable
from .expiry import ExpiryPolicy
from .filesystem_import import ImportReport, import_filesystem_sessions, purge_filesystem_sessions
from .keys import KeyLayout, generate_sid, is_valid_identifier, is_valid_sid
from .session import Session
from .store import RedisSessionStore

__all__ = [
    "CorruptSession", "ExpiryPolicy", "ImportReport", "KeyLayout", "RedisConnection", "RedisSessionStore",
    "Session", "SessionStoreUnavailable", "StoredSession", "build_client", "generate_sid",
    "import_filesystem_sessions", "is_valid_identifier", "is_valid_sid", "purge_filesystem_sessions",
]
