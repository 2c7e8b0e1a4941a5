"""Every exception class of odoo_cloud has one root and exactly one meaning (odoo_cloud.errors)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import odoo_cloud
from odoo_cloud import errors
from odoo_cloud.errors import MEANINGS, OdooCloudError

#: family bases: group one area's errors for callers, carry no meaning, never raised as is
FAMILIES = {"odoo_cloud.storage.errors.StorageError", "odoo_cloud.storage.migration.errors.MigrationAborted"}
#: private control-flow signals that never leave their module (each caught right where it is raised)
PRIVATE_SIGNALS = {"odoo_cloud.sessions.codec._NotPlainJSON", "odoo_cloud.masking._NotATree"}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(odoo_cloud.__path__, "odoo_cloud."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


CLASSES = _exception_classes()
ROOT_AND_MEANINGS = {f"odoo_cloud.errors.{cls.__name__}" for cls in (OdooCloudError, *MEANINGS)}


def test_the_walk_finds_the_known_errors():
    for name in ("odoo_cloud.storage.errors.StorageUnavailable", "odoo_cloud.config._parse.ConfigError",
                 "odoo_cloud.sessions.errors.SessionStoreUnavailable", "odoo_cloud.preflight.ProbeFailed",
                 "odoo_cloud.storage.ownership.OwnershipRefused", *FAMILIES, *PRIVATE_SIGNALS):
        assert name in CLASSES


@pytest.mark.parametrize("name", sorted(set(CLASSES) - ROOT_AND_MEANINGS - PRIVATE_SIGNALS))
def test_every_error_derives_from_the_root_and_exactly_one_meaning(name):
    cls = CLASSES[name]
    assert issubclass(cls, OdooCloudError), f"{name} is not an OdooCloudError"
    meanings = [meaning.__name__ for meaning in MEANINGS if issubclass(cls, meaning)]
    if name in FAMILIES:
        assert meanings == [], f"family {name} must carry no meaning, has {meanings}"
    else:
        assert len(meanings) == 1, f"{name} must have exactly one meaning, has {meanings}"


def test_private_signals_stay_private():
    for name in PRIVATE_SIGNALS:
        assert name.rsplit(".", 1)[1].startswith("_")


@pytest.mark.parametrize(("name", "meaning"), [
    ("odoo_cloud.storage.errors.ObjectNotFound", errors.NotFound),
    ("odoo_cloud.storage.errors.StorageDisabled", errors.Unavailable),
    ("odoo_cloud.storage.errors.InvalidKey", errors.Refused),
    ("odoo_cloud.storage.errors.StorageNotConfigured", errors.Misconfigured),
    ("odoo_cloud.environments.EnvironmentCheckError", errors.Misconfigured),
    ("odoo_cloud.storage.rules.RulesError", errors.Misconfigured),
    ("odoo_cloud.sessions.codec.CorruptSession", errors.DataIntegrity),
    ("odoo_cloud.storage.migration.errors.MissingSource", errors.DataIntegrity),
])
def test_each_error_has_the_meaning_callers_act_on(name, meaning):
    assert [m for m in MEANINGS if issubclass(CLASSES[name], m)] == [meaning]


def test_older_builtin_bases_are_kept_for_existing_callers():
    """`except ValueError` / `except RuntimeError` callers outside odoo_cloud keep catching these."""
    assert issubclass(CLASSES["odoo_cloud.config._parse.ConfigError"], ValueError)
    assert issubclass(CLASSES["odoo_cloud.storage.rules.RulesError"], ValueError)
    assert issubclass(CLASSES["odoo_cloud.storage.errors.InvalidKey"], ValueError)
    assert issubclass(CLASSES["odoo_cloud.sessions.codec.CorruptSession"], ValueError)
    assert issubclass(CLASSES["odoo_cloud.sessions.errors.SessionStoreUnavailable"], RuntimeError)
