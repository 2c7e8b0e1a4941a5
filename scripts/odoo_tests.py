#!/usr/bin/env python3
"""Run the addons' Odoo tests (`<addon>/tests/`) in a real Odoo against real servers, on each Odoo series.

For each series (18.0, 19.0; `--series` picks some): a throwaway PostgreSQL 15 cluster, one fresh database,
the servers the selected addons need (Redis, SeaweedFS S3, Swift, a UDP statsd listener — all from
`devstack`), then `odoo-bin -i <addons> --test-tags=/<addon>,... --stop-after-init` with every DESIGN §3
variable pointing at those servers, in that series' venv. Odoo's whole log goes to
`.devstack/odoo-tests/<db>.log` (`last.log` links to the latest); the console gets failing tests with their
tracebacks and, at the end, one line per series: `odoo 18.0: N passed, M failed` or
`odoo 19.0: SKIPPED: <why>`.

Exit status 0 when every series found passed (a series not found is skipped, unless asked for by
`--series`); 1 when any series had a test failure or error, an ERROR/CRITICAL log record, a crash, a
timeout, or no test executed although the selected addons have tests — or a series asked for is missing.

    .venv/bin/python scripts/odoo_tests.py                       # every repo addon with tests/, every series
    .venv/bin/python scripts/odoo_tests.py --series 19.0 --addons session_redis --keep
    .venv/bin/python scripts/odoo_tests.py --addons session_redis,test_http \\
        --tags /test_http:TestSessionStore,/test_http:TestHttpSession

Odoo is never installed by this repository: devstack/odoo.py says where each series is looked for, and
scripts/setup_odoo.sh builds the venv that runs it (called here, a no-op when current).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO_VENV = ROOT / ".venv"
LOG_DIR = ROOT / ".devstack" / "odoo-tests"

# The real servers an addon's code talks to; the install closure of the selected addons decides.
SERVERS_NEEDED = {
    "attachment_s3": {"s3"},
    "attachment_swift": {"swift"},
    "session_redis": {"redis"},
    "monitoring_statsd": {"statsd"},
}
SERVER_KINDS = ("redis", "s3", "swift", "statsd")
RUNNER_ADDONS = ROOT / "scripts" / "odoo_addons"  # odoo_tests_runner: server-wide support, never installed


def _reexec_in_repo_venv() -> None:
    """devstack needs the repo's .venv (boto3, the `weed` binary…): move there whatever python started us."""
    python = REPO_VENV / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != REPO_VENV.resolve():
        os.execv(str(python), [str(python), *sys.argv])


# ------------------------------------------------------------------------------------------- addons
@dataclass
class Addon:
    name: str
    path: Path
    manifest: dict

    @property
    def depends(self) -> list[str]:
        return list(self.manifest.get("depends", []))

    @property
    def has_tests(self) -> bool:
        return any((self.path / "tests").glob("test_*.py"))

    @property
    def server_wide(self) -> bool:
        return bool(self.manifest.get("post_load"))


def read_addons(directory: Path) -> dict[str, Addon]:
    """Installable addons directly under `directory`, by name."""
    found = {}
    for manifest_path in sorted(directory.glob("*/__manifest__.py")):
        try:
            manifest = ast.literal_eval(manifest_path.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError) as exc:
            raise SystemExit(f"odoo_tests: cannot read {manifest_path}: {exc}") from exc
        if manifest.get("installable", True):
            addon_dir = manifest_path.parent
            found[addon_dir.name] = Addon(addon_dir.name, addon_dir, manifest)
    return found


def closure(names: list[str], known: dict[str, Addon]) -> list[str]:
    """`names` and their dependencies among `known` addons, dependencies first (Odoo's own are left out)."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered or name not in known:
            return
        for dep in known[name].depends:
            visit(dep)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


@dataclass
class Plan:
    """What one odoo-bin run installs, tests, loads server-wide and which servers it needs."""

    install: list[str]
    tags: str
    servers: set[str]
    server_wide: list[str]
    expect_tests: bool
    in_closure: list[str]
    must_run: tuple[str, ...] = ()  # addons with tests/test_*.py whose tests the default tags select

    @classmethod
    def build(cls, args: argparse.Namespace, repo: dict[str, Addon], known: dict[str, Addon]) -> Plan | None:
        selected = _split(args.addons) or [name for name, addon in repo.items() if addon.has_tests]
        if not selected:
            return None
        with_tests = [name for name in selected if name in known and known[name].has_tests]
        ours = closure(selected, known)
        servers = set().union(*(SERVERS_NEEDED.get(name, set()) for name in ours)) | set(_split(args.servers))
        bad = servers - set(SERVER_KINDS)
        if bad:
            raise SystemExit(f"odoo_tests: unknown server(s) {', '.join(sorted(bad))}; "
                             f"known: {', '.join(SERVER_KINDS)}")
        server_wide = ["base", "web"] + [name for name in ours if known[name].server_wide]
        server_wide += [name for name in _split(args.load) if name not in server_wide]
        # Odoo's own tests (test_http's test_static20/21…) look for pregenerated bundles: keep them there.
        odoo_addons_selected = any(name not in known for name in selected)
        pregenerate = args.assets == "yes" or (args.assets == "auto" and odoo_addons_selected)
        if not pregenerate:
            server_wide.append("odoo_tests_runner")
        tested = [name for name in selected if name not in known or known[name].has_tests]
        tags = args.tags or ",".join(f"/{name}" for name in (tested or selected))
        # Odoo's own addons (test_http…) are not in `known`: selecting one means running its tests.
        expect_tests = bool(with_tests or args.tags or odoo_addons_selected)
        return cls(selected, tags, servers, server_wide, expect_tests=expect_tests, in_closure=ours,
                   must_run=() if args.tags else tuple(with_tests))


# ------------------------------------------------------------------------------------------- servers
@dataclass
class Servers:
    base_dir: Path
    wanted: set[str]
    started: dict = field(default_factory=dict)
    seconds: float = 0.0

    def start(self) -> None:
        """Start PostgreSQL and the wanted servers in parallel (Swift alone takes ~2.5 s)."""
        import devstack

        factories = {
            "postgres": devstack.PostgresServer,
            "redis": devstack.RedisServer,
            "s3": devstack.SeaweedFSServer,
            "swift": devstack.SwiftServer,
        }
        errors: list[str] = []
        t0 = time.monotonic()

        def start_one(kind: str) -> None:
            try:
                server = devstack.StatsdListener() if kind == "statsd" else factories[kind](self.base_dir)
                server.start()
                self.started[kind] = server
            except Exception as exc:  # all failures are reported together below
                errors.append(f"{kind}: {exc}")

        threads = [threading.Thread(target=start_one, args=(kind,), daemon=True)
                   for kind in sorted(self.wanted | {"postgres"})]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.seconds = time.monotonic() - t0
        if errors:
            self.stop()
            raise RuntimeError("could not start the servers:\n  " + "\n  ".join(errors))

    def stop(self) -> None:
        for server in self.started.values():
            try:
                server.stop()
            except Exception as exc:
                print(f"odoo_tests: stopping {server!r}: {exc}", file=sys.stderr)
        self.started.clear()

    def environment(self, dbname: str) -> dict[str, str]:
        """DESIGN §3 variables pointing at our servers, with every feature switched on."""
        from devstack.odoo_env import s3_variables, session_redis_variables, statsd_variables, swift_variables

        env = {"RUNNING_ENV": "dev"}
        name = dbname.replace("_", "-").lower()  # odoo-tests-<date>-<time>-<pid>: bucket/prefix-safe
        if "s3" in self.started:
            self.started["s3"].create_bucket(name)
            env.update(s3_variables(self.started["s3"], name))
        if "swift" in self.started:
            env.update(swift_variables(self.started["swift"], name))
        if "redis" in self.started:
            env.update(session_redis_variables(self.started["redis"], name))
        if "statsd" in self.started:
            env.update(statsd_variables(self.started["statsd"], "odoo-tests", "test"))
        return env


# ------------------------------------------------------------------------------------------- log parsing
_TEXT_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) (?P<db>\S+) (?P<logger>[^:\s]+): (?P<msg>.*)$"
)
_SUMMARY = re.compile(
    r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<tests>\d+) tests when loading database"
)
# per-module line of odoo.tests.stats (odoo/tests/result.py:269)
_MODULE_STATS = re.compile(r"^(?P<module>\w+): (?P<count>\d+) tests ")
_BAD_LEVELS = {"ERROR", "CRITICAL"}


@dataclass
class LogRecord:
    level: str
    logger: str
    message: str
    extra: list[str] = field(default_factory=list)  # traceback / continuation lines


def parse_line(line: str) -> LogRecord | None:
    """A record from Odoo's text format or a JSON line (logging_json); None for a continuation line."""
    stripped = line.rstrip("\n")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            level = str(data.get("levelname") or data.get("level") or "INFO").upper()
            logger = str(data.get("logger") or data.get("name") or "?")
            record = LogRecord(level, logger, str(data.get("message") or data.get("msg") or ""))
            for key in ("exc_info", "exc_text", "traceback", "stack_info"):
                if data.get(key):
                    record.extra.extend(str(data[key]).splitlines())
            return record
    match = _TEXT_RECORD.match(stripped)
    return LogRecord(match["level"], match["logger"], match["msg"]) if match else None


@dataclass
class RunResult:
    name: str
    log_path: Path
    returncode: int | None = None
    tests: int | None = None
    failed: int = 0
    errors: int = 0
    bad_records: list[LogRecord] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    tests_by_module: dict[str, int] = field(default_factory=dict)

    def problems(self, expect_tests: bool, addons_with_tests: tuple[str, ...] = ()) -> list[str]:
        found = []
        if self.timed_out:
            found.append("odoo-bin timed out and was killed")
        elif self.returncode != 0:
            found.append(f"odoo-bin exited with status {self.returncode}")
        if self.tests is None:
            found.append("no test summary in Odoo's log (did it crash before the tests?)")
        elif expect_tests and self.tests == 0:
            found.append("no test was executed although the selected addons have tests (wrong --tags?)")
        if self.failed or self.errors:
            found.append(f"{self.failed} test(s) failed, {self.errors} in error")
        if self.bad_records:
            found.append(f"{len(self.bad_records)} ERROR/CRITICAL log record(s)")
        if self.tests is not None:
            silent = [name for name in addons_with_tests if not self.tests_by_module.get(name)]
            if silent:
                found.append(f"no test of {', '.join(silent)} ran although tests/test_*.py exist "
                             "(imported in tests/__init__.py? tagged out?)")
        return found


class LogWatcher:
    """Consumes Odoo's output line by line: keeps ERROR/CRITICAL records with their tracebacks."""

    def __init__(self, result: RunResult, echo: bool):
        self.result = result
        self.echo = echo
        self._current: LogRecord | None = None

    def feed(self, line: str) -> None:
        if self.echo:
            sys.stdout.write(line)
        record = parse_line(line)
        if record is None:
            if self._current is not None:
                self._current.extra.append(line.rstrip("\n"))
            return
        self._current = None
        summary = _SUMMARY.search(record.message)
        if summary:
            self.result.tests = int(summary["tests"])
            self.result.failed = int(summary["failed"])
            self.result.errors = int(summary["errors"])
        elif record.level in _BAD_LEVELS:
            self.result.bad_records.append(record)
            self._current = record
            if not self.echo:
                print(f"  {record.level} {record.logger}: {record.message[:300]}", flush=True)
        if record.logger == "odoo.tests.stats":
            stats = _MODULE_STATS.match(record.message.strip())
            if stats:
                self.result.tests_by_module[stats["module"]] = int(stats["count"])
            if not self.echo:
                print(f"  {record.message.strip()}", flush=True)


# ------------------------------------------------------------------------------------------- odoo-bin
KEEP_LOGS = 20


def prune_logs() -> None:
    """Keep the logs of the last KEEP_LOGS runs (each run: <db>.log and maybe <db>.statsd)."""
    logs = sorted(LOG_DIR.glob("odoo_tests_*.log"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in logs[KEEP_LOGS:]:
        for path in (old, old.with_suffix(".statsd")):
            path.unlink(missing_ok=True)


def run_odoo(argv: list[str], env: dict[str, str], result: RunResult, timeout: float, echo: bool) -> None:
    """Run odoo-bin in its own process group, log to result.log_path, kill the group on timeout."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    prune_logs()
    last = LOG_DIR / "last.log"
    try:  # convenience link to the latest run; parallel runs may race for it
        last.unlink(missing_ok=True)
        last.symlink_to(result.log_path.name)
    except OSError:
        pass
    watcher = LogWatcher(result, echo)
    t0 = time.monotonic()
    with open(result.log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", start_new_session=True, cwd=str(ROOT))
        timer = threading.Timer(timeout, _kill_group, args=(proc, result))
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                watcher.feed(line)
            result.returncode = proc.wait()
        except BaseException:
            _kill_group(proc, result)
            raise
        finally:
            timer.cancel()
    result.seconds = time.monotonic() - t0


def _kill_group(proc: subprocess.Popen, result: RunResult) -> None:
    if proc.poll() is not None:
        return
    result.timed_out = True
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


class SeriesSetupError(RuntimeError):
    """scripts/setup_odoo.sh could not build the venv of one series (its output is in the message)."""


def ensure_odoo_venv(python_hint: str, series) -> Path:
    """Build/refresh the venv of `series` (an OdooSeries) with scripts/setup_odoo.sh (~1 s when current)."""
    env = dict(os.environ, PYTHON=python_hint)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup_odoo.sh"), series.name], env=env,
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0 or not series.python.exists():
        raise SeriesSetupError(f"scripts/setup_odoo.sh {series.name} failed: cannot build {series.venv}\n"
                               + proc.stdout[-4000:] + proc.stderr[-4000:])
    if "up to date" not in proc.stdout:  # it (re)built the venv: show what it did
        sys.stdout.write(proc.stdout)
    return series.python


def odoo_argv(prefix: list[str], plan: Plan, *, run_dir: Path, dbname: str, pg, addons_path: str,
              demo_options: list[str], server_wide: list[str]) -> list[str]:
    from devstack._process import free_port

    argv = [
        *prefix,
        f"--config={run_dir / 'odoo.conf'}", f"--data-dir={run_dir / 'data'}",
        "-d", dbname, f"--db_host={pg.host}", f"--db_port={pg.port}", f"--db_user={pg.user}",
        f"--addons-path={addons_path}", f"--load={','.join(server_wide)}",
        "-i", ",".join(plan.install), f"--test-tags={plan.tags}", "--stop-after-init",
        "--http-interface=127.0.0.1", f"--http-port={free_port()}", f"--gevent-port={free_port()}",
        "--max-cron-threads=0", "--workers=0", "--log-level=info",
        *demo_options,
    ]
    return argv


def run_environment(servers: Servers, plan: Plan, dbname: str, overrides: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ODOO_PY_COLORS", None)  # colours would break log parsing
    env.update(servers.environment(dbname))
    if "logging_json" in plan.in_closure:
        env.setdefault("ODOO_LOGGING_JSON", "1")
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"odoo_tests: --env expects NAME=VALUE, got {item!r}")
        env[name] = value
    return env


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--series", help="comma-separated Odoo series to run, e.g. 19.0 (default: every "
                                         "supported series found; a series asked for and missing fails)")
    parser.add_argument("--addons", help="comma-separated addons to install and test "
                                         "(default: every repo addon with tests/)")
    parser.add_argument("--tags", help="--test-tags for odoo-bin (default: /<addon> for each selected addon)")
    parser.add_argument("--extra-addons-path", action="append", default=[], metavar="DIR",
                        help="another directory of addons (e.g. a scratch addon), repeatable")
    parser.add_argument("--load", help="more server-wide modules (base, web and the post_load addons of the "
                                       "install closure are always loaded)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for odoo-bin, wins over ours (repeatable)")
    parser.add_argument("--servers", help=f"more servers to start: {','.join(SERVER_KINDS)}")
    parser.add_argument("--demo", action="store_true", help="load demo data (slower install)")
    parser.add_argument("--assets", choices=("auto", "yes", "no"), default="auto",
                        help="let Odoo pregenerate every asset bundle before post_install HttpCase tests "
                             "(20-70 s; only tours and test_http's static tests need it). auto: yes when an "
                             "Odoo addon such as test_http is selected")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run directory (PostgreSQL cluster, filestore, server logs)")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds before odoo-bin is killed (per series)")
    parser.add_argument("-v", "--verbose", action="store_true", help="stream Odoo's whole log")
    return parser.parse_args(argv)


@dataclass
class SeriesOutcome:
    """The verdict on one Odoo series: its line in the final summary and whether it fails the run."""

    series: str
    line: str
    failed: bool
    ran: bool = True  # False: skipped (not found)


def selected_series(args: argparse.Namespace) -> tuple[list[str], bool]:
    """(series to run, oldest first; True when --series named them explicitly)."""
    from devstack.odoo import SUPPORTED_SERIES, get_series

    if not args.series:
        return list(SUPPORTED_SERIES), False
    try:
        names = [get_series(name).name for name in _split(args.series)]
    except ValueError as exc:
        print(f"odoo_tests: --series: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    return sorted(set(names), key=SUPPORTED_SERIES.index), True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from devstack.odoo import find_odoo, get_series

    names, explicit = selected_series(args)
    python_hint = os.environ.get("PYTHON", "python3")
    outcomes: list[SeriesOutcome] = []
    for name in names:
        series = get_series(name)
        root, reason = find_odoo(python_hint, series.name)
        if root is None:
            hint = (f"set {series.src_variable}=/path/to/odoo-{series.name}, put it at {series.default_src} "
                    "(README \"Getting Odoo\") or make odoo importable")
            outcome = SeriesOutcome(series.name, f"odoo {series.name}: SKIPPED: {reason} ({hint})",
                                    failed=explicit, ran=False)
        else:
            outcome = run_series(args, series, root, reason, python_hint)
        outcomes.append(outcome)
    # The verdict: one line per series (a run's details are above it).
    if any(outcome.ran for outcome in outcomes):
        print()
    for outcome in outcomes:
        print(outcome.line)
    return 1 if any(outcome.failed for outcome in outcomes) else 0


def run_series(args: argparse.Namespace, series, odoo_root: Path, reason: str,
               python_hint: str) -> SeriesOutcome:
    """Install and test the selected addons on one Odoo series; its verdict line."""
    from devstack.odoo import addons_paths, odoo_command

    label = f"odoo {series.name}"
    t_start = time.monotonic()
    try:
        odoo_python = ensure_odoo_venv(python_hint, series)
    except SeriesSetupError as exc:
        print(f"odoo_tests: {exc}")
        return SeriesOutcome(series.name, f"{label}: FAILED: could not build {series.venv}", failed=True)
    repo = read_addons(ROOT)
    extra_dirs = [Path(p).resolve() for p in args.extra_addons_path]
    known = dict(repo)
    for directory in extra_dirs:
        known.update(read_addons(directory))
    odoo_dirs = addons_paths(odoo_root)
    missing = [name for name in _split(args.addons) if name not in known
               and not any((directory / name / "__manifest__.py").is_file() for directory in odoo_dirs)]
    if missing:
        print(f"odoo_tests: no addon named {', '.join(missing)} in the repo, --extra-addons-path or "
              f"{', '.join(map(str, odoo_dirs))}")
        return SeriesOutcome(series.name, f"{label}: FAILED: unknown addon(s) {', '.join(missing)}",
                             failed=True)
    plan = Plan.build(args, repo, known)
    if plan is None:
        print(f"odoo_tests: no repo addon has tests/ yet ({', '.join(repo) or 'no addons'}): nothing to run")
        return SeriesOutcome(series.name, f"{label}: nothing to run", failed=False)

    run_dir = Path(tempfile.mkdtemp(prefix=f"odoo-tests-{series.major}-",
                                    dir=os.environ.get("ODOO_TESTS_TMPDIR")))
    dbname = f"odoo_tests_{series.major}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    result = RunResult(name=dbname, log_path=LOG_DIR / f"{dbname}.log")
    servers = Servers(run_dir, plan.servers)
    print(f"\nodoo_tests: {reason}; install {','.join(plan.install)}; servers postgres "
          f"{' '.join(sorted(plan.servers))}", flush=True)
    try:
        try:
            servers.start()
        except RuntimeError as exc:
            print(f"odoo_tests: FAILED: {exc}")
            return SeriesOutcome(series.name, f"{label}: FAILED: could not start the servers", failed=True)
        env = run_environment(servers, plan, dbname, args.env)
        ours = sorted(name for name in env if env[name] != os.environ.get(name))
        print(f"odoo_tests: odoo-bin environment sets {' '.join(ours)}", flush=True)  # names only: secrets
        (run_dir / "odoo.conf").write_text("[options]\n", encoding="utf-8")
        addons_path = ",".join(str(p) for p in [*addons_paths(odoo_root), ROOT, RUNNER_ADDONS, *extra_dirs])
        server_wide = series.server_wide(plan.server_wide)
        argv = odoo_argv(odoo_command(odoo_root, odoo_python), plan, run_dir=run_dir, dbname=dbname,
                         pg=servers.started["postgres"], addons_path=addons_path,
                         demo_options=series.demo_options(args.demo), server_wide=server_wide)
        print(f"odoo_tests: servers ready in {servers.seconds:.1f} s; odoo-bin -d {dbname} "
              f"-i {','.join(plan.install)} --test-tags={plan.tags} --load={','.join(server_wide)}; "
              f"log {result.log_path}", flush=True)
        run_odoo(argv, env, result, args.timeout, args.verbose)
        if "statsd" in servers.started:
            packets = servers.started["statsd"].packets(timeout=0.2, min_count=0)
            result.log_path.with_suffix(".statsd").write_text("\n".join(packets) + "\n", encoding="utf-8")
            print(f"odoo_tests: the statsd listener received {len(packets)} metric lines "
                  f"({result.log_path.with_suffix('.statsd')})")
    finally:
        servers.stop()
        if args.keep:
            print(f"odoo_tests: kept {run_dir} (PostgreSQL cluster, filestore, server logs)")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return report(result, plan, series=series.name, total_seconds=time.monotonic() - t_start)


def report(result: RunResult, plan: Plan, *, series: str, total_seconds: float) -> SeriesOutcome:
    label = f"odoo {series}"
    for record in result.bad_records:
        print(f"\n--- {record.level} {record.logger}: {record.message}")
        lines = record.extra
        if len(lines) > 80:
            lines = [*lines[:20], f"... ({len(lines) - 60} lines cut, see the log) ...", *lines[-40:]]
        for line in lines:
            print(f"    {line}")
    problems = result.problems(plan.expect_tests, plan.must_run)
    tests = result.tests or 0
    broken = result.failed + result.errors
    print(f"\nodoo_tests: {label}: {tests} tests, {result.failed} failed, {result.errors} error(s); "
          f"odoo-bin {result.seconds:.1f} s, total {total_seconds:.1f} s; log {result.log_path}")
    for problem in problems:
        print(f"odoo_tests: {label}: FAILED: {problem}")
    line = f"{label}: {max(tests - broken, 0)} passed, {broken} failed"
    if problems and not broken:
        line += f" ({'; '.join(problems)})"
    return SeriesOutcome(series, line, failed=bool(problems))  # main() prints the line with the others


if __name__ == "__main__":
    _reexec_in_repo_venv()
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
