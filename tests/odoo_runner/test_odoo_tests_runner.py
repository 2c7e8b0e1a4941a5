"""scripts/odoo_tests.py: what it reads from Odoo's log, what it starts, and its verdict on real runs.

The end-to-end tests generate a throwaway addon under tmp_path (one passing test, one failing) and run the
script for real: fresh PostgreSQL cluster, odoo-bin, exit status and summary line.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "odoo_tests.py"

_spec = importlib.util.spec_from_file_location("odoo_tests_script", SCRIPT)
odoo_tests = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = odoo_tests  # dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(odoo_tests)

sys.path.insert(0, str(ROOT))
from devstack.odoo import SERIES, SUPPORTED_SERIES, find_odoo, find_venv_odoo, get_series, odoo_series  # noqa: E402


def run_script(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False, cwd=ROOT)


# ------------------------------------------------------------------------------------ log parsing
def feed(lines: list[str]) -> odoo_tests.RunResult:
    result = odoo_tests.RunResult("t", Path("/nonexistent.log"))
    watcher = odoo_tests.LogWatcher(result, echo=False)
    for line in lines:
        watcher.feed(line + "\n")
    return result


def test_text_log_failure_keeps_its_traceback_and_the_summary_counts():
    result = feed([
        "2026-11-26 08:32:50,123 14013 INFO db odoo.modules.loading: loading 1 modules...",
        "2026-11-26 08:32:51,000 14013 ERROR db odoo.addons.x.tests.test_x: FAIL: TestX.test_fails",
        "Traceback (most recent call last):",
        "AssertionError: 1 != 2",
        "2026-11-26 08:32:52,000 14013 INFO db odoo.addons.x.tests.test_x: Starting TestX.test_ok ...",
        "2026-11-26 08:32:53,000 14013 ERROR db odoo.tests.result: 1 failed, 0 error(s) of 2 tests "
        "when loading database 'db'",
    ])
    assert (result.tests, result.failed, result.errors) == (2, 1, 0)
    assert [r.message for r in result.bad_records] == ["FAIL: TestX.test_fails"]  # the summary is not one
    assert result.bad_records[0].extra == ["Traceback (most recent call last):", "AssertionError: 1 != 2"]
    assert "1 test(s) failed, 0 in error" in result.problems(expect_tests=True)


def test_json_log_lines_from_logging_json_are_read_with_their_traceback():
    result = feed([
        json.dumps({"level": "ERROR", "logger": "odoo.addons.x.tests", "message": "ERROR: TestX.test_boom",
                    "traceback": "Traceback (most recent call last):\nRuntimeError: boom"}),
        json.dumps({"level": "INFO", "logger": "odoo.tests.result",
                    "message": "0 failed, 1 error(s) of 5 tests when loading database 'db'"}),
    ])
    assert (result.tests, result.failed, result.errors) == (5, 0, 1)
    assert result.bad_records[0].extra == ["Traceback (most recent call last):", "RuntimeError: boom"]


def test_a_run_without_summary_or_with_zero_tests_is_a_failure():
    crashed = feed(["2026-11-26 08:32:50,123 1 CRITICAL ? odoo.service.server: Failed to initialize db."])
    assert any("no test summary" in p for p in crashed.problems(expect_tests=True))
    crashed.returncode = 0
    empty = feed(["2026-11-26 08:32:53,000 1 WARNING db odoo.tests.result: 0 failed, 0 error(s) of 0 tests "
                  "when loading database 'db'"])
    empty.returncode = 0
    assert empty.problems(expect_tests=False) == []
    assert any("no test was executed" in p for p in empty.problems(expect_tests=True))


def test_an_addon_whose_test_files_never_ran_fails_the_run():
    result = feed([
        "2026-11-26 08:32:53,000 1 INFO db odoo.tests.stats: session_redis: 16 tests 9.08s 882 queries",
        "2026-11-26 08:32:53,000 1 INFO db odoo.tests.result: 0 failed, 0 error(s) of 16 tests "
        "when loading database 'db'",
    ])
    result.returncode = 0
    assert result.tests_by_module == {"session_redis": 16}
    assert result.problems(expect_tests=True, addons_with_tests=("session_redis",)) == []
    problems = result.problems(expect_tests=True, addons_with_tests=("session_redis", "attachment_s3"))
    assert problems == ["no test of attachment_s3 ran although tests/test_*.py exist "
                        "(imported in tests/__init__.py? tagged out?)"]


# ------------------------------------------------------------------------------------ planning
def test_plan_starts_the_servers_of_the_install_closure_and_loads_post_load_addons():
    repo = odoo_tests.read_addons(ROOT)
    args = odoo_tests.parse_args(["--addons", "cloud_platform"])
    plan = odoo_tests.Plan.build(args, repo, repo)
    # cloud_platform depends on the shared glue, not on a storage provider (installing it must not force
    # boto3 and swiftclient): no object store to start for it alone
    assert plan.servers == {"redis", "statsd"}
    assert "attachment_s3" not in plan.in_closure and "attachment_swift" not in plan.in_closure
    assert plan.server_wide[:2] == ["base", "web"]
    post_load_addons = {"session_redis", "logging_json", "monitoring_statsd", "odoo_tests_runner"}
    assert post_load_addons <= set(plan.server_wide)
    assert plan.tags == "/cloud_platform"
    with_s3 = odoo_tests.Plan.build(odoo_tests.parse_args(["--addons", "cloud_platform,attachment_s3"]), repo,
                                    repo)
    assert with_s3.servers == {"redis", "s3", "statsd"}
    closure = with_s3.in_closure
    assert closure.index("base_attachment_object_storage") < closure.index("attachment_s3")


def test_selecting_an_odoo_addon_keeps_the_asset_pregeneration_its_tests_need():
    repo = odoo_tests.read_addons(ROOT)
    args = odoo_tests.parse_args(["--addons", "session_redis,test_http",
                                  "--tags", "/test_http:TestSessionStore"])
    plan = odoo_tests.Plan.build(args, repo, repo)
    assert "odoo_tests_runner" not in plan.server_wide
    assert plan.servers == {"redis"} and plan.expect_tests
    untagged = odoo_tests.parse_args(["--addons", "session_redis,test_http"])
    assert odoo_tests.Plan.build(untagged, repo, repo).tags == "/session_redis,/test_http"


# ------------------------------------------------------------------------------------ finding each series
def _fake_tree(base: Path, major: int) -> Path:
    """What is looked at in an Odoo source tree: odoo/release.py's version_info and odoo/addons/base."""
    (base / "odoo" / "addons" / "base").mkdir(parents=True)
    (base / "odoo" / "release.py").write_text(f"version_info = ({major}, 0, 0, FINAL, 0, '')\n")
    return base


def test_each_series_is_found_through_its_own_variable_and_never_through_the_other(tmp_path, monkeypatch):
    tree18, tree19 = _fake_tree(tmp_path / "o18", 18), _fake_tree(tmp_path / "o19", 19)
    assert (odoo_series(tree18), odoo_series(tree19), odoo_series(tmp_path)) == ("18.0", "19.0", None)
    monkeypatch.setenv("ODOO_SRC", str(tree18))
    monkeypatch.setenv("ODOO19_SRC", str(tree19))
    assert find_odoo("python3", "18.0") == (tree18.resolve(), f"odoo 18.0 from ODOO_SRC={tree18}")
    assert find_odoo("python3", "19.0") == (tree19.resolve(), f"odoo 19.0 from ODOO19_SRC={tree19}")
    # a tree of the other series: not taken, and not replaced by the default path either
    monkeypatch.setenv("ODOO_SRC", str(tree19))
    root, why = find_odoo("python3", "18.0")
    assert root is None and f"ODOO_SRC={tree19} holds Odoo 19.0, not 18.0" in why
    monkeypatch.setenv("ODOO19_SRC", str(tmp_path / "missing"))
    root, why = find_odoo("python3", "19.0")
    assert root is None and "has no Odoo tree" in why and why.startswith("no Odoo 19.0 found:")


def test_series_names_and_their_command_line_differences():
    assert SUPPORTED_SERIES == ("18.0", "19.0")
    assert get_series("19") is get_series("19.0") is SERIES["19.0"]
    assert SERIES["18.0"].venv.name == "odoo" and SERIES["19.0"].venv.name == "odoo19"
    assert (SERIES["18.0"].src_variable, SERIES["19.0"].src_variable) == ("ODOO_SRC", "ODOO19_SRC")
    # 18 loads demo data unless told not to; 19 loads none unless asked (--without-demo=all: not a bool there)
    assert SERIES["18.0"].demo_options(False) == ["--without-demo=all"]
    assert SERIES["18.0"].demo_options(True) == []
    assert SERIES["19.0"].demo_options(False) == []
    assert SERIES["19.0"].demo_options(True) == ["--with-demo"]
    with pytest.raises(ValueError, match=r"supported: 18\.0, 19\.0"):
        get_series("17.0")


# ------------------------------------------------------------------------------------ real runs
def test_without_odoo_one_skipped_line_per_series_and_exit_zero(tmp_path):
    proc = run_script(env={"ODOO_SRC": str(tmp_path / "no-odoo-here"),
                           "ODOO19_SRC": str(tmp_path / "nor-here"), "PYTHON": "python3"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith("odoo 18.0: SKIPPED: no Odoo 18.0 found:")
    assert "set ODOO_SRC=/path/to/odoo-18.0, put it at /opt/odoo18" in lines[0]
    assert lines[1].startswith("odoo 19.0: SKIPPED: no Odoo 19.0 found:")
    assert "set ODOO19_SRC=/path/to/odoo-19.0, put it at /opt/odoo19" in lines[1]


def test_a_series_asked_for_and_missing_fails_and_an_unknown_one_is_a_usage_error(tmp_path):
    proc = run_script("--series", "19.0", env={"ODOO19_SRC": str(tmp_path / "nothing"), "PYTHON": "python3"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [proc.stdout.strip()]  # one line: the 19.0 verdict, no 18.0 run
    assert proc.stdout.startswith("odoo 19.0: SKIPPED:")
    unknown = run_script("--series", "17.0")
    assert unknown.returncode == 2 and "unknown Odoo series '17.0'" in unknown.stderr


def _odoo_or_skip(series: str):
    root, reason = find_venv_odoo(series)
    if root is None:
        pytest.skip(reason)


def _scratch_addon(base: Path, name: str, test_body: str) -> Path:
    addon = base / name
    (addon / "tests").mkdir(parents=True)
    # x.y.z: Odoo 18 and 19 both prefix their series (a "18.0." prefix is refused by 19)
    (addon / "__manifest__.py").write_text(repr({"name": name, "version": "1.0.0", "license": "LGPL-3",
                                                 "depends": ["base"]}))
    (addon / "__init__.py").write_text("")
    (addon / "tests" / "__init__.py").write_text("from . import test_scratch\n")
    (addon / "tests" / "test_scratch.py").write_text(textwrap.dedent(test_body))
    return base


@pytest.mark.slow
@pytest.mark.parametrize("series", SUPPORTED_SERIES)
def test_a_failing_odoo_test_fails_the_run_and_is_named_with_its_traceback(tmp_path, series):
    _odoo_or_skip(series)
    addons = _scratch_addon(tmp_path, "scratch_runner_check", """
        from odoo.tests import TransactionCase


        class TestScratch(TransactionCase):
            def test_attachment_round_trip(self):
                attachment = self.env["ir.attachment"].create({"name": "a.bin", "raw": b"runner"})
                self.assertEqual(attachment.raw, b"runner")

            def test_deliberately_wrong(self):
                self.assertEqual(self.env["res.partner"].search_count([("id", "=", -1)]), 1, "runner-probe")
    """)
    proc = run_script("--series", series, "--extra-addons-path", str(addons),
                      "--addons", "scratch_runner_check")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAIL: TestScratch.test_deliberately_wrong" in out
    assert "runner-probe" in out  # the assertion message, from the traceback
    assert out.rstrip().splitlines()[-1] == f"odoo {series}: 1 passed, 1 failed"


def test_make_run_starts_the_newest_series_found_each_with_its_own_database(tmp_path, monkeypatch):
    import dataclasses

    from devstack import cli, odoo

    for name in SUPPORTED_SERIES:  # no venv: looking goes by variables and default paths only
        monkeypatch.setitem(odoo.SERIES, name, dataclasses.replace(odoo.SERIES[name], venv=tmp_path / "none"))
    monkeypatch.setenv("ODOO_SRC", str(_fake_tree(tmp_path / "o18", 18)))
    monkeypatch.setenv("ODOO19_SRC", str(_fake_tree(tmp_path / "o19", 19)))
    series, root, _how = odoo.newest_found("python3")
    assert (series.name, root) == ("19.0", (tmp_path / "o19").resolve())
    monkeypatch.setenv("ODOO19_SRC", str(tmp_path / "no-19-here"))
    series, root, _how = odoo.newest_found("python3")
    assert (series.name, root) == ("18.0", (tmp_path / "o18").resolve())
    monkeypatch.setenv("ODOO_SRC", str(tmp_path / "no-18-here"))
    series, root, how = odoo.newest_found("python3")
    assert series is None and root is None and "no Odoo 19.0 found" in how and "no Odoo 18.0 found" in how
    assert [cli.database_name(odoo.SERIES[name]) for name in SUPPORTED_SERIES] == ["devstack", "devstack19"]
