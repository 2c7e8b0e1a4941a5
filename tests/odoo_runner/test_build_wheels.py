"""scripts/build_wheels.py: one addon wheel per Odoo series, its metadata pinning that series.

The manifest rewrite is checked on text; one real whool build per series (cloud_platform, which depends on
OCA server_environment and on our other addons) checks the METADATA a deployment's pip would read.
"""
from __future__ import annotations

import ast
import importlib.util
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_wheels_script", ROOT / "scripts" / "build_wheels.py")
build_wheels = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = build_wheels
_spec.loader.exec_module(build_wheels)

MANIFEST = '''# License LGPL-3.0 or later
{
    "name": "X",
    "summary": "version 1.0.0 in a summary is not the version",
    'version': '1.0.0',
    "depends": ["base", "server_environment"],
}
'''


def test_the_manifest_version_gets_the_series_prefix_and_nothing_else_changes():
    out = build_wheels.series_manifest(MANIFEST, "19.0")
    assert ast.literal_eval(out)["version"] == "19.0.1.0.0"
    assert out.replace("'19.0.1.0.0'", "'1.0.0'") == MANIFEST
    assert ast.literal_eval(build_wheels.series_manifest(MANIFEST, "18.0"))["version"] \
        == "18.0.1.0.0"


def test_a_version_naming_a_series_is_kept_for_that_series_and_refused_for_another():
    series18 = MANIFEST.replace("'1.0.0'", "'18.0.1.2.3'")
    assert build_wheels.series_manifest(series18, "18.0") == series18
    with pytest.raises(ValueError, match=r"names another series than 19\.0"):
        build_wheels.series_manifest(series18, "19.0")
    with pytest.raises(ValueError, match=r"not x\.y\.z"):
        build_wheels.series_manifest(MANIFEST.replace("'1.0.0'", "'1.0'"), "19.0")
    with pytest.raises(ValueError, match="found 2"):
        build_wheels.series_manifest(MANIFEST + "{'version': '1.0.0'}", "19.0")


def test_every_packaged_addon_is_found_through_setup():
    names = [path.name for path in build_wheels.addon_dirs()]
    assert "cloud_platform" in names and "session_redis" in names
    assert names == sorted(p.name for p in (ROOT / "setup").iterdir() if (p / "__manifest__.py").exists())


@pytest.fixture(scope="module")
def wheels_by_series(tmp_path_factory) -> dict[str, Path]:
    """cloud_platform built for each series by the real backend (whool, fetched by pip's build isolation)."""
    built = {}
    for series in build_wheels.SUPPORTED_SERIES:
        work = tmp_path_factory.mktemp(f"work-{series}")
        dist = tmp_path_factory.mktemp(f"dist-{series}")
        addon = ROOT / "cloud_platform"
        copy = work / addon.name
        shutil.copytree(addon, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        manifest = copy / "__manifest__.py"
        manifest.write_text(build_wheels.series_manifest(manifest.read_text(), series))
        build_wheels.pip_wheel(copy, dist)
        [wheel] = dist.glob("*.whl")
        built[series] = wheel
    return built


@pytest.mark.slow
@pytest.mark.parametrize("series", ["18.0", "19.0"])
def test_cloud_platform_wheel_requires_odoo_and_server_environment_of_its_series(wheels_by_series, series):
    wheel = wheels_by_series[series]
    assert wheel.name == f"odoo_addon_cloud_platform-{series}.1.0.0-py3-none-any.whl"
    metadata = build_wheels.wheel_metadata(wheel)
    requires = {value.split("=", 1)[0].rstrip("<>!~"): value
                for key, value in metadata if key == "Requires-Dist"}
    assert requires["odoo"] == f"odoo=={series}.*"
    assert requires["odoo-addon-server_environment"] == f"odoo-addon-server_environment=={series}.*"
    assert requires["odoo-addon-session_redis"] == f"odoo-addon-session_redis=={series}.*"
    assert "odoo-cloud" in requires
    assert build_wheels.check_series(wheel, series) == []
    assert ("Description-Content-Type", "text/x-rst") in metadata  # README.rst is the long description
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("odoo/addons/cloud_platform/__manifest__.py").decode()
    assert ast.literal_eval(shipped)["version"] == f"{series}.1.0.0"


@pytest.mark.slow
def test_the_metadata_check_refuses_a_wheel_of_another_series(wheels_by_series):
    problems = build_wheels.check_series(wheels_by_series["18.0"], "19.0")
    assert any("odoo==18.0.* does not pin series 19.0" in problem for problem in problems)
    assert any("odoo-addon-server_environment==18.0.*" in problem for problem in problems)
