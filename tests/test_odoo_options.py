"""Odoo 19 reads ``ODOO_<OPTION>`` variables as its configuration: ours must not collide with them except
where the meaning is the same, ODOO_DATA_DIR must mean the same directory to both, and `odoo-cloud check`
knows the ones it meets. The Odoo side is a real Odoo 19 (a subprocess of .venvs/odoo19)."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.config._parse import EnvReader
from odoo_cloud.config.odoo_options import ODOO19_OPTION_VARIABLES, SHARED_WITH_ODOO, read
from tests.platform.test_platform_cli import run

REPO = Path(__file__).resolve().parents[1]
ODOO19 = Path("/opt/odoo19")
ODOO19_PYTHON = REPO / ".venvs" / "odoo19" / "bin" / "python"

#: prints [sorted env names of every option, data_dir for each environment given on stdin]
ODOO_SIDE = textwrap.dedent("""
    import json, os, sys
    rows = json.load(sys.stdin)
    from odoo.tools.config import config
    names = sorted(o.env_name for o in config.options_index.values() if getattr(o, "env_name", None))
    dirs = []
    for environ in rows:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.environ.pop("ODOO_DATA_DIR", None)
            os.environ.pop("XDG_DATA_HOME", None)
            os.environ.update(environ)
            config._load_default_options()
            config.parse_config([])
            os.write(write, json.dumps(config["data_dir"]).encode())
            os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.waitpid(pid, 0)
        dirs.append(json.loads(data) if data else "child failed")
    print(json.dumps([names, dirs]))
""")


def _odoo19(rows: list[dict], home: Path) -> tuple[list[str], list[str]]:
    if not ODOO19_PYTHON.exists() or not (ODOO19 / "odoo" / "release.py").exists():
        pytest.skip(f"no Odoo 19 to compare with ({ODOO19}, {ODOO19_PYTHON})")
    proc = subprocess.run([str(ODOO19_PYTHON), "-c", ODOO_SIDE], input=json.dumps(rows), capture_output=True,
                          text=True, timeout=300, check=False, cwd=str(home),
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(ODOO19)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    names, dirs = json.loads(proc.stdout.strip().splitlines()[-1])
    return names, dirs


def test_our_list_of_odoo19_option_variables_is_odoo19s(tmp_path):
    names, _ = _odoo19([], tmp_path)
    assert set(names) == ODOO19_OPTION_VARIABLES


def _documented_variables() -> set[str]:
    """First column of README's variable table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Environment variables"):]
    names = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    assert len(names) > 40, names
    return names


def _variables_our_code_reads() -> set[str]:
    """Every ALL_CAPS string literal of the core and the addons that looks like a variable name (except in
    config/odoo_options.py, which reads Odoo's own options as Odoo's, to check them)."""
    names = set()
    sources = [*REPO.glob("odoo_cloud/**/*.py"), *REPO.glob("*/[!t]*.py"), *REPO.glob("*/models/*.py")]
    for path in (p for p in sources if p.name != "odoo_options.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"(ODOO|PG)[A-Z0-9_]*", node.value):
                names.add(node.value)
    return names


def test_no_variable_of_ours_collides_with_an_odoo19_option_unless_the_meaning_agrees():
    documented, read_by_code = _documented_variables(), _variables_our_code_reads()
    assert {"ODOO_LOGGING_JSON", "ODOO_STATSD", "ODOO_RC"} <= read_by_code  # the scan finds what we read
    collisions = (documented | read_by_code) & ODOO19_OPTION_VARIABLES
    assert collisions <= set(SHARED_WITH_ODOO), sorted(collisions - set(SHARED_WITH_ODOO))
    assert "ODOO_DATA_DIR" in documented & ODOO19_OPTION_VARIABLES  # the one the issue names


def test_odoo_data_dir_means_the_same_directory_to_odoo19_and_to_us(tmp_path, monkeypatch):
    rows = [{}, {"XDG_DATA_HOME": str(tmp_path / "xdg")}, {"ODOO_DATA_DIR": "/srv/odoo-data"},
            {"ODOO_DATA_DIR": "~/odoo-data"}, {"ODOO_DATA_DIR": "$HOME/from-var"},
            {"ODOO_DATA_DIR": "relative/dir"}, {"ODOO_DATA_DIR": "  /padded/dir  "},
            {"ODOO_DATA_DIR": "/a/../b/"}]
    _, theirs = _odoo19(rows, tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ours = []
    for environ in rows:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        ours.append(read(EnvReader(environ)).data_dir)
    assert ours == theirs


def test_an_empty_odoo_data_dir_is_refused_naming_the_variable():
    with pytest.raises(ConfigError, match=r"ODOO_DATA_DIR=' '.*absolute directory"):
        load_settings({"ODOO_DATA_DIR": " "})


def test_check_validates_and_reports_the_odoo_options_it_meets():
    result = run("check", "--env", "dev", env={"ODOO_WORKERS": "four", "ODOO_DATA_DIR": ""})
    assert result.returncode == 1
    assert "PROBLEM ODOO_WORKERS='four': expected an integer >= 0" in result.stdout
    assert "PROBLEM ODOO_DATA_DIR=''" in result.stdout
    result = run("check", "--env", "dev", env={
        "ODOO_WORKERS": "4", "ODOO_DATA_DIR": "/srv/odoo", "ODOO_ADMIN_PASSWD": "s3cret-admin",
        "ODOO_SESSION_REDIS": "1", "ODOO_SERVER_WIDE_MODULES": "base,web"})
    assert result.returncode == 0, result.stdout
    assert "Odoo 19 reads these variables as its own options" in result.stdout
    assert "ODOO_WORKERS='4'" in result.stdout and "ODOO_ADMIN_PASSWD" in result.stdout
    assert "s3cret-admin" not in result.stdout + result.stderr
    assert "data_dir of Odoo 19 and of odoo-cloud migrate: /srv/odoo" in result.stdout
    assert "ODOO_SERVER_WIDE_MODULES lacks session_redis" in result.stdout
