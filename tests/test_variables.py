"""The environment-variable registry (odoo_cloud/config/variables.py) drives the readers and the
documentation: the generated tables match it, every variable the readers read is declared, and a
reader disagreeing with a declaration fails."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from odoo_cloud.config import EnvReader, load_settings, variables
from odoo_cloud.config.odoo_options import ODOO19_OPTION_VARIABLES, SHARED_WITH_ODOO

REPO = Path(__file__).resolve().parents[1]


class RecordingEnviron(dict):
    """An environment that remembers every name looked up."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, name, default=None):
        self.asked.add(name)
        return super().get(name, default)

    def __contains__(self, name) -> bool:  # `"RUNNING_ENV" in environ` reads it (server_environment)
        self.asked.add(name)
        return super().__contains__(name)

    def __getitem__(self, name):
        self.asked.add(name)
        return super().__getitem__(name)


def test_generated_tables_are_up_to_date():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_docs.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert variables.stale() == []


def test_check_mode_fails_on_a_hand_edited_table(tmp_path):
    for path in variables.documents(REPO):
        copy = tmp_path / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    assert variables.stale(tmp_path) == []
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("| 300 |", "| 600 |"), encoding="utf-8")
    s3 = tmp_path / "attachment_s3" / "readme" / "CONFIGURE.md"
    added = "| `AWS_NEW` | — | x |\n" + variables.END
    s3.write_text(s3.read_text(encoding="utf-8").replace(variables.END, added), encoding="utf-8")
    assert variables.stale(tmp_path) == [readme, s3]
    assert variables.write(tmp_path) == [readme, s3]
    assert variables.stale(tmp_path) == []


def test_a_file_without_markers_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="markers"):
        variables.render("| Variable |\n", "table", tmp_path / "README.md")


def test_every_variable_read_is_declared_and_every_declared_one_is_read():
    environ = RecordingEnviron()
    load_settings(environ)
    declared = set(variables.BY_NAME) | set(variables.ALIASES)
    # Odoo 19's own options, read to check them as Odoo would (config/odoo_options.py), are Odoo's, not ours
    odoo_options = ODOO19_OPTION_VARIABLES - set(SHARED_WITH_ODOO)
    assert environ.asked - declared - odoo_options == set(), \
        "read but not declared in odoo_cloud/config/variables.py"
    read_elsewhere = {v.name for v in variables.REGISTRY if v.type == "external"}
    assert declared - read_elsewhere - environ.asked == set(), "declared but never read"


def test_declared_defaults_are_what_the_readers_return():
    settings = load_settings({})
    assert settings.storage.presigned_url_expiry == variables.ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY.default
    assert settings.s3.read_timeout == variables.AWS_READ_TIMEOUT.default
    assert settings.swift.interface == variables.SWIFT_INTERFACE.default
    assert settings.sessions.expiration_anonymous == variables.ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS.default
    assert settings.prometheus.port == variables.ODOO_PROMETHEUS_PORT.default


def test_a_reader_disagreeing_with_the_declared_type_fails():
    env = EnvReader({})
    with pytest.raises(TypeError, match="AWS_BUCKETNAME is declared as 'text' but read as 'flag'"):
        env.flag(variables.AWS_BUCKETNAME)


def test_names_and_identifiers_agree_and_are_unique():
    assert len(variables.BY_NAME) == len(variables.REGISTRY)
    for variable in variables.REGISTRY:
        assert getattr(variables, variable.name) is variable
        assert variable.doc and "\n" not in variable.doc


def _string_literals(path: Path):
    """(line, text) of every string constant of the module except docstrings (documentation)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_bucket_variable_is_written_once_in_the_code():
    """`AWS_BUCKETNAME` as a string literal only in the registry (docs and tests may say it): every other
    module names it through odoo_cloud.config.variables or the S3 backend's declaration."""
    pattern = re.compile(r"AWS_BUCKETNAME(?!_)")
    addons = [p.name for p in REPO.iterdir() if (p / "__manifest__.py").exists()]
    found = []
    for root in ["odoo_cloud", *addons]:
        for path in (REPO / root).rglob("*.py"):
            if path == REPO / "odoo_cloud" / "config" / "variables.py" or "tests" in path.parts:
                continue
            found += [f"{path.relative_to(REPO)}:{line}" for line, text in _string_literals(path)
                      if pattern.search(text)]
    assert found == []
    # the check can fail: the registry itself has the literal
    assert any(pattern.search(text) for _, text in _string_literals(REPO / "odoo_cloud/config/variables.py"))
