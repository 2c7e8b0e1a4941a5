#!/usr/bin/env python3
"""Build the distributions: the core `odoo-cloud` once, and every addon once per Odoo series.

    .venv/bin/python scripts/build_wheels.py                 # dist/odoo_cloud-*.whl, dist/18.0/, dist/19.0/
    .venv/bin/python scripts/build_wheels.py --series 19.0

Why a per-series build: the manifests say `"version": "1.0.0"` so that one tree installs on Odoo 18.0 and
19.0 (Odoo prefixes the running series), but a wheel belongs to one series: whool (the addons' build
backend, through manifestoo-core) reads the series from the first two parts of the manifest version and
writes `Requires-Dist: odoo==19.0.*` and `odoo-addon-server_environment==19.0.*` (from `depends`)
accordingly (older manifestoo-core: `odoo>=19.0a,<19.1dev`). A version without a series is refused, and
`[tool.whool] odoo_series_override` would keep `1.0.0` as the wheel version, which the `==19.0.*` pins between
our own addons refuse. So each addon is copied to a build directory with its manifest version prefixed by
the series (`19.0.1.0.0`, which Odoo 19 accepts as its own) and built there.
Each wheel's METADATA is checked after the build: a wheel pinning another series fails the build.
"""
from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_SERIES = ("18.0", "19.0")
_VERSION_ITEM = re.compile(
    r"""(?P<head>["']version["']\s*:\s*)(?P<quote>["'])(?P<version>[^"']*)(?P=quote)""")
_SERIES_VERSION = re.compile(r"\d+\.\d+\.\d+\.\d+\.\d+")  # 18.0.1.0.0: a series-prefixed version


def series_manifest(text: str, series: str) -> str:
    """The manifest source `text` with its version prefixed by `series` (`1.0.0` -> `19.0.1.0.0`).

    A version that already names a series is kept when it is this one and refused when it is another
    (a wheel must not claim a series its manifest denies). Only the version item changes.
    """
    matches = list(_VERSION_ITEM.finditer(text))
    if len(matches) != 1:
        raise ValueError(f"expected one 'version' item in the manifest, found {len(matches)}")
    match = matches[0]
    version = match["version"]
    if _SERIES_VERSION.fullmatch(version):
        if not version.startswith(series + "."):
            raise ValueError(f"manifest version {version!r} names another series than {series}")
        return text
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"manifest version {version!r} is not x.y.z")
    new = f"{match['head']}{match['quote']}{series}.{version}{match['quote']}"
    result = text[: match.start()] + new + text[match.end():]
    if ast.literal_eval(result)["version"] != f"{series}.{version}":  # the rewrite kept a valid manifest
        raise ValueError("manifest rewrite failed")
    return result


def wheel_metadata(wheel: Path) -> list[tuple[str, str]]:
    """(header, value) pairs of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8")
    pairs = []
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            pairs.append((key, value))
    return pairs


def check_series(wheel: Path, series: str) -> list[str]:
    """What is wrong with the Odoo pins of an addon wheel built for `series` (empty: nothing).

    Checked by meaning, not spelling (manifestoo-core wrote `odoo>=19.0a,<19.1dev`, today `odoo==19.0.*`):
    `odoo` and every `odoo-addon-*` requirement must admit this series' versions and refuse the others.
    """
    from packaging.requirements import Requirement

    major = int(series.split(".", maxsplit=1)[0])
    others = [f"{major - 1}.0", f"{major + 1}.0", f"{major}.1"]
    problems = []
    odoo_pins = 0
    for value in (value for key, value in wheel_metadata(wheel) if key == "Requires-Dist"):
        req = Requirement(value)
        if req.name == "odoo":
            odoo_pins += 1
            inside, outside = [series, f"{series}.20250101"], others
        elif req.name.startswith("odoo-addon-"):
            inside, outside = [f"{series}.1.0.0"], [f"{other}.1.0.0" for other in others]
        else:
            continue
        if not all(req.specifier.contains(v, prereleases=True) for v in inside) or any(
                req.specifier.contains(v, prereleases=True) for v in outside):
            problems.append(f"{wheel.name}: Requires-Dist {value} does not pin series {series}")
    if odoo_pins != 1:
        problems.append(f"{wheel.name}: {odoo_pins} requirement(s) on odoo, expected one")
    return problems


def addon_dirs() -> list[Path]:
    """The addons packaged: setup/<addon> links (the OCA layout) to the addon directories."""
    return sorted(path.resolve() for path in (ROOT / "setup").iterdir()
                  if (path / "__manifest__.py").is_file() and (path / "pyproject.toml").is_file())


def pip_wheel(source: Path, dest: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest),
                           str(source)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"build_wheels: pip wheel {source} failed:\n"
                         f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def build_series(series: str, dist: Path, workdir: Path) -> list[Path]:
    """Every addon's wheel for `series` into dist/<series>/, checked."""
    out = dist / series
    out.mkdir(parents=True, exist_ok=True)
    built = []
    for addon in addon_dirs():
        copy = workdir / series / addon.name
        shutil.copytree(addon, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        manifest = copy / "__manifest__.py"
        manifest.write_text(series_manifest(manifest.read_text(encoding="utf-8"), series), encoding="utf-8")
        before = set(out.glob("*.whl"))
        pip_wheel(copy, out)
        new = sorted(set(out.glob("*.whl")) - before)
        if len(new) != 1:
            raise SystemExit(f"build_wheels: {addon.name} ({series}) produced {len(new)} wheels")
        built.extend(new)
    problems = [problem for wheel in built for problem in check_series(wheel, series)]
    if problems:
        raise SystemExit("build_wheels: wrong series in the metadata:\n  " + "\n  ".join(problems))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--series", default=",".join(SUPPORTED_SERIES),
                        help=f"comma-separated Odoo series (default: {','.join(SUPPORTED_SERIES)})")
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="output directory (emptied first)")
    parser.add_argument("--no-core", action="store_true", help="only the addons, not odoo-cloud")
    args = parser.parse_args(argv)
    series_list = [item.strip() for item in args.series.split(",") if item.strip()]
    unknown = [item for item in series_list if item not in SUPPORTED_SERIES]
    if unknown:
        parser.error(f"unknown series {', '.join(unknown)}; supported: {', '.join(SUPPORTED_SERIES)}")
    dist = Path(args.dist)
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    if not args.no_core:
        pip_wheel(ROOT, dist)  # framework-free: one wheel for every series
    with tempfile.TemporaryDirectory(prefix="build-wheels-") as workdir:
        for series in series_list:
            wheels = build_series(series, dist, Path(workdir))
            print(f"build_wheels: {series}: {len(wheels)} addon wheels in {dist / series}, "
                  f"each requiring odoo {series}")
    for wheel in sorted(dist.glob("*.whl")):
        print(f"build_wheels: core: {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
