"""statsd metrics variables (monitoring_statsd)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

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
    enabled = env.flag("ODOO_STATSD")
    form = "a metric name part: letters, digits, '_' or '-'"
    return StatsdSettings(
        enabled=enabled,
        customer=env.text("STATSD_CUSTOMER", required=enabled, pattern=NAME_PART,
                          expected=form + " (required when ODOO_STATSD is on)"),
        environment=env.text("STATSD_ENVIRONMENT", pattern=NAME_PART, expected=form),
        host=env.text("STATSD_HOST", "localhost"),
        port=env.port("STATSD_PORT", 8125),
    )
