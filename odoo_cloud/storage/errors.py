"""Typed storage errors.

Callers (the Odoo glue, the migration engine) must tell "this object does not
exist" (core Odoo answers empty content for a missing file) from "the store
cannot answer" (never empty bytes: the request fails). Messages name the
scheme, bucket and key, never credentials.
"""
from __future__ import annotations

from typing import Optional

from ..errors import Misconfigured, NotFound, OdooCloudError, Refused, Unavailable


class StorageError(OdooCloudError):
    """Base of every error raised by an object store (a family: each subclass carries its meaning)."""

    def __init__(self, message: str, *, scheme: Optional[str] = None, bucket: Optional[str] = None,
                 key: Optional[str] = None) -> None:
        super().__init__(message)
        self.scheme = scheme
        self.bucket = bucket
        self.key = key


class ObjectNotFound(StorageError, NotFound):
    """The store answered: no such object (HTTP 404) or no such bucket/container."""


class StorageUnavailable(StorageError, Unavailable):
    """The store could not answer: unreachable, timeout, auth failure, throttling, 5xx after retries."""


class StorageDisabled(StorageUnavailable):
    """DISABLE_ATTACHMENT_STORAGE is set: object storage must not be contacted at all."""


class DeleteRefused(StorageError, Refused):
    """A delete outside the bucket/container this process writes to: never allowed."""


class StorageNotConfigured(StorageError, Misconfigured):
    """The scheme of a store_fname has no configured store in this process."""


class InvalidKey(StorageError, Refused, ValueError):
    """A key or bucket/container name refused before any client call: a `.`/`..` or empty segment, a
    leading `/`, a backslash, a control character, an unbounded length, or (for a write or a delete) a
    key that is not a content key. See odoo_cloud.storage.keys."""
