"""The Redis session store engine, with the method names Odoo 18 calls.

Round trips: `get` is one Lua call that reads the session and, at most once
per refresh interval, pushes its expiry back (so sliding expiry never costs a
second round trip); `save` is one SET, skipped when the session's bytes did not
change and its expiry is not due; `rotate` is one MULTI (DEL old + SET new).
Nothing ever uses KEYS: revocation and vacuum walk the prefix with SCAN.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Optional

import redis

from ..instrumentation import operation
from ..masking import MASK, mask_secrets
from . import codec
from .connection import RedisConnection
from .errors import SessionStoreUnavailable
from .expiry import ANONYMOUS, AUTHENTICATED, ExpiryPolicy
from .keys import KeyLayout, generate_sid, is_valid_identifier, is_valid_sid
from .session import Session

if TYPE_CHECKING:  # pragma: no cover
    from ..config.sessions import SessionSettings

_logger = logging.getLogger(__name__)

#: read a session and slide its expiry when less than `ttl - refresh_after` is left; the numbers are
#: written into the script (one script per expiry policy) so that each call sends only the key
_GET_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if string.sub(value, 1, 5) == 'ocs1 ' then
  local ttl, after
  if string.sub(value, 6, 6) == 'a' then
    ttl = {authenticated_ttl}; after = {authenticated_after}
  else
    ttl = {anonymous_ttl}; after = {anonymous_after}
  end
  if redis.call('TTL', KEYS[1]) < ttl - after then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
end
return value
"""

#: delete the given sessions last written before ARGV[1] (reads only their 21-byte header)
_VACUUM_SCRIPT = """
local deleted = 0
local threshold = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local head = redis.pcall('GETRANGE', key, 0, 20)
  if type(head) == 'string' and string.sub(head, 1, 5) == 'ocs1 ' then
    local written = tonumber(string.sub(head, 8, 20))
    if written and written < threshold then
      redis.call('DEL', key)
      deleted = deleted + 1
    end
  end
end
return deleted
"""

SCAN_COUNT = 1000


def _now() -> float:
    # looked up at each call, so that a patched clock (freezegun in Odoo's own tests) is honoured
    return time.time()


class RedisSessionStore:
    """Sessions of one key prefix in one Redis.

    `session_class(data, sid, new)` builds session objects (Odoo's glue passes
    its Session subclass); it must accept a `stored` attribute.
    """

    def __init__(self, connection: RedisConnection, keys: KeyLayout, expiry: ExpiryPolicy,
                 session_class: Callable[..., Any] = Session,
                 clock: Optional[Callable[[], float]] = None) -> None:
        self.connection = connection
        self.keys = keys
        self.expiry = expiry
        self.session_class = session_class
        self.clock = clock or _now
        self._vacuum_script = redis.commands.core.Script(None, _VACUUM_SCRIPT.encode())  # type: ignore[arg-type]
        # the read runs on every request: EVALSHA sent directly, pre-encoded, with the key as its only
        # argument (redis-py's Script wrapper costs ~15 µs more per call), NOSCRIPT handled in _read
        self._get_script = _GET_SCRIPT.format(
            authenticated_ttl=int(expiry.authenticated_ttl),
            authenticated_after=int(expiry.refresh_after(AUTHENTICATED)),
            anonymous_ttl=int(expiry.anonymous_ttl),
            anonymous_after=int(expiry.refresh_after(ANONYMOUS)),
        )
        self._get_sha = hashlib.sha1(self._get_script.encode()).hexdigest().encode("ascii")

    @classmethod
    def from_settings(cls, settings: SessionSettings, session_class: Callable[..., Any] = Session,
                      **kwargs: Any) -> RedisSessionStore:
        return cls(
            RedisConnection(settings),
            KeyLayout(settings.key_prefix),
            ExpiryPolicy(settings.authenticated_ttl, settings.expiration_anonymous,
                         settings.refresh_interval),
            session_class=session_class, **kwargs,
        )

    # ------------------------------------------------------------------ ids
    def generate_key(self, salt: Optional[str] = None) -> str:
        return generate_sid()

    def is_valid_key(self, key: object) -> bool:
        return is_valid_sid(key)

    # ------------------------------------------------------------------ API
    def new(self) -> Any:
        """A fresh, empty session with a new id (no Redis call)."""
        session = self.session_class({}, self.generate_key(), True)
        session.stored = None
        return session

    def get(self, sid: str) -> Any:
        """The stored session; a fresh empty one (new id) if `sid` is invalid, unknown, expired or corrupt."""
        if not self.is_valid_key(sid):
            return self.new()
        key = self.keys.session(sid)
        with operation("sessions.get") as op, self._redis("get"):
            try:
                raw = self._read(self.connection.client, key)
            except redis.exceptions.ResponseError as exc:
                if "WRONGTYPE" not in str(exc):
                    raise
                raw = b"<a non-string Redis value>"
            op.nbytes = len(raw) if raw else 0
        if raw is None:
            return self.new()
        try:
            stored = codec.unpack(raw)
        except codec.CorruptSession as exc:
            _logger.warning("session %s…: data under %s is not a session written by this store (%s); "
                            "starting a fresh session", sid[:6], self.keys.session(sid[:6] + "…"), exc)
            return self.new()
        session = self.session_class(stored.data, sid, False)
        session.stored = stored
        return session

    def save(self, session: Any) -> bool:
        """Write the session; False when skipped because nothing changed and its expiry is not due."""
        if not self.is_valid_key(session.sid):
            raise ValueError("refusing to save a session whose id is not a valid session id")
        value, stored = self._prepare(session)
        if value is None:
            return False
        with operation("sessions.save") as op, self._redis("save"):
            op.nbytes = len(value)
            self.connection.client.set(self.keys.session(session.sid), value, ex=self.expiry.ttl(stored.kind))
        session.stored = stored
        return True

    def delete(self, session: Any) -> None:
        if not self.is_valid_key(session.sid):
            return
        with operation("sessions.delete"), self._redis("delete"):
            self.connection.client.delete(self.keys.session(session.sid))

    def rotate(self, session: Any, before_save: Optional[Callable[[Any], None]] = None) -> None:
        """Give the session a new id, invalidating the old one, in one atomic round trip.

        `before_save(session)` runs once the new id is set (Odoo recomputes the
        session token, which depends on the id, there).
        """
        old_sid = session.sid
        session.sid = self.generate_key()
        if before_save is not None:
            before_save(session)
        session.should_rotate = False
        self.replace(session, old_sid)

    def replace(self, session: Any, old_sid: str) -> None:
        """Store `session` under its (new) id and drop `old_sid`, atomically (MULTI/EXEC)."""
        session.stored = None  # a rotated session is always written
        value, stored = self._prepare(session)
        assert value is not None  # stored was cleared: _prepare always packs a value
        with operation("sessions.rotate") as op, self._redis("rotate"):
            op.nbytes = len(value)
            pipe = self.connection.client.pipeline(transaction=True)
            if self.is_valid_key(old_sid):
                pipe.delete(self.keys.session(old_sid))
            pipe.set(self.keys.session(session.sid), value, ex=self.expiry.ttl(stored.kind))
            pipe.execute()
        session.stored = stored

    def vacuum(self, max_lifetime: Optional[int] = None) -> int:
        """Delete sessions not saved for `max_lifetime` seconds; returns how many.

        Redis TTLs do the everyday expiry; this enforces Odoo's
        `sessions.max_inactivity_seconds` when it is shorter, the way Odoo's
        filesystem store compares file mtimes (last save) with the clock.
        """
        if not max_lifetime:
            return 0
        threshold = int(self.clock() - max_lifetime)
        deleted = 0
        with operation("sessions.vacuum"), self._redis("vacuum"):
            client = self.connection.client
            for batch in self._scan(self.keys.session_pattern()):
                deleted += int(self._vacuum_script(keys=batch, args=[threshold], client=client))
        return deleted

    def delete_from_identifiers(self, identifiers: Iterable[str]) -> int:
        """Revoke devices: delete every session whose id starts with one of the 42-char identifiers.

        Identifiers come from res_device_log rows: anything not exactly 42 id
        characters is ignored, so a crafted row cannot widen the match.
        """
        wanted = {i for i in identifiers if is_valid_identifier(i)}
        if not wanted:
            return 0
        pattern = self.keys.session_pattern(next(iter(wanted)) if len(wanted) == 1 else "")
        deleted = 0
        with operation("sessions.revoke"), self._redis("delete_from_identifiers"):
            client = self.connection.client
            for batch in self._scan(pattern):
                doomed = [k for k in batch if self.keys.sid_of(k)[:42] in wanted]
                if doomed:
                    deleted += client.delete(*doomed)
        return deleted

    # ------------------------------------------------------------------ helpers
    def _read(self, client: redis.Redis, key: str) -> Optional[bytes]:
        try:
            return client.execute_command("EVALSHA", self._get_sha, b"1", key)  # type: ignore[no-any-return]
        except redis.exceptions.NoScriptError:  # a restarted (or other) server: load the script once
            client.script_load(self._get_script)
            return client.execute_command("EVALSHA", self._get_sha, b"1", key)  # type: ignore[no-any-return]

    def _prepare(self, session: Any) -> tuple[Optional[bytes], codec.StoredSession]:
        """(value to SET or None when unchanged and not due, what is stored afterwards)."""
        data = dict(session)
        payload = codec.encode_data(data, sid_hint=session.sid[:6])
        kind = self.expiry.kind_of(data)
        now = int(self.clock())
        previous = getattr(session, "stored", None)
        if (previous is not None and previous.payload == payload and previous.kind == kind
                and not self.expiry.is_due(kind, previous.written_at, now)):
            return None, previous
        return codec.pack(kind, now, payload), codec.StoredSession(kind, now, payload, data)

    def _scan(self, pattern: str) -> Iterator[list[bytes]]:
        cursor = 0
        client = self.connection.client
        while True:
            cursor, keys = client.scan(cursor=cursor, match=pattern, count=SCAN_COUNT)
            if keys:
                yield keys  # type: ignore[misc]  # bytes: the client never decodes responses
            if cursor == 0:
                return

    def _redis(self, what: str) -> _UnavailableOnRedisError:
        """Turn any Redis failure into SessionStoreUnavailable, with secrets scrubbed."""
        return _UnavailableOnRedisError(self, what)

    def __repr__(self) -> str:
        return f"<RedisSessionStore {self.connection.display_url} prefix={self.keys.prefix!r}>"


class _UnavailableOnRedisError:
    """RedisSessionStore._redis: a class, not a @contextmanager generator (~1 µs less per get and save)."""

    __slots__ = ("store", "what")

    def __init__(self, store: RedisSessionStore, what: str) -> None:
        self.store = store
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> Literal[False]:
        if exc_type is None or not issubclass(exc_type, redis.exceptions.RedisError):
            return False
        cause = f"{type(exc).__name__}: {exc}"
        for secret in self.store.connection.secrets():  # redis-py may echo what it was given
            cause = cause.replace(secret, MASK)
        cause = mask_secrets(cause)
        raise SessionStoreUnavailable(self.store.connection.display_url, self.what, cause) from exc
