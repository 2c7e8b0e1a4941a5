"""How long a session lives in Redis, and when its expiry is pushed back.

Authenticated sessions live as long as Odoo's own session lifetime unless
configured; anonymous ones (a visitor's cart, a login page) much less, so a
crawler cannot fill Redis. Expiry slides with activity, but only once per
`refresh_after` seconds: refreshing on every request would turn every read
into a write (replication, AOF) for nothing.

Last activity is recorded the same way: a request's read stamps the session
(in the same server-side script as the read) only when the stamp is at least
`activity_granularity` seconds old, so `vacuum(max_lifetime)` judges by the
last request to within that many seconds without turning reads into writes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

AUTHENTICATED = "a"
ANONYMOUS = "n"
#: at most this long between two refreshes of an active session's expiry
MAX_REFRESH_AFTER = 3600
#: a read restamps the session's last activity when the stamp is at least this old (seconds): vacuum may
#: judge a session up to this much older than it is, and an active session costs at most one small write
#: (SETRANGE of 13 bytes) per this many seconds
ACTIVITY_GRANULARITY = 60


@dataclass(frozen=True)
class ExpiryPolicy:
    authenticated_ttl: int
    anonymous_ttl: int
    refresh_interval: Optional[int] = None
    activity_granularity: int = ACTIVITY_GRANULARITY

    @staticmethod
    def kind_of(data: Mapping[str, Any]) -> str:
        """A session with a user id is authenticated; pre-2FA (pre_uid only) is not yet."""
        return AUTHENTICATED if data.get("uid") else ANONYMOUS

    def ttl(self, kind: str) -> int:
        return self.authenticated_ttl if kind == AUTHENTICATED else self.anonymous_ttl

    def refresh_after(self, kind: str) -> int:
        """Seconds of activity after which the TTL (and stored write time) are renewed."""
        ttl = self.ttl(kind)
        wanted = self.refresh_interval or min(MAX_REFRESH_AFTER, ttl // 10)
        return max(1, min(wanted, ttl - 1)) if ttl > 1 else 0
