"""What a migration run did, in numbers a deploy script and a human can both read."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

MAX_LISTED_FAILURES = 100  # the count is exact; only the first reasons are kept, so memory stays bounded


@dataclass
class Failure:
    attachment_id: int
    store_fname: Optional[str]
    reason: str


@dataclass
class Report:
    location: str
    dry_run: bool = False
    pending_at_start: int = 0
    moved: int = 0            # rows switched to the target location
    kept_in_db: int = 0        # of those, rows placed in the database by the keep-in-DB rules
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    remaining: int = 0         # rows still pending after the run (failed, or held by another runner)
    #: pending rows this run passed over because another transaction held them (FOR UPDATE SKIP LOCKED):
    #: another runner (or an Odoo worker) had them; their outcome is that runner's, so run again to confirm
    skipped: int = 0
    contents_written: int = 0  # distinct contents uploaded/written (shared content counts once per batch)
    bytes_moved: int = 0
    old_copies_removed: int = 0
    old_copies_kept: int = 0   # local files still referenced by another row (or left on the checklist)
    old_copies_marked: int = 0  # old objects handed to the storage GC (deleted once unreferenced)
    by_source: dict[str, int] = field(default_factory=dict)  # dry run: pending rows per current place
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def rate(self) -> float:
        return self.moved / self.seconds if self.seconds > 0 else 0.0

    def add_failure(self, failure: Failure) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(failure)

    def summary(self) -> str:
        if self.dry_run:
            places = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_source.items())) or "none"
            return (f"dry run to {self.location}: {self.pending_at_start} attachment(s) to move "
                    f"({places}); {self.kept_in_db} would go to the database by the keep-in-DB rules")
        return (f"migration to {self.location}: moved {self.moved} (kept in DB by rules {self.kept_in_db}), "
                f"failed {self.failed}, skipped {self.skipped} (held by another runner), "
                f"remaining {self.remaining}; "
                f"{self.contents_written} content(s) written, {self.bytes_moved} bytes, "
                f"old local copies removed {self.old_copies_removed} / kept {self.old_copies_kept}, "
                f"old objects marked for GC {self.old_copies_marked}; "
                f"{self.seconds:.1f} s, {self.rate:.1f}/s")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


class Progress:
    """Logs done/total, rate and ETA at most every `interval` seconds."""

    def __init__(self, logger: logging.Logger, location: str, total: int, interval: float) -> None:
        self.logger = logger
        self.location = location
        self.total = total
        self.interval = interval
        self.started = time.monotonic()
        self._last = self.started
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.logger.info("%s", self.line(now))

    def line(self, now: Optional[float] = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(0, self.total - self.done)
        eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"migration to {self.location}: {self.done}/{self.total} ({pct:.1f}%), "
                f"{rate:.1f} attachments/s, ETA {eta}")
