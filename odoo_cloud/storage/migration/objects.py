"""The engine's view of object stores: write verified content to the target bucket, read any bucket."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Optional

from ..base import ObjectStore
from ..errors import ObjectNotFound, StorageNotConfigured
from ..uri import parse_uri
from .errors import MissingSource, RowError

VERIFY_MODES = ("head", "read")
MISSING = "is missing right after the upload"


class ObjectWriter:
    """Puts content under its sha1 in the store's write bucket, then checks the stored copy.

    `verify="head"`: size, and the MD5 ETag single-part uploads carry on S3 and Swift, must match the
    bytes whose sha1 is the key (one HEAD; an ETag that is not that MD5 - multipart, SSE-KMS - costs a
    read-back and a sha1 comparison instead). `verify="read"`: the object is read back and its sha1
    compared (one GET: slower, for the paranoid).
    """

    def __init__(self, store: ObjectStore, verify: str = "head") -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
        self.store = store
        self.verify = verify

    @property
    def uri_prefix(self) -> str:
        return f"{self.store.scheme}://{self.store.bucket}/"

    def write(self, data: bytes, sha1: str, recheck: bool = False) -> str:
        self.store.put(sha1, data, recheck=recheck)
        problem = self._problem(sha1, data)
        if problem == MISSING:
            # the store remembered the key as present but the GC collected it since: upload for real
            self.store.put(sha1, data, recheck=True)
            problem = self._problem(sha1, data)
        if problem:
            raise RowError(f"{self.store.uri(sha1)} {problem}: the row keeps its current copy")
        return self.store.uri(sha1)

    def _problem(self, sha1: str, data: bytes) -> Optional[str]:
        if self.verify == "read":
            try:
                stored = self.store.get(sha1)
            except ObjectNotFound:
                return MISSING
            got = hashlib.sha1(stored).hexdigest()
            return None if got == sha1 and len(stored) == len(data) else f"reads back with sha1 {got}"
        try:
            info = self.store.head(sha1)
        except ObjectNotFound:
            return MISSING
        if info.size != len(data):
            return f"has {info.size} bytes, expected {len(data)}"
        etag = (info.etag or "").strip('"')
        if etag and etag != hashlib.md5(data).hexdigest():
            # not an MD5 (multipart, SSE-KMS...) or really other bytes: only the content can tell
            stored = self.store.get(sha1)
            got = hashlib.sha1(stored).hexdigest()
            if got != sha1:
                return f"reads back with sha1 {got}"
        return None


class StoreReader:
    """Reads any `scheme://bucket/key` through the store configured for that scheme."""

    def __init__(self, stores: Mapping[str, ObjectStore]) -> None:
        self.stores = dict(stores)

    def __call__(self, store_fname: str) -> bytes:
        uri = parse_uri(store_fname)
        if uri is None:
            raise RowError(f"unreadable object reference {store_fname!r}")
        store = self.stores.get(uri.scheme)
        if store is None:
            raise StorageNotConfigured(f"no {uri.scheme} store is configured to read {store_fname}",
                                       scheme=uri.scheme, bucket=uri.bucket, key=uri.key)
        try:
            return store.get(uri.key, bucket=uri.bucket)
        except ObjectNotFound:
            raise MissingSource(f"missing object {store_fname}") from None
