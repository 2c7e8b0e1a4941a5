"""Every addon ships `i18n/<addon>.pot` (made by scripts/export_pot.py with Odoo), and every string the
addon's code translates with `self.env._("...")` is in it: a new or reworded message without a new
export fails here. The code uses one style, `self.env._` (Odoo 18 and 19 both have it), never the
module-level `_` (pylint-odoo's prefer-env-translation enforces that in `make lint`).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDONS = sorted(path.parent for path in ROOT.glob("*/__manifest__.py"))


def translated_literals(addon: Path) -> set[str]:
    """The literal first arguments of `<...>.env._(...)` calls in the addon's Python code."""
    found = set()
    for source in addon.rglob("*.py"):
        if "tests" in source.relative_to(addon).parts:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_"
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "env"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def pot_msgids(pot: Path) -> set[str]:
    """The msgids of a .pot (multi-line msgids joined, escapes undone)."""
    ids = set()
    for block in re.findall(r'^msgid ((?:".*"\n)+)', pot.read_text(encoding="utf-8"), flags=re.MULTILINE):
        ids.add("".join(ast.literal_eval(line) for line in block.splitlines()))
    return ids


@pytest.mark.parametrize("addon", ADDONS, ids=lambda path: path.name)
def test_the_template_exists_and_holds_every_translated_string(addon):
    pot = addon / "i18n" / f"{addon.name}.pot"
    assert pot.is_file(), "run scripts/export_pot.py"
    missing = translated_literals(addon) - pot_msgids(pot)
    assert not missing, f"not in {pot.name} (run scripts/export_pot.py): {sorted(missing)}"


def test_the_translated_strings_are_found():
    storage = translated_literals(ROOT / "base_attachment_object_storage")
    assert "The file could not be stored: %(error)s" in storage
    assert any("install the addon" in text for text in translated_literals(ROOT / "cloud_platform"))


def test_no_module_level_underscore_is_used():
    for addon in ADDONS:
        for source in addon.rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert not re.search(r"^from odoo import .*\b_\b", text, flags=re.MULTILINE), source
