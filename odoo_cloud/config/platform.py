"""cloud_platform variables.

`RUNNING_ENV` (then `ODOO_STAGE`) is read the way OCA `server_environment`
reads it, so that `odoo-cloud check` run in a container without Odoo judges
the same environment Odoo will run as.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
from ._parse import EnvReader

#: what `[a-z0-9]` names of projects, buckets and prefixes are made of
PROJECT_PATTERN = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
PROJECT_FORM = "a project name: lowercase letters, digits, '-' or '_', e.g. 'acme'"
STORAGE_CHOICES = ("s3", "swift")


@dataclass(frozen=True)
class PlatformSettings:
    unsafe: bool
    running_env: Optional[str]
    #: which variable `running_env` came from (None: unset, server_environment defaults to 'test')
    running_env_variable: Optional[str]
    #: expected `<project>` of every `<project>-odoo-<env>` name; None: derived from the names themselves
    project: Optional[str]
    #: which object store install() uses when both S3 and Swift are configured
    storage: Optional[str]
    #: bypass of the `<project>-odoo-<env>` check of ODOO_SESSION_REDIS_PREFIX
    redis_prefix_unstructured: bool


def read(env: EnvReader) -> PlatformSettings:
    running_env, variable = None, None
    for name in (V.RUNNING_ENV.name, *V.RUNNING_ENV.aliases):
        if env.is_set(name):
            running_env, variable = env.raw(name), name
            break
    return PlatformSettings(
        unsafe=env.bool(V.ODOO_CLOUD_PLATFORM_UNSAFE),
        running_env=running_env,
        running_env_variable=variable,
        project=env.str(V.ODOO_CLOUD_PLATFORM_PROJECT, pattern=PROJECT_PATTERN, expected=PROJECT_FORM),
        storage=env.choice(V.ODOO_CLOUD_PLATFORM_STORAGE, STORAGE_CHOICES),
        redis_prefix_unstructured=env.bool(V.ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED),
    )
