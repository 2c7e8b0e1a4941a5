"""The one failure callers must handle: Redis cannot serve sessions right now."""
from __future__ import annotations

from ..errors import Unavailable


class SessionStoreUnavailable(Unavailable, RuntimeError):
    """Redis is down, unreachable, refusing our credentials or too slow (after bounded retries).

    The message names the store (URL with its password masked) and the
    cause, never a secret: the HTTP glue turns it into a 503 and logs it as is.
    """

    def __init__(self, where: str, operation: str, cause: str) -> None:
        self.where = where
        self.operation = operation
        self.cause = cause
        super().__init__(f"Redis session store {where} unavailable during {operation}: {cause}")
