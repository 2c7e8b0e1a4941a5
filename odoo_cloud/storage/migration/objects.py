"""The engine's view of object stores: write verified content to the target bucket, read any bucket."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Optional

from ..base import ObjectStore
from ..errors import InvalidKey, ObjectNotFound, StorageNotConfigured
from ..keys import shown
from ..uri import parse_uri
from .errors import MissingSource, RowError

VERIFY_MODES = ("auto", "head", "read")
MISSING = "is missing right after the upload"


class ObjectWriter:
    """Puts content under its sha1 in the store's write bucket, and makes sure the stored copy is right.

    `verify="auto"` (default): on S3 every upload carries its Content-MD5, which the server checks before
    storing (BadDigest otherwise), so a successful new upload is verified without another request; an
    object that already existed, or a store without that check (Swift), gets the `head` check.
    `verify="head"`: size, and the MD5 ETag single-part uploads carry on S3 and Swift, must match the
    bytes whose sha1 is the key (one HEAD; an ETag that is not that MD5 - multipart, SSE-KMS - costs a
    read-back and a sha1 comparison instead). `verify="read"`: every object is read back and its sha1
    compared (one GET: slower, for the paranoid).
    """

    def __init__(self, store: ObjectStore, verify: str = "auto") -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
        self.store = store
        self.verify = verify
        self.server_checks_md5 = verify == "auto" and store.verify_uploads_by_md5()

    @property
    def uri_prefix(self) -> str:
        return f"{self.store.scheme}://{self.store.bucket}/"

    def write(self, data: bytes, sha1: str, recheck: bool = False) -> str:
        uploaded = self.store.put(sha1, data, recheck=recheck)
        if uploaded and self.server_checks_md5:
            return self.store.uri(sha1)
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
                stored = self.store.get(sha1, use_cache=False)
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
            stored = self.store.get(sha1, use_cache=False)
            got = hashlib.sha1(stored).hexdigest()
            if got != sha1:
                return f"reads back with sha1 {got}"
        return None


class StoreReader:
    """Reads any `scheme://bucket/key` through the store configured for that scheme."""

    def __init__(self, stores: Mapping[str, ObjectStore]) -> None:
        self.stores = dict(stores)

    def size(self, store_fname: str) -> int:
        """The object's size from a HEAD, so memory budgets count it before it is read (rows whose
        file_size is NULL); 0 when the reference is invalid or missing (the read reports it)."""
        try:
            uri = parse_uri(store_fname)
        except InvalidKey:
            return 0
        store = self.stores.get(uri.scheme) if uri is not None else None
        if uri is None or store is None:
            return 0
        try:
            return store.head(uri.key, bucket=uri.bucket).size
        except ObjectNotFound:
            return 0

    def __call__(self, store_fname: str) -> bytes:
        try:
            uri = parse_uri(store_fname)
        except InvalidKey as exc:  # never sent to a store: the row keeps it, reported with why
            raise RowError(f"invalid object reference: {exc}") from None
        if uri is None:
            raise RowError(f"unreadable object reference {shown(store_fname)}")
        store = self.stores.get(uri.scheme)
        if store is None:
            raise StorageNotConfigured(f"no {uri.scheme} store is configured to read {store_fname}",
                                       scheme=uri.scheme, bucket=uri.bucket, key=uri.key)
        try:
            return store.get(uri.key, bucket=uri.bucket)
        except ObjectNotFound:
            raise MissingSource(f"missing object {store_fname}") from None
