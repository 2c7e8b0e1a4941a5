"""Odoo 19's soft rotation protocol, as data: the keys it reads and writes in a session.

Odoo 19 (odoo/http.py, FilesystemSessionStore.rotate(soft=True)) gives an
authenticated session a new id every few hours while keeping the first 42
characters (the identifier res.device.log and the CSRF token use). The old
session stays readable for a short while, pointing at its successor
(`next_sid`) and refusing authentication after `deletion_time`; the successor
carries `gc_previous_sessions` until, `deletion_delay` seconds after its
`create_time`, its predecessors are deleted (`delete_old_sessions`).
Framework-free: the names are Odoo's, nothing here imports Odoo.
"""
from __future__ import annotations

from typing import Any

from .keys import IDENTIFIER_LENGTH

NEXT_SID = "next_sid"
DELETION_TIME = "deletion_time"
GC_PREVIOUS_SESSIONS = "gc_previous_sessions"
CREATE_TIME = "create_time"
#: Odoo 19's SESSION_DELETION_TIMER: seconds a superseded session keeps working for concurrent requests
DELETION_DELAY = 120


def successor_id(sid: str, random_sid: str) -> str:
    """The next id of a soft rotation: the same identifier (first 42 characters), new random rest."""
    return sid[:IDENTIFIER_LENGTH] + random_sid[IDENTIFIER_LENGTH:]


def superseded_data(data: dict[str, Any], next_sid: str, now: float, deletion_delay: int) -> dict[str, Any]:
    """What stays under the old id: the data, its successor and when it stops authenticating."""
    return {**data, NEXT_SID: next_sid, DELETION_TIME: now + deletion_delay}


def successor_data(data: dict[str, Any], now: float) -> dict[str, Any]:
    """What the successor starts with: the data, flagged to collect its predecessors later."""
    fresh = {k: v for k, v in data.items() if k not in (NEXT_SID, DELETION_TIME)}
    fresh[GC_PREVIOUS_SESSIONS] = True
    fresh[CREATE_TIME] = now
    return fresh


def predecessors_due(data: Any, now: float, deletion_delay: int) -> bool:
    """True when the session's predecessors may be deleted (Odoo 19's delete_old_sessions condition)."""
    if GC_PREVIOUS_SESSIONS not in data:
        return False
    created = data.get(CREATE_TIME)
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        return True  # flagged without a usable creation time: nothing tells us to wait
    return created + deletion_delay < now
