"""`odoo-cloud check` resolves the running environment exactly as OCA server_environment does.

One table of inputs (environment variables, the `running_env` line of the Odoo configuration file) is
resolved on both sides: by the CLI (`resolve_check_env`, what `check` judges) and by the real
server_environment of each Odoo series, imported in a subprocess of that series' venv (one fork per row:
server_environment resolves at import time). Both must give the same value, byte for byte.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from devstack.odoo import odoo_series
from odoo_cloud.cli import resolve_check_env
from odoo_cloud.config.platform import resolve_running_env
from tests.platform.test_platform_cli import run

REPO = Path(__file__).resolve().parents[2]
SERIES = {
    "18.0": (Path("/opt/odoo18"), REPO / ".venvs" / "odoo" / "bin" / "python"),
    "19.0": (Path("/opt/odoo19"), REPO / ".venvs" / "odoo19" / "bin" / "python"),
}
NO_LINE = object()  # the configuration file has no running_env line at all

#: (id, environment variables, running_env line of the config file or NO_LINE)
TABLE = [
    ("nothing", {}, NO_LINE),
    ("RUNNING_ENV", {"RUNNING_ENV": "prod"}, NO_LINE),
    ("ODOO_STAGE", {"ODOO_STAGE": "integration"}, NO_LINE),
    ("RUNNING_ENV wins", {"RUNNING_ENV": "dev", "ODOO_STAGE": "prod"}, NO_LINE),
    ("empty RUNNING_ENV hides ODOO_STAGE", {"RUNNING_ENV": "", "ODOO_STAGE": "prod"}, NO_LINE),
    ("empty ODOO_STAGE", {"ODOO_STAGE": ""}, NO_LINE),
    ("trailing blank kept", {"RUNNING_ENV": "prod "}, NO_LINE),
    ("blank only", {"RUNNING_ENV": " "}, NO_LINE),
    ("case kept", {"RUNNING_ENV": "PROD"}, NO_LINE),
    ("unknown", {"RUNNING_ENV": "staging"}, NO_LINE),
    ("unknown stage", {"ODOO_STAGE": "Prod"}, NO_LINE),
    ("config wins", {"RUNNING_ENV": "prod"}, "dev"),
    ("config stripped", {}, "  integration  "),
    ("empty config line", {"RUNNING_ENV": "integration"}, ""),
    ("config unknown", {"ODOO_STAGE": "prod"}, "staging"),
    ("config with empty RUNNING_ENV", {"RUNNING_ENV": ""}, "prod"),
]

#: resolves each row with the real server_environment: reads [[environ, config_path], ...] on stdin
ODOO_SIDE = textwrap.dedent("""
    import json, os, sys
    rows = json.load(sys.stdin)
    root = sys.argv[1]
    import odoo
    from odoo.tools import config
    config.parse_config([f"--addons-path={root}/odoo/addons"])
    from odoo.modules import module
    module.initialize_sys_path()
    import odoo.models, odoo.fields, odoo.api  # noqa: the fork below only resolves
    out = []
    for environ, path in rows:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            for name in ("RUNNING_ENV", "ODOO_STAGE", "ODOO_RC"):
                os.environ.pop(name, None)
            os.environ.update(environ)
            config.parse_config([f"--addons-path={root}/odoo/addons", "-c", path])
            import odoo.addons.server_environment.server_env  # noqa: resolves at import
            os.write(write, json.dumps(repr(config["running_env"])).encode())
            os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.waitpid(pid, 0)
        out.append(json.loads(data) if data else "child failed")
    print(json.dumps(out))
""")


def _config_file(tmp_path: Path, name: str, line) -> Path:
    path = tmp_path / f"{name.replace(' ', '_')}.conf"
    body = "[options]\ndb_host = localhost\n"
    if line is not NO_LINE:
        body += f"running_env = {line}\n"
    path.write_text(body)
    return path


def _server_environment(series: str, rows: list[tuple[dict, str]]) -> list[str]:
    root, python = SERIES[series]
    if odoo_series(root) != series or not python.exists():
        pytest.skip(f"no Odoo {series} with server_environment to compare with ({root}, {python})")
    proc = subprocess.run([str(python), "-c", ODOO_SIDE, str(root)], input=json.dumps(rows),
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cli(environ: dict, path: Path) -> str:
    args = argparse.Namespace(env=None, config=str(path))
    return repr(resolve_check_env(args, environ).value)


@pytest.mark.parametrize("series", sorted(SERIES))
def test_check_resolves_every_row_like_the_real_server_environment(series, tmp_path):
    rows = [(environ, str(_config_file(tmp_path, name, line))) for name, environ, line in TABLE]
    odoo_side = _server_environment(series, rows)
    ours = [_cli(environ, Path(path)) for environ, path in rows]
    rows_compared = zip(TABLE, odoo_side, ours, strict=True)
    mismatches = [(name, theirs, mine) for (name, _, _), theirs, mine in rows_compared if theirs != mine]
    assert not mismatches, f"odoo-cloud check and server_environment {series} disagree: {mismatches}"
    # the table exercises the cases that matter (guards against a table where everything is 'test')
    assert {"'test'", "'prod'", "'prod '", "'PROD'", "'dev'"} <= set(odoo_side)


def test_boolean_looking_config_values_differ_between_series_and_check_refuses_them(tmp_path):
    rows = [({"RUNNING_ENV": "prod"}, str(_config_file(tmp_path, value, value)))
            for value in ("false", "True")]
    answers = {series: _server_environment(series, rows) for series in sorted(SERIES)}
    assert answers["18.0"] != answers["19.0"], answers  # 18: False -> 'prod', True; 19: the text
    for _, path in rows:
        result = run("check", "-c", path, env={"RUNNING_ENV": "prod"})
        assert result.returncode == 2, result
        assert "running_env in" in result.stderr and "one of prod, integration, test, dev" in result.stderr


def test_empty_running_env_with_odoo_stage_prod_is_checked_as_test_with_a_note():
    result = run("check", env={"RUNNING_ENV": "", "ODOO_STAGE": "prod"})
    lines = result.stdout.splitlines()
    assert lines[0] == "running_env: test (default)", result.stdout
    assert any("RUNNING_ENV is set but empty" in line and "ODOO_STAGE='prod'" in line for line in lines)


def test_a_trailing_blank_is_an_unknown_environment_not_prod():
    result = run("check", env={"RUNNING_ENV": "prod "})
    assert result.returncode == 1
    assert "PROBLEM RUNNING_ENV='prod '" in result.stdout


def test_odoo_rc_is_the_configuration_file_when_no_c_is_given(tmp_path):
    conf = _config_file(tmp_path, "rc", "dev")
    result = run("check", env={"ODOO_RC": str(conf), "RUNNING_ENV": "prod"})
    assert result.stdout.splitlines()[0] == f"running_env: dev (running_env in {conf})", result.stdout


def test_monitoring_statsd_and_the_settings_use_the_same_resolution():
    environ = {"RUNNING_ENV": "", "ODOO_STAGE": "prod"}
    assert resolve_running_env(environ).value == "test"
    from odoo_cloud.config import load_settings

    settings = load_settings({**environ})
    assert settings.platform.running_env is None  # server_environment's default applies
