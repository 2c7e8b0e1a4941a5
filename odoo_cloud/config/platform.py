"""cloud_platform variables, and the running environment resolved exactly as OCA `server_environment` does.

`resolve_running_env` is a transcription of server_environment's ``_load_running_env`` (18.0 and 19.0
are identical there, ``server_env.py``):

    if not config.get("running_env"):
        value = os.environ.get("RUNNING_ENV", os.environ.get("ODOO_STAGE"))
        config["running_env"] = value if value else "test"

so a *set but empty* ``RUNNING_ENV`` hides ``ODOO_STAGE`` (Odoo runs ``test``), values are taken byte for
byte (``"prod "`` and ``"PROD"`` are not ``prod``: the rules refuse them as unknown) and the
``running_env`` option of the Odoo configuration file wins when it is non-empty. `odoo-cloud check`,
monitoring_statsd and the settings below all call it, so a pre-flight check can never judge another
environment than the one Odoo will run as (tests/platform/test_running_env.py compares both on a table).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ..storage.backends import SCHEMES
from . import variables as V
from ._parse import EnvReader

#: what `[a-z0-9]` names of projects, buckets and prefixes are made of
PROJECT_PATTERN = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
PROJECT_FORM = "a project name: lowercase letters, digits, '-' or '_', e.g. 'acme'"
#: the stores ODOO_CLOUD_PLATFORM_STORAGE may name: every backend's scheme (storage/backends.py)
STORAGE_CHOICES = SCHEMES


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


#: server_environment's fallback when neither the config option nor a variable gives a value
DEFAULT_RUNNING_ENV = "test"
DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class RunningEnv:
    """The running environment Odoo will run as, and where it came from."""

    #: exactly what server_environment puts in ``config['running_env']`` (possibly an unknown name)
    value: Any
    #: ``config_label`` (the config file option), ``RUNNING_ENV``, ``ODOO_STAGE`` or ``default``
    source: str
    #: why a set variable was not used (e.g. an empty RUNNING_ENV hiding ODOO_STAGE), else None
    note: Optional[str] = None


def resolve_running_env(environ: Mapping[str, str], config_value: Any = None,
                        config_label: str = "running_env") -> RunningEnv:
    """server_environment's resolution: a truthy `config_value` (the ``running_env`` option as Odoo
    parsed it), else ``RUNNING_ENV`` if present, else ``ODOO_STAGE``, used only when truthy, else ``test``."""
    if config_value:
        return RunningEnv(config_value, config_label)
    value: Optional[str]
    running_env, stage = V.RUNNING_ENV.name, V.ODOO_STAGE.name
    if running_env in environ:
        value, source = environ[running_env], running_env
    else:
        value, source = environ.get(stage), stage
    if value:
        return RunningEnv(value, source)
    note = None
    if source == running_env and environ.get(stage):
        note = (f"RUNNING_ENV is set but empty: server_environment then ignores ODOO_STAGE="
                f"{environ[stage]!r} and runs as {DEFAULT_RUNNING_ENV!r} "
                "(unset RUNNING_ENV to use ODOO_STAGE)")
    return RunningEnv(DEFAULT_RUNNING_ENV, DEFAULT_SOURCE, note)


def read(env: EnvReader) -> PlatformSettings:
    resolved = resolve_running_env(env.environ)
    running_env, variable = (None, None) if resolved.source == DEFAULT_SOURCE else (resolved.value,
                                                                                    resolved.source)
    return PlatformSettings(
        unsafe=env.flag(V.ODOO_CLOUD_PLATFORM_UNSAFE),
        running_env=running_env,
        running_env_variable=variable,
        project=env.text(V.ODOO_CLOUD_PLATFORM_PROJECT, pattern=PROJECT_PATTERN, expected=PROJECT_FORM),
        storage=env.choice(V.ODOO_CLOUD_PLATFORM_STORAGE, STORAGE_CHOICES),
        redis_prefix_unstructured=env.flag(V.ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED),
    )
