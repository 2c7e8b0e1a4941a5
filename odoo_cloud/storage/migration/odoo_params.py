"""Odoo system parameters the engine honours when it runs outside Odoo (CLI)."""
from __future__ import annotations

from ..rules import PARAMETER, parse_rules
from .db import Database


def keep_in_db_rules(db: Database) -> dict[str, int]:
    """`ir_attachment.storage.force.database` of this database, or the defaults (no such table/row)."""
    db.execute("SELECT to_regclass('ir_config_parameter') IS NOT NULL")
    exists = db.fetchone()
    if not exists or not exists[0]:
        return parse_rules(None)
    db.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (PARAMETER,))
    row = db.fetchone()
    db.rollback()
    return parse_rules(row[0] if row else None)
