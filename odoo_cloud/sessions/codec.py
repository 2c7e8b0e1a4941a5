"""Session data <-> bytes stored in Redis.

JSON, because it is safe to read back (no pickle) and readable with redis-cli.
Dates, datetimes and sets survive a round trip as tagged objects
``{"__oc__": "<tag>", "v": ...}``; a user dict that itself has an ``__oc__``
key is escaped, so no data can be mistaken for a tag.

A stored value is ``ocs1 <kind> <active_at> <json>``: the header lets the
Lua scripts pick the TTL (kind ``a`` authenticated, ``n`` anonymous) and let
vacuum judge age from a few bytes, without parsing the JSON. ``active_at``
(13 digits, Unix seconds) is the last write or the last request that read
the session (restamped in place by the read script, see store.py). Anything else
under a session key is foreign and reads as "no session".

Speed: the stdlib codec (with its Python hooks) is the reference. When
`orjson` is installed, plain JSON (no tag, no escape, no number beyond 64
bits) goes through it, about 5x faster, and anything it might treat
differently (NaN, UUID, enums, subclasses, huge ints, lone surrogates...) falls
back to the stdlib: an orjson encoding is only kept if it decodes back to a
value equal to the original, so what a later load sees never depends on the
path taken.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional

from ..errors import DataIntegrity

try:
    import orjson
except ImportError:  # optional speed-up: the stdlib codec below is complete on its own
    orjson = None  # type: ignore[assignment]

_logger = logging.getLogger(__name__)

MAGIC = b"ocs1"
KINDS = (b"a", b"n")
#: header width: b"ocs1 a 0001700000000 " -> active_at is zero-padded to 13 digits
HEADER_LENGTH = len(MAGIC) + 1 + 1 + 1 + 13 + 1
TAG = "__oc__"
_MARK = f'"{TAG}":'
_MARK_BYTES = _MARK.encode()
#: digits -> b"1", anything else -> b" ": a run of 19 digits (an int orjson may read beyond 64 bits,
#: silently as a float) becomes a findable substring; a regex search costs ~10x more
_DIGITS_AS_ONES = bytes(0x31 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_NUMBER = b"1" * 19
#: what a set may hold and still decode to an equal set (JSON has no tuples: they would come back as lists)
_SET_MEMBERS = (str, int, float, bool, type(None), date)


class CorruptSession(DataIntegrity, ValueError):
    """Bytes under a session key that are not a session written by this store."""


@dataclass(frozen=True)
class StoredSession:
    kind: str  # "a" or "n"
    active_at: int  # last write, or last request that read it (to within the activity granularity)
    payload: bytes  # the JSON part, compared on save to skip unchanged sessions
    data: dict[str, Any]


def _tag(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {TAG: "datetime", "v": obj.isoformat()}
    if isinstance(obj, date):
        return {TAG: "date", "v": obj.isoformat()}
    if isinstance(obj, (set, frozenset)):
        members = list(obj)
        if not all(isinstance(m, _SET_MEMBERS) for m in members):
            raise TypeError("only sets of strings, numbers, booleans, None, dates or datetimes can be stored")
        # sorted, so that an unchanged set encodes to the same bytes in every process
        members.sort(key=lambda m: (type(m).__name__, m))
        return {TAG: "set", "v": members}
    raise TypeError(f"values of type {type(obj).__name__} cannot be stored in a session")


def _escape(value: Any) -> Any:
    """Wrap user dicts that have a `__oc__` key (slow path, only when one exists)."""
    if isinstance(value, dict):
        items = {k: _escape(v) for k, v in value.items()}
        if TAG in items:
            return {TAG: "dict", "v": [[k, v] for k, v in items.items()]}
        return items
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    return value


def _untag(obj: dict[str, Any]) -> Any:
    tag = obj.get(TAG)
    if tag is None and TAG not in obj:
        return obj
    if len(obj) != 2 or "v" not in obj:
        raise CorruptSession(f"malformed {TAG} object")
    value = obj["v"]
    try:
        if tag == "datetime":
            return datetime.fromisoformat(value)
        if tag == "date":
            return date.fromisoformat(value)
        if tag == "set":
            return set(value)
        if tag == "dict":
            return {k: v for k, v in value}
    except (TypeError, ValueError) as exc:
        raise CorruptSession(f"bad {tag} value: {exc}") from None
    raise CorruptSession(f"unknown {TAG} tag {tag!r}")


# built once: json.dumps/json.loads with options build a new encoder/decoder on every call
_ENCODER = json.JSONEncoder(default=_tag, ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_untag)
#: text without a tag marker has no object for the hook to turn back into a value: skip the Python callback
_PLAIN_DECODER = json.JSONDecoder()


class _NotPlainJSON(Exception):
    pass


def _refuse(obj: Any) -> Any:
    raise _NotPlainJSON  # dates, sets, subclasses...: the stdlib encoder with its tags decides


if orjson is not None:
    _ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
                       | orjson.OPT_PASSTHROUGH_DATACLASS)


def _fast_encode(value: Any) -> Optional[tuple[bytes, Any]]:
    """(orjson bytes, their decoded value) when `value` is plain JSON that survives unchanged, else None."""
    if orjson is None:
        return None
    try:
        payload = orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a non-str key, an int beyond 64 bits, a cycle, _refuse...
        return None
    if _MARK_BYTES in payload:  # a user dict with our tag key: needs the stdlib escape
        return None
    decoded = orjson.loads(payload)
    # NaN -> null, UUID -> str, Enum -> its value, tuple -> list: not equal, so left to the stdlib
    if decoded != value:
        return None
    return payload, decoded


def dumps(value: Any) -> str:
    """JSON text of `value`; TypeError/ValueError when something in it cannot be stored."""
    text = _ENCODER.encode(value)
    if _MARK in text:  # a tag of ours or a user key that looks like one: escape user dicts
        text = _ENCODER.encode(_escape(value))
    return text


def _orjson_reads_alike(text: bytes) -> bool:
    """No tag, no \\u escape (it could spell the tag key), no 19-digit run: orjson and the stdlib agree."""
    return (_MARK_BYTES not in text and b"\\u" not in text
            and _LONG_NUMBER not in text.translate(_DIGITS_AS_ONES))


def loads(text: str | bytes) -> Any:
    if not isinstance(text, str):
        text = bytes(text)
        if orjson is not None and _orjson_reads_alike(text):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:  # NaN, Infinity, bad UTF-8...: the stdlib decides
                pass
        text = text.decode("utf-8")
    if _MARK not in text and "\\u" not in text:  # (a \u escape could spell the tag key)
        return _PLAIN_DECODER.decode(text)
    return _DECODER.decode(text)


def clone(value: Any) -> Any:
    """A deep copy through the codec, i.e. exactly what a later load will see."""
    fast = _fast_encode(value)
    if fast is not None:
        return fast[1]
    return loads(dumps(value))


def encode_data(data: Mapping[str, Any], sid_hint: str = "?") -> bytes:
    """The JSON payload of a session; keys whose value cannot be stored are left out (logged).

    A session holding one bad value must still be saved: losing one key is
    better than turning the user's request into a server error.
    """
    plain = data if type(data) is dict else dict(data)
    fast = _fast_encode(plain)
    if fast is not None:
        return fast[0]
    try:
        return dumps(plain).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        pass
    kept = {}
    for key, value in data.items():
        try:
            dumps({key: value}).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            _logger.error("session %s…: value of key %r cannot be stored (%s: %s); it is left out of the "
                          "saved session", sid_hint, key, type(exc).__name__, exc)
            continue
        kept[key] = value
    return dumps(kept).encode("utf-8")


def pack(kind: str, active_at: int, payload: bytes) -> bytes:
    return b"%s %s %013d %s" % (MAGIC, kind.encode("ascii"), active_at, payload)


def unpack(raw: bytes) -> StoredSession:
    """Parse a stored value; CorruptSession for anything this store did not write."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) < HEADER_LENGTH + 2:
        raise CorruptSession("too short to be a session")
    header, payload = bytes(raw[:HEADER_LENGTH]), bytes(raw[HEADER_LENGTH:])
    parts = header.split(b" ")
    if len(parts) != 4 or parts[0] != MAGIC or parts[1] not in KINDS or parts[3] != b"" \
            or not parts[2].isdigit():
        raise CorruptSession("no session header")
    try:
        data = loads(payload)
    except CorruptSession:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptSession(f"unreadable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CorruptSession(f"JSON {type(data).__name__}, not an object")
    return StoredSession(kind=parts[1].decode(), active_at=int(parts[2]), payload=payload, data=data)
