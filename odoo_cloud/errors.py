"""One root for every error the core raises, and the five meanings callers act on.

Like redis-py's `RedisError`, `OdooCloudError` lets a caller catch "anything from odoo_cloud"; the
meaning classes beneath it let the glue answer by what went wrong rather than by which module
raised it (one mapping per addon, e.g. Unavailable -> HTTP 503, Misconfigured -> a clear UserError):

- `Misconfigured`: a variable, parameter or rule is wrong or missing; retrying will not help, the
  operator must change the configuration.
- `Unavailable`: a server (object store, Redis, a probed dependency) cannot answer now; retrying
  later may help; never turned into empty data.
- `NotFound`: the server answered, and the thing does not exist.
- `Refused`: a request this process must not carry out (a delete outside its bucket, a key that is
  not a content key, a bucket another environment owns).
- `DataIntegrity`: stored data is not what it must be (corrupt session bytes, a row whose object is
  gone or reads back other bytes).

Every concrete error derives from exactly one meaning. A *family* base (`StorageError`,
`MigrationAborted`) groups the errors of one area for callers that catch them together; it has no
meaning of its own and is never raised as is. Existing class names stay; the classes that were
`ValueError`/`RuntimeError` still are, so older `except ValueError` callers keep working.
"""
from __future__ import annotations


class OdooCloudError(Exception):
    """Base of every error raised by odoo_cloud."""


class Misconfigured(OdooCloudError):
    """The configuration is wrong or incomplete: the message names the variable or parameter."""


class Unavailable(OdooCloudError):
    """A server cannot answer now (down, unreachable, too slow, refusing our credentials)."""


class NotFound(OdooCloudError):
    """The server answered: no such object."""


class Refused(OdooCloudError):
    """An operation this process must never carry out, refused before any side effect."""


class DataIntegrity(OdooCloudError):
    """Stored data is not what it must be: kept as is, reported, never replaced by empty data."""


#: the meanings, in the order above: every concrete error derives from exactly one
MEANINGS: tuple[type[OdooCloudError], ...] = (Misconfigured, Unavailable, NotFound, Refused, DataIntegrity)
