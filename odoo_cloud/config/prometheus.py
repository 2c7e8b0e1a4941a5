"""Prometheus exposition variables (monitoring_prometheus)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
from ._parse import EnvReader

DEFAULT_PORT = V.ODOO_PROMETHEUS_PORT.default
DEFAULT_INTERFACE = V.ODOO_PROMETHEUS_INTERFACE.default
INTERFACE_FORM = "an IP address to listen on, e.g. 0.0.0.0 or 127.0.0.1"


@dataclass(frozen=True)
class PrometheusSettings:
    enabled: bool = False
    port: int = DEFAULT_PORT
    interface: str = DEFAULT_INTERFACE
    #: prometheus_client's multiprocess directory; None: a fresh one under the system temp directory
    multiproc_dir: Optional[str] = None


def read(env: EnvReader) -> PrometheusSettings:
    return PrometheusSettings(
        enabled=env.flag(V.ODOO_PROMETHEUS),
        port=env.port(V.ODOO_PROMETHEUS_PORT),
        interface=env.text(V.ODOO_PROMETHEUS_INTERFACE,
                          pattern=r"[0-9A-Fa-f:.]{2,45}", expected=INTERFACE_FORM),
        multiproc_dir=env.text(V.PROMETHEUS_MULTIPROC_DIR, pattern=r"/.{0,4095}",
                              expected="an absolute directory path"),
    )
