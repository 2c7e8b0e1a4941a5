"""Typed, immutable settings read from the process environment.

One reader is shared by every section so that one start-up reports every bad
variable at once (see `ConfigError`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from ..masking import mask_url
from . import logging as _logging
from . import odoo_options as _odoo_options
from . import platform as _platform
from . import prometheus as _prometheus
from . import readiness as _readiness
from . import s3 as _s3
from . import sessions as _sessions
from . import statsd as _statsd
from . import storage as _storage
from . import swift as _swift
from ._parse import ConfigError, EnvReader, Problem, Secret
from .logging import LoggingSettings
from .odoo_options import OdooOptionSettings
from .platform import PlatformSettings
from .prometheus import PrometheusSettings
from .readiness import ReadinessSettings
from .s3 import S3Settings
from .sessions import SessionSettings
from .statsd import StatsdSettings
from .storage import StorageSettings
from .swift import SwiftSettings

__all__ = [
    "ConfigError", "EnvReader", "LoggingSettings", "OdooOptionSettings", "PlatformSettings", "Problem",
    "PrometheusSettings", "ReadinessSettings", "S3Settings", "Secret", "SessionSettings", "Settings",
    "StatsdSettings", "StorageSettings", "SwiftSettings", "load_settings", "mask_url",
]


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    s3: S3Settings
    swift: SwiftSettings
    sessions: SessionSettings
    logging: LoggingSettings
    statsd: StatsdSettings
    platform: PlatformSettings
    readiness: ReadinessSettings = field(default_factory=ReadinessSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    #: Odoo's own options met in the environment (Odoo 19 reads ODOO_<OPTION>)
    odoo_options: OdooOptionSettings = field(default_factory=OdooOptionSettings)


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read every section; raise one `ConfigError` listing all problems."""
    env = EnvReader(os.environ if environ is None else environ)
    settings = Settings(
        storage=_storage.read(env),
        s3=_s3.read(env),
        swift=_swift.read(env),
        sessions=_sessions.read(env),
        logging=_logging.read(env),
        statsd=_statsd.read(env),
        platform=_platform.read(env),
        readiness=_readiness.read(env),
        prometheus=_prometheus.read(env),
        odoo_options=_odoo_options.read(env),
    )
    env.raise_if_problems()
    return settings
