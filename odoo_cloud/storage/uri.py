"""`store_fname` values of object-stored attachments: `<scheme>://<bucket>/<key>`.

The bucket travels in every reference so that an environment can read objects
from a bucket it does not write (an integration copy reading prod's bucket).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .backends import SCHEMES
from .errors import InvalidKey
from .keys import shown, validate_bucket, validate_key

_SCHEME_PREFIXES = tuple(f"{scheme}://" for scheme in SCHEMES)


@dataclass(frozen=True)
class StoreUri:
    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return format_uri(self.scheme, self.bucket, self.key)


def format_uri(scheme: str, bucket: str, key: str) -> str:
    """`scheme://bucket/key`; ValueError (InvalidKey for the bucket or key) for a part that is not valid."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown object-store scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    validate_bucket(bucket)
    validate_key(key)
    return f"{scheme}://{bucket}/{key}"


def has_object_scheme(store_fname: Optional[str | bool]) -> bool:
    """True when `store_fname` claims to be an object-store reference (`s3://`, `swift://`), valid or not.

    Odoo gives `False` (not None) for a row without a file (content kept in the database)."""
    return isinstance(store_fname, str) and store_fname.startswith(_SCHEME_PREFIXES)


def parse_uri(store_fname: Optional[str | bool]) -> Optional[StoreUri]:
    """The parsed reference; None for what is not an object-store reference (local filestore names
    like `ab/abcdef…`, other schemes, empty values).

    A reference with an object-store scheme whose bucket or key is not valid (`s3://a/../b/k`,
    `swift://../x/k`, a control character...) raises InvalidKey: it must never reach a client, nor
    be mistaken for a local file name.
    """
    if not isinstance(store_fname, str) or not store_fname.startswith(_SCHEME_PREFIXES):
        return None
    scheme, _, rest = store_fname.partition("://")
    bucket, slash, key = rest.partition("/")
    if not slash:
        raise InvalidKey(f"object reference {shown(store_fname)} has no key (expected {scheme}://bucket/key)",
                         scheme=scheme)
    try:
        validate_bucket(bucket)
        validate_key(key)
    except InvalidKey as exc:
        exc.scheme = scheme
        raise
    return StoreUri(scheme, bucket, key)


def is_object_uri(store_fname: Optional[str | bool]) -> bool:
    """True for a valid object-store reference (False for local names and for invalid references)."""
    try:
        return parse_uri(store_fname) is not None
    except InvalidKey:
        return False


def like_prefix(prefix: str) -> str:
    """A SQL LIKE pattern matching every `store_fname` that starts with `prefix` literally.

    `_`, `%` and the escape character itself are ordinary characters of bucket names and prefixes
    (`acme_odoo_prod`): unescaped, `_` would match any character and select another bucket's rows.
    PostgreSQL's default LIKE escape is the backslash.
    """
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
