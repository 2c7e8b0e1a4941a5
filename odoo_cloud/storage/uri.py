"""`store_fname` values of object-stored attachments: `<scheme>://<bucket>/<key>`.

The bucket travels in every reference so that an environment can read objects
from a bucket it does not write (an integration copy reading prod's bucket).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

SCHEMES = ("s3", "swift")
_URI_RE = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]+)/(?P<key>.+)$")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class StoreUri:
    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return format_uri(self.scheme, self.bucket, self.key)


def format_uri(scheme: str, bucket: str, key: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown object-store scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if not bucket or "/" in bucket:
        raise ValueError(f"invalid bucket/container name {bucket!r}")
    if not key:
        raise ValueError("empty object key")
    return f"{scheme}://{bucket}/{key}"


def parse_uri(store_fname: Optional[str]) -> Optional[StoreUri]:
    """The parsed reference, or None for anything that is not an object-store URI
    (local filestore names like `ab/abcdef…`, empty values)."""
    if not store_fname:
        return None
    match = _URI_RE.match(store_fname)
    if not match or match["scheme"] not in SCHEMES:
        return None
    return StoreUri(match["scheme"], match["bucket"], match["key"])


def is_object_uri(store_fname: Optional[str]) -> bool:
    return parse_uri(store_fname) is not None


def is_sha1(key: str) -> bool:
    return bool(_SHA1_RE.match(key))


def bucket_for_db(template: str, dbname: Optional[str]) -> str:
    """Replace `{db}` by the database name; a template with `{db}` needs one.

    Only `{db}` is a placeholder: other braces are kept as typed (str.format
    would choke on them or, worse, interpret them).
    """
    if "{db}" not in template:
        return template
    if not dbname:
        raise ValueError(f"bucket/container name {template!r} contains {{db}} but no database name is known")
    return template.replace("{db}", dbname)
