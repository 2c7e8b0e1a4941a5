"""Where attachments should end up, and the SQL that tells which rows are not there yet.

Progress is derived from the data: a row is pending exactly when this predicate holds, so a run killed
at any moment resumes by asking the same question again (no side file to go stale).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from ..rules import DEFAULT_RULES as DEFAULT_KEEP_IN_DB

DB = "db"
FILE = "file"
OBJECT = "object"

@dataclass(frozen=True)
class Location:
    """The target of a migration: the database, the local filestore, or one bucket/container.

    `uri_prefix` is what every store_fname in that bucket starts with (``s3://bucket/``); rows whose
    content matches `keep_in_db` (mimetype prefix -> max size, 0 = any size) belong in the database when
    the target is an object store, as they would when written by Odoo.
    """

    kind: str
    uri_prefix: str = ""
    keep_in_db: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (DB, FILE, OBJECT):
            raise ValueError(f"unknown location kind {self.kind!r}: expected db, file or object")
        if self.kind == OBJECT and "://" not in self.uri_prefix:
            raise ValueError("an object location needs a uri prefix like s3://bucket/, "
                             f"got {self.uri_prefix!r}")

    @classmethod
    def db(cls) -> Location:
        return cls(DB)

    @classmethod
    def file(cls) -> Location:
        return cls(FILE)

    @classmethod
    def object(cls, uri_prefix: str, keep_in_db: Optional[Mapping[str, int]] = None) -> Location:
        if not uri_prefix.endswith("/"):
            uri_prefix += "/"
        rules = DEFAULT_KEEP_IN_DB if keep_in_db is None else keep_in_db
        return cls(OBJECT, uri_prefix, dict(rules))

    def __str__(self) -> str:
        return self.uri_prefix.rstrip("/") if self.kind == OBJECT else self.kind


# -- SQL -----------------------------------------------------------------------------------------------
# Odoo writes empty content as db_datas NULL; octet_length() reads the TOAST header, not the value.
IN_DB_WITH_CONTENT = "(store_fname IS NULL AND octet_length(db_datas) > 0)"
SIZE = "coalesce(file_size, octet_length(db_datas), 0)"


def keep_in_db_sql(location: Location) -> tuple[str, list[object]]:
    """SQL boolean: the row's content must live in the database at this location."""
    if location.kind == DB:
        return "TRUE", []
    if location.kind == FILE or not location.keep_in_db:
        return "FALSE", []
    # the same decision as rules.keep_in_database(): the longest matching prefix wins
    rules = location.keep_in_db
    parts: list[str] = []
    params: list[object] = []
    for prefix, max_size in sorted(rules.items()):
        clause = ["starts_with(coalesce(mimetype, ''), %s)"]
        params.append(prefix)
        for longer in sorted(q for q in rules if q != prefix and q.startswith(prefix)):
            clause.append("NOT starts_with(coalesce(mimetype, ''), %s)")
            params.append(longer)
        if max_size:
            clause.append(f"{SIZE} <= %s")
            params.append(int(max_size))
        parts.append("(" + " AND ".join(clause) + ")")
    return "(" + " OR ".join(parts) + ")", params


def pending_sql(location: Location) -> tuple[str, list[object]]:
    """SQL boolean: this binary row is not yet where `location` wants it."""
    if location.kind == DB:
        return "(store_fname IS NOT NULL)", []
    if location.kind == FILE:
        return f"({IN_DB_WITH_CONTENT} OR store_fname LIKE '%%://%%')", []
    keep, params = keep_in_db_sql(location)
    sql = (
        f"(CASE WHEN {keep} THEN store_fname IS NOT NULL"
        f" ELSE {IN_DB_WITH_CONTENT} OR (store_fname IS NOT NULL AND NOT starts_with(store_fname, %s)) END)"
    )
    return sql, [*params, location.uri_prefix]
