"""cloud_platform variables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ._parse import EnvReader


@dataclass(frozen=True)
class PlatformSettings:
    unsafe: bool
    running_env: Optional[str]


def read(env: EnvReader) -> PlatformSettings:
    return PlatformSettings(
        unsafe=env.bool("ODOO_CLOUD_PLATFORM_UNSAFE"),
        running_env=env.str("RUNNING_ENV"),
    )
