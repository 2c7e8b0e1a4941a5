"""Find an Odoo 18.0 on this machine — we never install, copy or fetch Odoo ourselves.

Shared by scripts/setup_odoo.sh (same order, in shell), scripts/odoo_tests.py and `python -m devstack run`.
Looking is cheap (no `import odoo`: that pulls the whole framework): the package is located with
importlib's finder and its version read from `odoo/release.py` as text.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .paths import REPO_ROOT

DEFAULT_ODOO_SRC = Path("/opt/odoo18")
ODOO_VENV = REPO_ROOT / ".venvs" / "odoo"
ODOO_PYTHON = ODOO_VENV / "bin" / "python"
_VERSION_RE = re.compile(r"^version_info\s*=\s*\((\d+),\s*(\d+),", re.MULTILINE)

_FIND_SPEC = (
    "import importlib.util as u; s = u.find_spec('odoo'); "
    "print(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')"
)


def odoo_series(root: Path) -> str | None:
    """'18.0' for a tree whose odoo/release.py says so; None when `root` is not an Odoo tree."""
    try:
        text = (root / "odoo" / "release.py").read_text(encoding="utf-8")
    except OSError:
        return None
    match = _VERSION_RE.search(text)
    if not match or not (root / "odoo" / "addons" / "base").is_dir():
        return None
    return f"{match.group(1)}.{match.group(2)}"


def _importable_root(python: str) -> Path | None:
    try:
        proc = subprocess.run([python, "-c", _FIND_SPEC], check=False, capture_output=True, text=True,
                              timeout=30)
        out = proc.stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    location = out.strip()
    return Path(location).parent if location else None


def find_odoo(python: str = "python3") -> tuple[Path | None, str]:
    """Locate Odoo 18: `odoo` importable by `python`, else $ODOO_SRC (when set, only there), else /opt/odoo18.

    Returns (source root — the directory holding the `odoo` package, and odoo-bin when it is a checkout —,
    a sentence saying how it was found) or (None, why nothing usable was found).
    """
    tried = []
    root = _importable_root(python)
    if root is not None:
        series = odoo_series(root)
        if series == "18.0":
            return root, f"odoo {series} importable by {python} from {root}"
        tried.append(f"{python} imports odoo {series or '?'} from {root}, not 18.0")
    else:
        tried.append(f"odoo is not importable by {python}")
    env_src = os.environ.get("ODOO_SRC")
    if env_src:
        series = odoo_series(Path(env_src))
        if series == "18.0":
            return Path(env_src).resolve(), f"odoo {series} from ODOO_SRC={env_src}"
        found = f"series {series}" if series else "no odoo/release.py"
        # An explicit ODOO_SRC that is wrong is not silently replaced by the default path.
        tried.append(f"ODOO_SRC={env_src} is not an Odoo 18.0 tree ({found})")
        return None, "no Odoo 18 found: " + "; ".join(tried)
    tried.append("ODOO_SRC is not set")
    series = odoo_series(DEFAULT_ODOO_SRC)
    if series == "18.0":
        return DEFAULT_ODOO_SRC, f"odoo {series} from {DEFAULT_ODOO_SRC}"
    tried.append(f"{DEFAULT_ODOO_SRC} {'holds Odoo ' + series if series else 'has no Odoo tree'}")
    return None, "no Odoo 18 found: " + "; ".join(tried)


def find_venv_odoo() -> tuple[Path | None, str]:
    """The Odoo 18 that .venvs/odoo runs — the one the test suite starts — or (None, why there is none)."""
    if not ODOO_PYTHON.exists():
        return None, f"{ODOO_PYTHON} missing (scripts/setup_odoo.sh builds it)"
    return find_odoo(str(ODOO_PYTHON))


def odoo_command(root: Path, python: Path | str) -> list[str]:
    """argv prefix that starts Odoo's CLI with `python` (odoo-bin of a checkout, else `-m odoo`)."""
    odoo_bin = root / "odoo-bin"
    if odoo_bin.is_file():
        return [str(python), str(odoo_bin)]
    return [str(python), "-m", "odoo"]


def core_addons_path(root: Path) -> Path:
    """Directory holding base, web, test_http…: `odoo/addons` of the tree (a checkout may add ./addons)."""
    return root / "odoo" / "addons"


def addons_paths(root: Path) -> list[Path]:
    """Odoo's addon directories: odoo/addons, plus ./addons in a git checkout of odoo/odoo."""
    paths = [core_addons_path(root)]
    extra = root / "addons"
    if (extra / "web" / "__manifest__.py").is_file():
        paths.insert(0, extra)
    return paths


def addons_path_option(root: Path) -> str:
    """Value of --addons-path: Odoo's own addon directories, then this repository's addons."""
    return ",".join(str(p) for p in [*addons_paths(root), REPO_ROOT])


def database_options(root: Path, postgres, dbname: str, data_dir: Path) -> list[str]:
    """odoo-bin options for one database of `postgres` (host, port, user), our addons and a data dir.

    Put them after the subcommand (`server`, `shell`, an anthem song): Odoo reads the subcommand first.
    """
    return ["-d", dbname, f"--db_host={postgres.host}", f"--db_port={postgres.port}",
            f"--db_user={postgres.user}", f"--addons-path={addons_path_option(root)}",
            f"--data-dir={data_dir}"]


def bare_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """PATH and HOME (and PYTHONPATH when set: a checkout tested with another checkout's venv) plus only
    `environ`: an Odoo subprocess sees exactly the variables a test gives it."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    if os.environ.get("PYTHONPATH"):
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**base, **environ}
