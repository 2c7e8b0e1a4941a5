"""The core's client libraries are extras (`odoo-cloud[s3]`, `[swift]`, `[redis]`): without them the package
and its CLI import and run, and a check that needs one fails saying which extra to install.

A child interpreter is started with an import hook refusing exactly those libraries, as a venv without them
would (`pip install .` into a fresh venv is the same check, much slower, for a release).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tomllib

from odoo_cloud.extras import EXTRAS, missing_extra

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = sorted({*EXTRAS, "orjson"})
BLOCKER = f"""
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Absent())
"""


def run_without_extras(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AWS_", "SWIFT_", "ODOO_", "STATSD_"))}
    environ.update(env or {}, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", BLOCKER + code], env=environ, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_package_and_the_cli_import_without_any_client_library():
    proc = run_without_extras(
        "import odoo_cloud, odoo_cloud.cli, odoo_cloud.storage, odoo_cloud.storage.factory, "
        "odoo_cloud.storage.gc, odoo_cloud.environments, odoo_cloud.preflight, odoo_cloud.readiness\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_check_needing_a_missing_library_names_the_extra_and_is_not_a_crash():
    code = ("from odoo_cloud.cli import main\n"
            "sys.exit(main(['check', '--env', 'dev', '--connect', '--timeout', '2']))")
    s3 = run_without_extras(code, {"AWS_BUCKETNAME": "acme-odoo-dev", "AWS_HOST": "http://127.0.0.1:9"})
    assert s3.returncode == 3, s3.stdout + s3.stderr  # a probe failed, not 4 (a crash)
    assert "boto3 is not installed: pip install 'odoo-cloud[s3]'" in s3.stdout
    redis = run_without_extras(code, {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": "127.0.0.1",
                                      "ODOO_SESSION_REDIS_PORT": "9"})
    assert redis.returncode == 3, redis.stdout + redis.stderr
    assert "redis is not installed: pip install 'odoo-cloud[redis]'" in redis.stdout


def test_missing_extra_restates_only_the_libraries_of_an_extra():
    hint = missing_extra(ModuleNotFoundError("No module named 'botocore.config'", name="botocore.config"))
    assert str(hint) == "botocore is not installed: pip install 'odoo-cloud[s3]'"
    other = ModuleNotFoundError("No module named 'nothing_here'", name="nothing_here")
    assert missing_extra(other) is other
    error = ValueError("x")
    assert missing_extra(error) is error


def test_every_extra_of_the_map_is_declared_in_pyproject_and_no_client_library_is_required():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
    required = " ".join(project["dependencies"])
    for library in ("boto3", "swiftclient", "keystoneauth1", "keystoneclient", "redis", "orjson"):
        assert library not in required
    assert "keystoneclient" not in (ROOT / "requirements.txt").read_text()
