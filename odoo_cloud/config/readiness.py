"""Readiness-probe variables (monitoring_readiness, `odoo-cloud check --connect`)."""
from __future__ import annotations

from dataclasses import dataclass

from . import variables as V
from ._parse import EnvReader

DEFAULT_TIMEOUT = V.ODOO_READINESS_TIMEOUT.default
DEFAULT_CACHE_SECONDS = V.ODOO_READINESS_CACHE_SECONDS.default
MAX_TIMEOUT = 60.0
MAX_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class ReadinessSettings:
    #: seconds each dependency check may take before it counts as failed ("timeout")
    timeout: float = DEFAULT_TIMEOUT
    #: seconds a process reuses its last results: a probe storm costs one round of checks per interval
    cache_seconds: float = DEFAULT_CACHE_SECONDS


def read(env: EnvReader) -> ReadinessSettings:
    timeout = env.number(V.ODOO_READINESS_TIMEOUT, minimum=0.001,
                        expected=f"a number of seconds > 0 and <= {MAX_TIMEOUT:g}, e.g. 2")
    if timeout > MAX_TIMEOUT:
        env.problem(V.ODOO_READINESS_TIMEOUT, str(timeout), f"a number of seconds > 0 and <= {MAX_TIMEOUT:g}")
        timeout = DEFAULT_TIMEOUT
    cache = env.number(V.ODOO_READINESS_CACHE_SECONDS, minimum=0.0,
                      expected=f"a number of seconds >= 0 and <= {MAX_CACHE_SECONDS:g}, e.g. 2")
    if cache > MAX_CACHE_SECONDS:
        env.problem(V.ODOO_READINESS_CACHE_SECONDS, str(cache),
                    f"a number of seconds >= 0 and <= {MAX_CACHE_SECONDS:g}")
        cache = DEFAULT_CACHE_SECONDS
    return ReadinessSettings(timeout=timeout, cache_seconds=cache)
