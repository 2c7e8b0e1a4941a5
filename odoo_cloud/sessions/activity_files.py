"""Stand-in session files for addons that judge inactivity by a file's mtime (OCA auth_session_timeout).

That addon (server-auth, 16.0 and the releases that kept the file contract)
does, on each authenticated request::

    path = root.session_store.get_session_filename(session.sid)
    expired = getmtime(path) < deadline      # OSError counts as expired
    ...
    utime(path, None)                        # unless the URL is in its ignore list

Sessions live in Redis, so there is no such file; the last activity *as that
addon sees it* (requests outside its ignore list) is kept in the session
itself under `ACTIVITY_KEY`, so every front-end agrees. For one request:

1. `materialize(sid, last_seen)` makes a private local file whose mtime is that
   time and returns its path (what the addon stats and touches);
2. at save, `collect(sid)` reads the file's mtime back and removes the file;
   `advanced(previous, touched)` says whether the session should record it
   (only when it moved by at least `granularity` seconds: a session is not
   rewritten on every request for a few seconds of precision).

Files are per process (a worker never removes another one's file) and at most
`capacity` exist per process (the oldest are removed first), so a crash
between the two steps leaves a bounded amount behind.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Optional

from .keys import is_valid_sid

#: where the addon's view of the last activity is kept in the session data (Unix seconds)
ACTIVITY_KEY = "auth_timeout_active_at"
DEFAULT_CAPACITY = 1024


def default_directory() -> Path:
    return Path(tempfile.gettempdir()) / "odoo-cloud-session-files"


class ActivityFiles:
    """Local files standing for sessions during a request, one directory per process."""

    def __init__(self, directory: Optional[Path] = None, capacity: int = DEFAULT_CAPACITY,
                 granularity: int = 60) -> None:
        self.base = directory or default_directory()
        self.capacity = capacity
        self.granularity = granularity
        self._paths: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()

    def _directory(self) -> Path:
        # the pid is read at each call: a store built before fork serves its children in their own directory
        return self.base / str(os.getpid())

    def materialize(self, sid: str, last_seen: float) -> str:
        """The path of a file whose mtime is `last_seen`, standing for session `sid` in this process."""
        if not is_valid_sid(sid):
            raise ValueError("not a valid session id")
        path = self._directory() / sid[:2] / sid
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        os.utime(path, (last_seen, last_seen))
        with self._lock:
            self._paths[sid] = path
            self._paths.move_to_end(sid)
            evicted = [self._paths.popitem(last=False)[1] for _ in range(len(self._paths) - self.capacity)]
        for old in evicted:
            _unlink(old)
        return str(path)

    def collect(self, sid: str) -> Optional[float]:
        """The mtime of `sid`'s file (what the addon left), removing the file; None when there is none."""
        with self._lock:
            path = self._paths.pop(sid, None)
        if path is None:
            return None
        try:
            touched = path.stat().st_mtime
        except OSError:  # the addon (or an operator) removed it
            return None
        _unlink(path)
        return touched

    def advanced(self, previous: object, touched: float) -> bool:
        """Whether `touched` should replace the recorded `previous` activity."""
        if not isinstance(previous, (int, float)) or isinstance(previous, bool):
            return True
        return touched - previous >= self.granularity


def last_seen(data: object, stored_active_at: Optional[int], now: float) -> float:
    """The addon's last activity recorded in session `data`; else the store's own stamp; else `now`."""
    value = data.get(ACTIVITY_KEY) if isinstance(data, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float(stored_active_at) if stored_active_at else now


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
