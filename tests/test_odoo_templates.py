"""devstack/odoo_db.py's template bookkeeping, with a stand-in `odoo-bin` (a shell script) so that it runs
in a second: a template initialised in the background is waited for, a background init that failed (a
test stopped the PostgreSQL meanwhile) is done again in the foreground once, a foreground failure names
the command and reaches every caller, and close() kills an init still running. Copies of real Odoo
databases are exercised by every Odoo test (tests/observability, tests/platform, tests/storage...)."""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack.odoo_db import OdooDatabaseError, OdooDatabases, OdooInstall

#: fails while <root>/fail-<n> exists for its n-th run (runs counted in <root>/runs), sleeps while
#: <root>/hang exists; records its arguments
FAKE_ODOO_BIN = """#!/bin/sh
root=$(dirname "$0")
echo x >> "$root/runs"
n=$(wc -l < "$root/runs")
echo "$@" > "$root/args-$n"
while [ -e "$root/hang" ]; do sleep 0.05; done
if [ -e "$root/fail-$n" ]; then echo "could not connect to server" ; exit 3; fi
exit 0
"""

PG = SimpleNamespace(host="127.0.0.1", port=1, user="odoo")


def fake_odoo(tmp_path: Path) -> OdooInstall:
    root = tmp_path / "odoo-root"
    root.mkdir()
    script = root / "odoo-bin"
    script.write_text(FAKE_ODOO_BIN)
    script.chmod(0o755)
    return OdooInstall("18.0", root, Path("/bin/sh"))


def runs(odoo: OdooInstall) -> int:
    path = odoo.root / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_background_template_is_waited_for_and_initialised_once(tmp_path):
    odoo = fake_odoo(tmp_path)
    (odoo.root / "hang").touch()
    databases = OdooDatabases(PG, tmp_path / "work")
    databases.prepare([odoo])
    deadline = time.monotonic() + 10
    while runs(odoo) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (odoo.root / "hang").unlink()
    name, data_dir = databases.template(odoo)
    assert name.startswith("tpl_180_") and data_dir == tmp_path / "work" / name
    assert databases.template(odoo) == (name, data_dir)
    databases.prepare([odoo])  # already there: nothing started again
    time.sleep(0.2)
    assert runs(odoo) == 1
    args = (odoo.root / "args-1").read_text().split()
    assert ["-i", "base,web"] == args[args.index("-i"):args.index("-i") + 2]
    assert "--stop-after-init" in args and "--without-demo=all" in args and name in args


def test_a_failed_background_init_is_done_again_once_in_the_foreground(tmp_path):
    odoo = fake_odoo(tmp_path)
    (odoo.root / "fail-1").touch()
    databases = OdooDatabases(PG, tmp_path / "work")
    databases.prepare([odoo])
    name, _ = databases.template(odoo)
    assert runs(odoo) == 2 and name in (odoo.root / "args-2").read_text()


def test_a_failed_foreground_init_names_the_command_and_fails_every_caller(tmp_path):
    odoo = fake_odoo(tmp_path)
    for n in (1, 2):
        (odoo.root / f"fail-{n}").touch()
    databases = OdooDatabases(PG, tmp_path / "work")
    for _ in range(2):
        with pytest.raises(OdooDatabaseError, match=r"(?s)-i base,web .*rc=3.*could not connect to server"):
            databases.template(odoo)
    assert runs(odoo) == 1


def test_close_kills_an_init_still_running(tmp_path):
    odoo = fake_odoo(tmp_path)
    (odoo.root / "hang").touch()
    databases = OdooDatabases(PG, tmp_path / "work")
    databases.prepare([odoo])
    deadline = time.monotonic() + 10
    while runs(odoo) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    databases.close()
    with pytest.raises(OdooDatabaseError):
        databases.template(odoo)  # killed in the background; no new run once closed
    assert time.monotonic() - started < 30  # not the 15-minute init timeout
    assert runs(odoo) == 1
