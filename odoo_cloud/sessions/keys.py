"""Session ids and where their data lives in Redis.

Ids arrive from cookies, i.e. from anyone: they are checked (length and
alphabet, whole string) before they reach Redis or a key name. Every key an
instance writes starts with its prefix so that several instances share one
Redis without ever seeing each other's sessions.
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


@dataclass(frozen=True)
class KeyLayout:
    """`<prefix>:session:<sid>` for sessions, `<prefix>:family:<identifier>` for the ids a soft rotation
    superseded (Odoo 19), `<prefix>:meta:<name>` for the store's own bookkeeping."""

    prefix: str

    def session(self, sid: str) -> str:
        return f"{self.prefix}:session:{sid}"

    def session_prefix(self) -> str:
        return f"{self.prefix}:session:"

    def family(self, identifier: str) -> str:
        """Set of the superseded ids sharing `identifier` (the first 42 characters of a soft-rotated id)."""
        return f"{self.prefix}:family:{identifier}"

    def meta(self, name: str) -> str:
        return f"{self.prefix}:meta:{name}"

    def sid_of(self, key: bytes | str) -> str:
        text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        return text.rpartition(":")[2]

    def session_pattern(self, sid_prefix: str = "") -> str:
        """SCAN MATCH pattern of this prefix's sessions whose id starts with `sid_prefix`."""
        return f"{glob_escape(self.prefix)}:session:{glob_escape(sid_prefix)}*"
