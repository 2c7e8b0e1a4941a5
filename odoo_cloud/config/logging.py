"""JSON logging variables (logging_json)."""
from __future__ import annotations

from dataclasses import dataclass

from . import variables as V
from ._parse import EnvReader


@dataclass(frozen=True)
class LoggingSettings:
    json: bool


def read(env: EnvReader) -> LoggingSettings:
    return LoggingSettings(json=env.flag(V.ODOO_LOGGING_JSON))
