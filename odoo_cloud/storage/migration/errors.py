"""Two kinds of trouble: one row cannot move (reported, the run goes on) or the run cannot go on."""
from __future__ import annotations


class RowError(Exception):
    """This attachment cannot be moved now (missing source, checksum mismatch...); others can."""


class MissingSource(RowError):
    """The current copy is gone: reported, never turned into an empty object."""


class MigrationAborted(Exception):
    """The run stopped (store unreachable, bad configuration...): committed batches stay migrated."""
