"""Find each Odoo series on this machine (18.0, 19.0) — we never install, copy or fetch Odoo ourselves.

Shared by scripts/setup_odoo.sh (same order, in shell), scripts/odoo_tests.py and `python -m devstack run`.
Each series has its own venv built by scripts/setup_odoo.sh and is looked for, first hit wins, as:
`odoo` of that series importable by a given python, else its variable (`ODOO_SRC` for 18.0 — its meaning
since before 19 —, `ODOO19_SRC` for 19.0; when set, the only place looked at), else its default path
(/opt/odoo18, /opt/odoo19). Looking is cheap (no `import odoo`: that pulls the whole framework): the package
is located with importlib's finder and its version read from `odoo/release.py` as text.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .paths import REPO_ROOT

# Where scripts/setup_odoo.sh builds the per-series venvs (ODOO_VENVS_DIR moves them, e.g. for a trial build).
VENVS_DIR = Path(os.environ.get("ODOO_VENVS_DIR") or REPO_ROOT / ".venvs")


@dataclass(frozen=True)
class OdooSeries:
    """One supported Odoo series: where it is looked for, the venv that runs it, its CLI differences."""

    name: str  # "18.0"
    src_variable: str  # environment variable naming a source tree of this series
    default_src: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def major(self) -> int:
        return int(self.name.split(".")[0])

    def server_wide(self, modules: list[str]) -> list[str]:
        """`--load` modules for this series: 19 moved XML-RPC/JSON-RPC into the server-wide `rpc` module,
        which must be loaded (after `base`) or /xmlrpc and /jsonrpc answer 404."""
        if self.major >= 19 and "rpc" not in modules:
            at = modules.index("base") + 1 if "base" in modules else 0
            return [*modules[:at], "rpc", *modules[at:]]
        return list(modules)

    def demo_options(self, demo: bool) -> list[str]:
        """odoo-bin options for demo data: 18 loads it unless told not to; 19 loads none unless asked."""
        if self.major >= 19:
            return ["--with-demo"] if demo else []
        return [] if demo else ["--without-demo=all"]


SERIES: dict[str, OdooSeries] = {
    "18.0": OdooSeries("18.0", "ODOO_SRC", Path("/opt/odoo18"), VENVS_DIR / "odoo"),
    "19.0": OdooSeries("19.0", "ODOO19_SRC", Path("/opt/odoo19"), VENVS_DIR / "odoo19"),
}
SUPPORTED_SERIES = tuple(SERIES)  # oldest first

# Odoo 18 names, kept for the callers written before 19.0 (tests/storage, tests/platform, bench…).
DEFAULT_ODOO_SRC = SERIES["18.0"].default_src
ODOO_VENV = SERIES["18.0"].venv
ODOO_PYTHON = SERIES["18.0"].python
_VERSION_RE = re.compile(r"^version_info\s*=\s*\((\d+),\s*(\d+),", re.MULTILINE)

# Odoo 19's `odoo` is a namespace package: its locations include every site-packages/odoo an addon wheel
# (server_environment…) creates, so the one holding release.py is the Odoo tree.
_FIND_SPEC = (
    "import importlib.util as u, os; s = u.find_spec('odoo'); "
    "ps = list(s.submodule_search_locations or []) if s else []; "
    "print(next((p for p in ps if os.path.isfile(os.path.join(p, 'release.py'))), ''))"
)


def get_series(name: str) -> OdooSeries:
    """The OdooSeries called `name` ("19.0", or "19"); ValueError naming the supported ones otherwise."""
    key = name if "." in name else f"{name}.0"
    if key not in SERIES:
        raise ValueError(f"unknown Odoo series {name!r}; supported: {', '.join(SUPPORTED_SERIES)}")
    return SERIES[key]


def odoo_series(root: Path) -> str | None:
    """'18.0' / '19.0' for a tree whose odoo/release.py says so; None when `root` is not an Odoo tree."""
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


def find_odoo(python: str = "python3", series: str = "18.0") -> tuple[Path | None, str]:
    """Locate Odoo `series`: `odoo` of it importable by `python`, else its variable, else its default path.

    Returns (source root — the directory holding the `odoo` package, and odoo-bin when it is a checkout —,
    a sentence saying how it was found) or (None, why nothing usable was found).
    """
    spec = get_series(series)
    tried = []
    root = _importable_root(python)
    if root is not None:
        found = odoo_series(root)
        if found == spec.name:
            return root, f"odoo {found} importable by {python} from {root}"
        tried.append(f"{python} imports odoo {found or '?'} from {root}, not {spec.name}")
    else:
        tried.append(f"odoo is not importable by {python}")
    env_src = os.environ.get(spec.src_variable)
    if env_src:
        found = odoo_series(Path(env_src))
        if found == spec.name:
            return Path(env_src).resolve(), f"odoo {found} from {spec.src_variable}={env_src}"
        what = f"holds Odoo {found}, not {spec.name}" if found else "has no Odoo tree (no odoo/release.py)"
        # An explicit variable that is wrong is not silently replaced by the default path.
        tried.append(f"{spec.src_variable}={env_src} {what}")
        return None, f"no Odoo {spec.name} found: " + "; ".join(tried)
    tried.append(f"{spec.src_variable} is not set")
    found = odoo_series(spec.default_src)
    if found == spec.name:
        return spec.default_src, f"odoo {found} from {spec.default_src}"
    tried.append(f"{spec.default_src} {'holds Odoo ' + found if found else 'has no Odoo tree'}")
    return None, f"no Odoo {spec.name} found: " + "; ".join(tried)


def find_venv_odoo(series: str = "18.0") -> tuple[Path | None, str]:
    """The Odoo `series` that its venv runs — the one the test suite starts — or (None, why there is none)."""
    spec = get_series(series)
    if not spec.python.exists():
        return None, f"{spec.python} missing (scripts/setup_odoo.sh builds it when Odoo {spec.name} is found)"
    return find_odoo(str(spec.python), spec.name)


def find_all(python: str = "python3") -> dict[str, tuple[Path | None, str]]:
    """find_odoo() for every supported series, oldest first: {series: (root or None, how / why not)}."""
    return {name: find_odoo(python, name) for name in SUPPORTED_SERIES}


def newest_found(python: str = "python3") -> tuple[OdooSeries | None, Path | None, str]:
    """The newest series found (what `make run` starts by default), its root and how it was found.

    None when no series is found, with every series' reason joined.
    """
    reasons = []
    for name in reversed(SUPPORTED_SERIES):
        spec = SERIES[name]
        hint = str(spec.python) if spec.python.exists() else python
        root, how = find_odoo(hint, name)
        if root is not None:
            return spec, root, how
        reasons.append(how)
    return None, None, "; ".join(reasons)


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
