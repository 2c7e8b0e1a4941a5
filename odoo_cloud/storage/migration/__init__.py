"""Attachment migration between the database, the local filestore and object storage.

Framework-free: works on SQL over a psycopg2 connection or an Odoo cursor, so CI tests it on a real
PostgreSQL ``ir_attachment`` table without Odoo. Entry points: `Engine` (library), the Odoo glue in
``base_attachment_object_storage`` and ``odoo-cloud migrate`` (`cli`).
"""
from .db import Database, NoCommitDatabase, PsycopgDatabase, connect
from .engine import Engine, Options
from .errors import MigrationAborted, MissingSource, RowError
from .filestore import Filestore
from .location import Location
from .report import Failure, Report

__all__ = [
    "Database", "Engine", "Failure", "Filestore", "Location", "MigrationAborted", "MissingSource",
    "NoCommitDatabase", "Options", "PsycopgDatabase", "Report", "RowError", "connect",
]
