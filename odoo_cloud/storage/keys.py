"""What may reach an object-store client as a key or a bucket/container name: one validator, one place.

Why: a key is a path on the wire. Swift (and S3 servers or proxies that normalise paths) resolve `..`
segments, so `get("../other/x")` on container A used to read container `other`, and `delete` to delete
there: the delete guard compares bucket names, not paths. A leading `/`, an empty segment, a backslash
(some proxies turn it into `/`), control characters (CR/LF split a request or a log line) and an
unbounded length belong to the same class. Every public `ObjectStore` method validates before any client
call, and `uri.parse_uri` validates every `scheme://bucket/key` it accepts:

* **read keys** (`get`, `head`, `exists`, `open`, `iter_chunks`, `presigned_url`, listing cursors): any
  well-formed key — non-empty `/`-separated segments, none `.` or `..`, no backslash, no control or
  format character (C0, DEL, C1, U+2028/U+2029, bidi controls...), at most 1024 UTF-8 bytes;
* **write keys** (`put`, `delete`, `delete_many`): only the keys this code produces — a content key
  (the sha1 hex digest of the content, Odoo's `checksum`) or the probe key of `odoo-cloud check
  --connect` (`odoo-cloud-check/` + 16 hex digits);
* **bucket/container names**: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 255 characters (the alphabet of S3
  bucket names and of Odoo database names, which `{db}` puts in them).

The backends' `_`-prefixed primitives do not validate: internal records written by this package itself
(e.g. under `.odoo-cloud/`) go through them, and a content write can never produce such a key.
Every check runs in linear time on a bounded length; an error message shows at most 80 characters of the
refused value, escaped.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

from .errors import InvalidKey

MAX_KEY_BYTES = 1024  # S3's limit, and Swift's default max_object_name_length
MAX_BUCKET_LENGTH = 255
#: what `odoo-cloud check --connect` writes, reads back and deletes (odoo_cloud.preflight)
PROBE_PREFIX = "odoo-cloud-check/"

_WRITE_KEY_RE = re.compile(r"[0-9a-f]{40}|" + re.escape(PROBE_PREFIX) + r"[0-9a-f]{16}")
_CONTENT_KEY_RE = re.compile(r"[0-9a-f]{40}")
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ASCII_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f\\]")
#: control, format (bidi overrides, zero-width...), surrogate, line and paragraph separator characters
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_DOT_SEGMENTS = frozenset({"", ".", ".."})
_SHOWN = 80


def shown(value: object) -> str:
    """A bounded, escaped rendering of a refused value for an error message or a log line."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SHOWN:
        return f"{text[:_SHOWN]!r}... ({len(text)} characters)"
    return repr(text)


def _forbidden_character(text: str) -> Optional[str]:
    if text.isascii():
        match = _ASCII_FORBIDDEN_RE.search(text)
        return match.group() if match else None
    for char in text:
        if char == "\\" or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return char
    return None


def _check_path(text: str, what: str, *, allow_trailing_slash: bool) -> None:
    """Shared rules of keys and key prefixes: bounded length, allowed characters, no dot segments."""
    if len(text) > MAX_KEY_BYTES:  # a character is at least one byte: refuse before scanning it
        raise InvalidKey(f"{what} {shown(text)} is longer than {MAX_KEY_BYTES} bytes")
    bad = _forbidden_character(text)
    if bad is not None:
        raise InvalidKey(f"{what} {shown(text)} contains the forbidden character {bad!r} "
                         "(control/format character or backslash)")
    if len(text.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"{what} {shown(text)} is longer than {MAX_KEY_BYTES} bytes")
    segments = text.split("/")
    if allow_trailing_slash and len(segments) > 1 and segments[-1] == "":
        segments.pop()
    if any(segment in _DOT_SEGMENTS for segment in segments):
        raise InvalidKey(f"{what} {shown(text)} has an empty, '.' or '..' segment or a leading/trailing '/'"
                         " (it could address another bucket/container)")


def validate_key(key: str, *, write: bool = False) -> str:
    """`key` when a client may be given it, else InvalidKey (a StorageError and a ValueError).

    `write=True` (put, delete): only the keys this code produces — a content key (40 lowercase hex,
    the sha1 of the content) or the `odoo-cloud check --connect` probe key.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"object key {shown(key)}: expected a non-empty string")
    if write:
        if not _WRITE_KEY_RE.fullmatch(key):
            raise InvalidKey(f"refusing to write or delete object key {shown(key)}: only content keys "
                             f"(the sha1 hex digest of the content) and {PROBE_PREFIX}<16 hex> probe keys "
                             "are written or deleted", key=key[:_SHOWN])
        return key
    try:
        _check_path(key, "object key", allow_trailing_slash=False)
    except InvalidKey as exc:
        exc.key = key[:_SHOWN]
        raise
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key whose last segment may be partial or empty (`list/`)."""
    if not isinstance(prefix, str):
        raise InvalidKey(f"key prefix {shown(prefix)}: expected a string")
    if prefix:
        _check_path(prefix, "key prefix", allow_trailing_slash=True)
    return prefix


def validate_bucket(name: str, *, source: Optional[str] = None) -> str:
    """`name` when it is a bucket/container name a client may be given, else InvalidKey.

    `source` names where the value came from (an environment variable) for the message.
    """
    origin = f" (from {source})" if source else ""
    if (not isinstance(name, str) or len(name) > MAX_BUCKET_LENGTH
            or not _BUCKET_RE.fullmatch(name)):
        raise InvalidKey(f"invalid bucket/container name {shown(name)}{origin}: expected letters, digits, "
                         f"'.', '_' or '-', starting with a letter or digit, at most {MAX_BUCKET_LENGTH} "
                         "characters", bucket=name[:_SHOWN] if isinstance(name, str) else None)
    return name


def is_content_key(key: str) -> bool:
    """True for the sha1 hex digest keys attachments are stored under."""
    return isinstance(key, str) and bool(_CONTENT_KEY_RE.fullmatch(key))
