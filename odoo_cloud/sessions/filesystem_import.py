"""Moving in: copy Odoo's filesystem sessions into Redis once, so switching logs nobody out.

Odoo 18 keeps a session as JSON in `<session_dir>/<sid[:2]>/<sid>` (older
releases: `<session_dir>/werkzeug_<sid>.sess`); the file's mtime is its last
save. A copied session keeps what is left of its lifetime, and never replaces
a session Redis already has (SET NX): Redis may hold a newer state of it.
A marker key records the import so that every later start (and every other
instance sharing the prefix) skips it; a short lock keeps two instances
starting together from importing twice.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..instrumentation import operation
from . import codec
from .keys import is_valid_sid
from .store import RedisSessionStore

_logger = logging.getLogger(__name__)

MARKER = "filesystem-import"
LOCK_SECONDS = 600
BATCH = 500


@dataclass
class ImportReport:
    skipped_already_done: bool = False
    #: another instance holds the import lock right now: its files must stay until it is done
    in_progress_elsewhere: bool = False
    imported: int = 0
    existing: int = 0  # already in Redis, left alone
    expired: int = 0
    unreadable: int = 0

    def __str__(self) -> str:
        if self.skipped_already_done:
            return "filesystem sessions were already imported (marker key present)"
        return (f"{self.imported} imported, {self.existing} already in Redis, {self.expired} expired, "
                f"{self.unreadable} unreadable")


def _session_files(directory: Path) -> Iterator[tuple[str, Path]]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and len(entry.name) == 2:
            for child in os.scandir(entry.path):
                if child.is_file(follow_symlinks=False) and is_valid_sid(child.name):
                    yield child.name, Path(child.path)
        elif entry.is_file(follow_symlinks=False) and entry.name.startswith("werkzeug_") \
                and entry.name.endswith(".sess"):
            sid = entry.name[len("werkzeug_"):-len(".sess")]
            if is_valid_sid(sid):
                yield sid, Path(entry.path)


def import_filesystem_sessions(store: RedisSessionStore, directory: str | os.PathLike[str],  # noqa: C901  # one skip branch per unusable file
                               max_lifetime: Optional[int] = None, force: bool = False) -> ImportReport:
    """Copy the sessions found in `directory` into `store`; idempotent, never overwrites."""
    report = ImportReport()
    client = store.connection.client
    marker, lock = store.keys.meta(MARKER), store.keys.meta(MARKER + "-lock")
    with operation("sessions.import"), store._redis("filesystem import"):
        if not force and client.exists(marker):
            report.skipped_already_done = True
            return report
        if not client.set(lock, str(os.getpid()), nx=True, ex=LOCK_SECONDS):
            report.skipped_already_done = True  # another instance is importing right now
            report.in_progress_elsewhere = True
            return report
        try:
            now = store.clock()
            pipe = client.pipeline(transaction=False)
            queued: list[str] = []

            def flush() -> None:
                for created in pipe.execute():
                    if created:
                        report.imported += 1
                    else:
                        report.existing += 1
                queued.clear()

            for sid, path in _session_files(Path(directory)):
                try:
                    mtime = path.stat().st_mtime
                    data = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(data, dict):
                        raise ValueError("not a JSON object")
                    payload = codec.encode_data(data, sid_hint=sid[:6])
                except (OSError, ValueError) as exc:
                    _logger.warning("filesystem session %s…: unreadable (%s), not imported", sid[:6],
                                    type(exc).__name__)
                    report.unreadable += 1
                    continue
                kind = store.expiry.kind_of(data)
                age = max(0, now - mtime)
                left = int(store.expiry.ttl(kind) - age)
                if max_lifetime is not None:
                    left = min(left, int(max_lifetime - age))
                if left <= 0:
                    report.expired += 1
                    continue
                value = codec.pack(kind, int(mtime), payload)
                pipe.set(store.keys.session(sid), value, ex=left, nx=True)
                queued.append(sid)
                if len(queued) >= BATCH:
                    flush()
            if queued:
                flush()
            client.set(marker, json.dumps({"at": int(time.time()), "directory": str(directory),
                                           "imported": report.imported}))
        finally:
            client.delete(lock)
    return report


def purge_allowed(import_requested: bool, report: Optional[ImportReport]) -> bool:
    """Whether the session files may go now: yes without an import; with one, only once it is complete.

    `report` is this start's import (None: it failed, e.g. Redis down). An
    import found done by an earlier start (marker key) is complete; one held
    by another instance right now is not (its files are still being read).
    """
    if not import_requested:
        return True
    return report is not None and not report.in_progress_elsewhere


def purge_filesystem_sessions(directory: str | os.PathLike[str]) -> int:
    """Delete Odoo's session files in `directory`; how many (camptocamp's `_PURGE_EXISTING_FS_SESSIONS`).

    Only files named like a session (`<sid[:2]>/<sid>`, `werkzeug_<sid>.sess`)
    go: a session directory pointed at the wrong place loses nothing else.
    The caller decides when (session_redis: after a complete import).
    """
    removed = 0
    for sid, path in _session_files(Path(directory)):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            _logger.warning("filesystem session %s…: not deleted (%s)", sid[:6], type(exc).__name__)
            continue
        removed += 1
    return removed
