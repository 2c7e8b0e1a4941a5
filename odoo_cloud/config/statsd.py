"""statsd metrics variables (monitoring_statsd)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
from ._parse import EnvReader

NAME_PART = r"[A-Za-z0-9_-]+"


@dataclass(frozen=True)
class StatsdSettings:
    enabled: bool
    customer: Optional[str]
    environment: Optional[str]
    host: str
    port: int


def read(env: EnvReader) -> StatsdSettings:
    enabled = env.flag(V.ODOO_STATSD)
    form = "a metric name part: letters, digits, '_' or '-'"
    return StatsdSettings(
        enabled=enabled,
        customer=env.text(V.STATSD_CUSTOMER, required=enabled, pattern=NAME_PART,
                         expected=form + " (required when ODOO_STATSD is on)"),
        environment=env.text(V.STATSD_ENVIRONMENT, pattern=NAME_PART, expected=form),
        host=env.text(V.STATSD_HOST),
        port=env.port(V.STATSD_PORT),
    )
