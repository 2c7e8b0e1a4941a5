"""Sessions left by camptocamp's session_redis: read on a miss, moved under our keys on first use.

A site switching from that addon keeps its Redis and its users' cookies. When
our key for a session id is absent, the store asks this module, which looks
under the keys the original wrote (docs/MIGRATING_FROM_SESSION_REDIS.md has
the evidence, per branch):

- no prefix: ``session:<sid>``;
- prefix P: ``session::P:<sid>`` — what its code builds (``"%s:%s:" %
  ("session:", P)``, every branch 12.0 to 18.0) — and ``session:P:<sid>``, the
  layout its README documents and forks write.

Values are ``json.dumps(dict(session), cls=SessionEncoder)`` in UTF-8: dates,
datetimes and sets as ``{"_type": "date_isoformat" | "datetime_isoformat" |
"set", "value": ...}``, decoded here exactly as its ``SessionDecoder`` does
(an object with another ``_type`` stays a plain dict).

Safety:
- only on a miss: a session found under our key never costs a round trip here;
- bounded: the length is asked first (STRLEN) and at most `MAX_LEGACY_BYTES`
  are read (GETRANGE); a longer or undecodable value is refused (logged with
  the first characters of the id only, never the content) and the caller
  starts a fresh session;
- never lost: the legacy key is deleted only once ours is written. On one
  Redis (standalone, Sentinel) both happen in one script, atomically, and only
  if the legacy value is still the one that was decoded; when the keys cannot
  share a script (Redis Cluster: different slots) ours is written first (SET
  NX) and the legacy key deleted after — an outage in between leaves both,
  never neither.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Optional, Union

import redis
from redis.cluster import RedisCluster

from ..errors import DataIntegrity
from ..instrumentation import operation
from . import cluster, codec
from .keys import IDENTIFIER_LENGTH, glob_escape, is_valid_sid

if TYPE_CHECKING:  # pragma: no cover
    from .store import RedisSessionStore

_logger = logging.getLogger(__name__)

#: the largest legacy value read: an Odoo session is a few KB; more is refused, without reading it
MAX_LEGACY_BYTES = 1024 * 1024
#: the original's tag key and tags (its json_encoding.py)
_TYPE = "_type"
_VALUE = "value"
SCAN_COUNT = 1000

#: KEYS[1] the legacy key, KEYS[2] ours; ARGV[1] sha1 of the legacy value that was decoded, ARGV[2] our
#: value, ARGV[3] its TTL. 1: moved. 2: ours exists (another front-end moved it first): ours is left alone
#: and the legacy key dropped if it is the value we read. 3: the legacy value changed (a front-end still
#: running the original saved it): nothing written, read again. 0: both gone: nothing to take.
MOVE = """
local legacy = redis.call('GET', KEYS[1])
if not legacy or redis.sha1hex(legacy) ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
  if legacy then return 3 end
  return 0
end
local created = redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3], 'NX')
redis.call('DEL', KEYS[1])
if created then return 1 end
return 2
"""
GONE, MOVED, ALREADY_OURS, CHANGED = 0, 1, 2, 3
#: reads of a legacy value that keeps changing under our feet before giving up (a fresh session)
ATTEMPTS = 3


class _Marker:
    """An outcome of the legacy read other than a value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: no legacy key left, but ours exists: a concurrent request moved the session
OURS_NOW = _Marker("OURS_NOW")
#: the replies of the read disagree (the value changed between its commands): read again
CHANGED_MEANWHILE = _Marker("CHANGED_MEANWHILE")


class LegacyRefused(DataIntegrity):
    """A legacy value this store will not take over (too large, not the original's JSON)."""


@dataclass(frozen=True)
class LegacyLayout:
    """Where the original stored session `sid`, for the prefix it was configured with (None: no prefix)."""

    prefix: Optional[str]

    def keys(self, sid: str) -> list[str]:
        """Candidate keys, the one the original's code writes first."""
        if not self.prefix:
            return [f"session:{sid}"]
        return [f"session::{self.prefix}:{sid}", f"session:{self.prefix}:{sid}"]

    def patterns(self, sid_prefix: str = "") -> list[str]:
        """SCAN MATCH patterns of those keys whose id starts with `sid_prefix`."""
        escaped = glob_escape(sid_prefix)
        if not self.prefix:
            return [f"session:{escaped}*"]
        prefix = glob_escape(self.prefix)
        return [f"session::{prefix}:{escaped}*", f"session:{prefix}:{escaped}*"]


def _untag(obj: dict[str, Any]) -> Any:
    """The original's SessionDecoder.object_hook, minus its crashes (a missing "value" is refused)."""
    if _TYPE not in obj:
        return obj
    kind = obj[_TYPE]
    if kind not in ("datetime_isoformat", "date_isoformat", "set"):
        return obj  # the original returns unknown tags unchanged
    if _VALUE not in obj:
        raise LegacyRefused(f"{kind} object without a value")
    value = obj[_VALUE]
    try:
        if kind == "set":
            return set(value)
        if not isinstance(value, str):
            raise TypeError(type(value).__name__)
        # its encoder writes isoformat(); fromisoformat reads every isoformat() output back exactly
        if kind == "datetime_isoformat":
            return datetime.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
        return parsed.date() if isinstance(parsed, datetime) else date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise LegacyRefused(f"unreadable {kind} ({type(exc).__name__})") from None


def decode(raw: bytes) -> dict[str, Any]:
    """Session data from a value the original wrote; LegacyRefused for anything else."""
    if len(raw) > MAX_LEGACY_BYTES:
        raise LegacyRefused(f"{len(raw)} bytes, more than {MAX_LEGACY_BYTES}")
    try:  # the stdlib decoder with the original's hook: what its SessionDecoder returns
        data = json.loads(raw.decode("utf-8"), object_hook=_untag)
    except LegacyRefused:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise LegacyRefused(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise LegacyRefused(f"JSON {type(data).__name__}, not an object")
    return data


class LegacySessions:
    """The fallback a RedisSessionStore consults on a miss (and when revoking devices)."""

    def __init__(self, layout: LegacyLayout) -> None:
        self.layout = layout
        self._move_script = redis.commands.core.Script(None, MOVE.encode())  # type: ignore[arg-type]

    # ---------------------------------------------------------------- read + move
    def adopt(self, store: RedisSessionStore, sid: str) -> Any:
        """The session the original stored for `sid`, now under our key; None when there is none to take.

        Raises SessionStoreUnavailable (through the store) when Redis fails:
        the legacy key is then untouched, and the next request tries again.
        """
        for _attempt in range(ATTEMPTS):  # another pass only when the legacy value changed under our feet
            found = self._read(store, sid)
            if found is OURS_NOW:  # another front-end moved it since our own read missed
                return store.get(sid, record_activity=False)
            if found is CHANGED_MEANWHILE:
                continue
            if not isinstance(found, tuple):
                return None
            key, raw, ttl_ms = found
            try:
                data = decode(raw)
            except LegacyRefused as exc:
                _logger.warning("session %s…: the camptocamp session_redis value under %s is refused (%s); "
                                "starting a fresh session", sid[:6], key.replace(sid, sid[:6] + "…"), exc)
                return None
            payload = codec.encode_data(data, sid_hint=sid[:6])
            kind = store.expiry.kind_of(data)
            ttl = store.expiry.ttl(kind)
            if ttl_ms > 0:  # keep what was left of its lifetime, never more than ours
                ttl = max(1, min(ttl, ttl_ms // 1000))
            now = int(store.clock())
            value = codec.pack(kind, now, payload)
            outcome = self._move(store, (key, store.keys.session(sid)), raw, value, ttl)
            if outcome == MOVED:
                _logger.info("session %s…: moved from camptocamp session_redis's %s to our key", sid[:6],
                             "prefixed key" if self.layout.prefix else "key")
                session = store.session_class(data, sid, False)
                session.stored = codec.StoredSession(kind, now, payload, data)
                return session
            if outcome == ALREADY_OURS:
                return store.get(sid, record_activity=False)
            if outcome == GONE:
                return None
        _logger.warning("session %s…: its camptocamp session_redis value kept changing while being moved; "
                        "starting a fresh session", sid[:6])
        return None

    def _read(self, store: RedisSessionStore, sid: str) -> Union[tuple[str, bytes, int], _Marker, None]:
        """(key, value, PTTL in ms) of the first candidate key holding a string, in one round trip.

        OURS_NOW when there is none but our key exists now (a concurrent
        request moved it); CHANGED_MEANWHILE when the replies disagree (on a
        cluster the pipeline is not one transaction: a move can run between
        its commands). On one Redis, the pipeline is a MULTI/EXEC snapshot.
        """
        keys = self.layout.keys(sid)
        client = store.connection.client
        with operation("sessions.legacy_read") as op, store._redis("legacy session read"):
            pipe = client.pipeline(transaction=not _is_cluster(client))
            for key in keys:
                pipe.strlen(key)
                pipe.getrange(key, 0, MAX_LEGACY_BYTES)  # at most MAX + 1 bytes
                pipe.pttl(key)
            pipe.exists(store.keys.session(sid))
            replies = pipe.execute(raise_on_error=False)
            for index, key in enumerate(keys):
                length, raw, ttl_ms = replies[3 * index:3 * index + 3]
                if isinstance(length, Exception) or not length:  # absent (0) or not a string (WRONGTYPE)
                    continue
                op.nbytes = min(int(length), MAX_LEGACY_BYTES + 1)
                if int(length) > MAX_LEGACY_BYTES:
                    _logger.warning("session %s…: the camptocamp session_redis value is %d bytes, more than "
                                    "%d; refused, starting a fresh session", sid[:6], length,
                                    MAX_LEGACY_BYTES)
                    return None
                if isinstance(raw, Exception) or isinstance(ttl_ms, Exception) or len(raw) != int(length):
                    return CHANGED_MEANWHILE
                return key, bytes(raw), int(ttl_ms)
            if replies[-1] == 1:
                return OURS_NOW
        return None

    def _move(self, store: RedisSessionStore, keys: tuple[str, str], raw: bytes, value: bytes,
              ttl: int) -> int:
        """Replace `keys` (legacy key, ours) by ours holding `value` if the legacy one still holds `raw`."""
        legacy_key, our_key = keys
        client = store.connection.client
        with operation("sessions.legacy_move") as op, store._redis("legacy session move"):
            op.nbytes = len(value)
            if _is_cluster(client):
                return self.move_in_two_steps(client, legacy_key, our_key, value, ttl)
            return int(self._move_script(keys=[legacy_key, our_key], client=client,
                                         args=[hashlib.sha1(raw).hexdigest(), value, ttl]))

    @staticmethod
    def move_in_two_steps(client: Any, legacy_key: str, our_key: str, value: bytes, ttl: int) -> int:
        """For keys in different cluster slots: write ours (never over a newer one), then drop the legacy key.

        A failure after the first step leaves both keys: ours is then served,
        and the legacy one expires with its TTL.
        """
        created = client.set(our_key, value, ex=ttl, nx=True)
        client.delete(legacy_key)
        return MOVED if created else ALREADY_OURS

    # ---------------------------------------------------------------- devices (revocation, Odoo 19's check)
    def delete_from_identifiers(self, store: RedisSessionStore, identifiers: Iterable[str]) -> int:
        """Delete the legacy sessions of revoked devices (ids starting with a 42-char identifier).

        A device revoked before its session moved must not come back through
        this fallback. `identifiers` were validated by the store.
        """
        deleted = 0
        with operation("sessions.legacy_revoke"), store._redis("legacy delete_from_identifiers"):
            client = store.connection.client
            for doomed in self._matching(client, set(identifiers)):
                deleted += int(client.delete(*doomed))
        return deleted

    def present_identifiers(self, store: RedisSessionStore, identifiers: Iterable[str]) -> set[str]:
        """The identifiers some not yet moved legacy session starts with (it is not missing: Odoo 19)."""
        present: set[str] = set()
        with operation("sessions.legacy_missing"), store._redis("legacy get_missing_session_identifiers"):
            for keys in self._matching(store.connection.client, set(identifiers)):
                present.update(_legacy_sid(k)[:IDENTIFIER_LENGTH] for k in keys)
        return present

    def _matching(self, client: Any, wanted: set[str]) -> Iterator[list[bytes]]:
        """Batches of legacy keys (SCAN, never KEYS) whose session id starts with one of `wanted`.

        On a Redis Cluster every master is scanned (SCAN sees one server's keys).
        """
        one = next(iter(wanted)) if len(wanted) == 1 else ""
        for pattern in self.layout.patterns(one):
            for node in cluster.masters(client):
                for keys in cluster.scan(node, pattern, SCAN_COUNT):
                    batch = [k for k in keys if is_valid_sid(_legacy_sid(k))
                             and _legacy_sid(k)[:IDENTIFIER_LENGTH] in wanted]
                    if batch:
                        yield batch


def _legacy_sid(key: bytes | str) -> str:
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
    return text.rpartition(":")[2]


def _is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)
