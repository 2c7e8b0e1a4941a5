"""Where the tools live: the repo's venvs built by scripts/setup.sh, and Debian's binaries."""

from __future__ import annotations

import glob
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SETUP_HINT = "run `bash scripts/setup.sh` from the repository root"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}: {SETUP_HINT}")
    return path


def venv_bin(name: str) -> Path:
    """A console script of the interpreter running us (normally .venv), e.g. `weed`."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    return _require(REPO_ROOT / ".venv" / "bin" / name, name)


def swift_venv() -> Path:
    return _require(REPO_ROOT / ".venvs" / "swift", "Swift venv")


def keystone_venv() -> Path:
    return _require(REPO_ROOT / ".venvs" / "keystone", "Keystone venv")


def system_bin(name: str, *extra_dirs: str) -> Path:
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in extra_dirs:
        for match in sorted(glob.glob(str(Path(directory) / name)), reverse=True):
            return Path(match)
    raise FileNotFoundError(f"{name} not found on PATH: {SETUP_HINT} (installs it with apt)")


def dist_version(venv: Path, dist: str) -> str:
    """Version of a distribution installed in another venv, read from its metadata directory name."""
    for match in glob.glob(str(venv / "lib" / "python*" / "site-packages" / f"{dist}-*.dist-info")):
        return Path(match).name[len(dist) + 1 : -len(".dist-info")]
    return "?"
