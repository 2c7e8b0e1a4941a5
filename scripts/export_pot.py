#!/usr/bin/env python3
"""Regenerate every addon's translation template, `<addon>/i18n/<addon>.pot`, with Odoo itself.

    .venv/bin/python scripts/export_pot.py                 # Odoo 18.0, every addon of the repository
    .venv/bin/python scripts/export_pot.py --series 19.0 --addons cloud_platform

A throwaway PostgreSQL cluster (devstack) gets one database with the addons installed, then one
`odoo-bin shell` exports each addon's terms with Odoo's own exporter (what `--i18n-export` runs), so the
templates hold exactly what Odoo extracts: `self.env._()` strings, data records' translatable fields.
Object storage stays off (`DISABLE_ATTACHMENT_STORAGE=1`) and cloud_platform's load-time check only warns
(`ODOO_CLOUD_PLATFORM_UNSAFE=1`): no other server is needed. tests/packaging/test_pot_files.py checks
that every `self.env._()` literal of an addon is in its template.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import devstack  # noqa: E402
from devstack.odoo import (  # noqa: E402
    bare_environment,
    database_options,
    find_odoo,
    get_series,
    odoo_command,
)

EXPORT = """
import io, pathlib
from odoo.tools.translate import trans_export
for name in {addons!r}:
    buffer = io.BytesIO()
    trans_export(None, [name], buffer, "po", env.cr)
    target = pathlib.Path({root!r}) / name / "i18n" / f"{{name}}.pot"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(buffer.getvalue())
    print("export_pot:", target)
"""


def repo_addons() -> list[str]:
    return sorted(path.parent.name for path in ROOT.glob("*/__manifest__.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", default="18.0")
    parser.add_argument("--addons", help="comma-separated (default: every addon of the repository)")
    args = parser.parse_args(argv)
    addons = args.addons.split(",") if args.addons else repo_addons()
    series = get_series(args.series)
    odoo_root, why = find_odoo(str(series.python), series.name)
    if odoo_root is None:
        raise SystemExit(f"export_pot: Odoo {series.name} not found: {why}")
    environ = bare_environment({"DISABLE_ATTACHMENT_STORAGE": "1", "ODOO_CLOUD_PLATFORM_UNSAFE": "1",
                                "RUNNING_ENV": "dev", "PYTHONPATH": str(ROOT)})
    with tempfile.TemporaryDirectory(prefix="export-pot-") as work:
        postgres = devstack.PostgresServer(Path(work) / "pg")
        postgres.start()
        try:
            dbname = "export_pot"
            postgres.create_database(dbname)
            options = database_options(odoo_root, postgres, dbname, Path(work) / "data")
            odoo = odoo_command(odoo_root, series.python)
            subprocess.run([*odoo, *options, "-i", ",".join(addons), *series.demo_options(False),
                            "--stop-after-init", "--log-level=warn"], env=environ, check=True)
            script = EXPORT.format(addons=addons, root=str(ROOT))
            subprocess.run([*odoo, "shell", *options, "--log-level=warn", "--no-http"], input=script,
                           text=True, env=environ, check=True)
        finally:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
