"""Session ids and where their data lives in Redis.

Ids arrive from cookies, i.e. from anyone: they are checked (length and
alphabet, whole string) before they reach Redis or a key name. Every key an
instance writes starts with its prefix so that several instances share one
Redis without ever seeing each other's sessions.

On a Redis Cluster (`KeyLayout(prefix, hash_tag=True)`) the session part of
a key is written `{<identifier>}<rest>`: Redis hashes only what is between
the braces, so a session, the ids a soft rotation superseded (same first 42
characters) and their family set all live in one hash slot, and every Lua
script of the store keeps touching keys of a single slot. Without a cluster
keys stay `<prefix>:session:<sid>`, as they always were (no one is logged
out by an upgrade).
"""
from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

#: Odoo 18 session ids: 84 URL-safe base64 characters (63 random bytes, no padding)
SID_LENGTH = 84
#: res.device.log keeps the first half of an id to name a device's session
IDENTIFIER_LENGTH = 42
_SID_RE = re.compile(rf"[A-Za-z0-9_-]{{{SID_LENGTH}}}")
_IDENTIFIER_RE = re.compile(rf"[A-Za-z0-9_-]{{{IDENTIFIER_LENGTH}}}")
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


def generate_sid() -> str:
    """A new session id in Odoo 18's format, from the OS's CSPRNG."""
    return base64.urlsafe_b64encode(secrets.token_bytes(63)).decode("ascii")


def is_valid_sid(value: object) -> bool:
    # fullmatch, not match + '$': '$' would accept a trailing newline
    return isinstance(value, str) and _SID_RE.fullmatch(value) is not None


def is_valid_identifier(value: object) -> bool:
    return isinstance(value, str) and _IDENTIFIER_RE.fullmatch(value) is not None


def glob_escape(text: str) -> str:
    """Make `text` match itself only in a Redis MATCH pattern."""
    return _GLOB_SPECIALS.sub(r"\\\1", text)


def hash_tagged(sid_part: str) -> str:
    """`sid_part` (an id or the start of one) as written in a cluster key: its first 42 characters
    between braces, so that Redis Cluster hashes the identifier only."""
    if len(sid_part) < IDENTIFIER_LENGTH:
        return "{" + sid_part
    return "{" + sid_part[:IDENTIFIER_LENGTH] + "}" + sid_part[IDENTIFIER_LENGTH:]


@dataclass(frozen=True)
class KeyLayout:
    """`<prefix>:session:<sid>` for sessions, `<prefix>:family:<identifier>` for the ids a soft rotation
    superseded (Odoo 19), `<prefix>:meta:<name>` for the store's own bookkeeping.

    `hash_tag` (Redis Cluster): `<prefix>:session:{<identifier>}<rest of the id>` and
    `<prefix>:family:{<identifier>}` — one hash slot per session family.
    """

    prefix: str
    hash_tag: bool = False

    def __post_init__(self) -> None:
        if self.hash_tag and ("{" in self.prefix or "}" in self.prefix):
            # Redis hashes the first {...} of a key: a brace in the prefix would put every session in one slot
            raise ValueError("a key prefix used on a Redis Cluster must not contain '{' or '}'")

    def _sid(self, sid_part: str) -> str:
        return hash_tagged(sid_part) if self.hash_tag else sid_part

    def session(self, sid: str) -> str:
        return f"{self.prefix}:session:{self._sid(sid)}"

    def session_prefix(self) -> str:
        """What the Lua scripts put before an id to name its session key. With `hash_tag` it ends with
        '{': the scripts then write the id as `<first 42>}<rest>` (scripts.py, `session_key`)."""
        return f"{self.prefix}:session:" + ("{" if self.hash_tag else "")

    def family(self, identifier: str) -> str:
        """Set of the superseded ids sharing `identifier` (the first 42 characters of a soft-rotated id)."""
        tagged = "{" + identifier + "}" if self.hash_tag else identifier
        return f"{self.prefix}:family:{tagged}"

    def meta(self, name: str) -> str:
        return f"{self.prefix}:meta:{name}"

    def sid_of(self, key: bytes | str) -> str:
        text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        sid = text.rpartition(":")[2]
        return sid.replace("{", "").replace("}", "") if self.hash_tag else sid

    def session_pattern(self, sid_prefix: str = "") -> str:
        """SCAN MATCH pattern of this prefix's sessions whose id starts with `sid_prefix`."""
        return f"{glob_escape(self.prefix)}:session:{glob_escape(self._sid(sid_prefix))}*"
