"""Two kinds of trouble: one row cannot move (reported, the run goes on) or the run cannot go on."""
from __future__ import annotations

from ...errors import DataIntegrity, Misconfigured, OdooCloudError


class RowError(DataIntegrity):
    """This attachment cannot be moved now (its copy is missing, unreadable or holds other bytes than its
    checksum); others can."""


class MissingSource(RowError):
    """The current copy is gone: reported, never turned into an empty object."""


class MigrationAborted(OdooCloudError):
    """The run stopped (store unreachable, bad configuration...): committed batches stay migrated.

    A family: the engine raises one of the subclasses below, callers catch this class."""


class MigrationMisconfigured(MigrationAborted, Misconfigured):
    """A row needs a source this run was given no access to (no object store, no filestore directory)."""


class MigrationDataMismatch(MigrationAborted, DataIntegrity):
    """The database answered other bytes than the run wrote: stop before recording anything else."""
