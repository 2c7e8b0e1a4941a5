#!/usr/bin/env python3
"""Run the addons' Odoo 18 tests (`<addon>/tests/`) in a real Odoo against real servers.

One command, one throwaway PostgreSQL 15 cluster, one fresh database per run, the servers the selected
addons need (Redis, SeaweedFS S3, Swift, a UDP statsd listener — all from `devstack`), and
`odoo-bin -i <addons> --test-tags=/<addon>,... --stop-after-init`. Odoo's log goes to
`.devstack/odoo-tests/<run>.log`; the console gets the failing tests with their tracebacks and a summary.

Exit status: 0 when every run passed (or when no Odoo 18 is found: one SKIPPED line), 1 otherwise — a test
failure or error, any ERROR/CRITICAL log line, a crash, a timeout, or no test executed although the
selected addons have tests.

    .venv/bin/python scripts/odoo_tests.py                      # every repo addon that has tests/
    .venv/bin/python scripts/odoo_tests.py --addons session_redis --keep
    .venv/bin/python scripts/odoo_tests.py --addons test_http --tags /test_http:TestSessionStore

Odoo is never installed by us: see devstack/odoo.py for where it is looked for, scripts/setup_odoo.sh for
the venv that runs it (built here on demand).
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
REPO_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
LOG_DIR = ROOT / ".devstack" / "odoo-tests"
SKIP_HINT = "(set ODOO_SRC=/path/to/odoo-18 or make odoo importable)"

# Which real servers an addon's code talks to (the install closure decides what is started).
SERVERS_NEEDED = {
    "attachment_s3": {"s3"},
    "attachment_swift": {"swift"},
    "session_redis": {"redis"},
    "monitoring_statsd": {"statsd"},
}


def _reexec_in_repo_venv() -> None:
    """devstack needs the repo's .venv (boto3, the `weed` binary…): run there whatever python started us."""
    if REPO_VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(REPO_VENV_PYTHON), [str(REPO_VENV_PYTHON), *sys.argv])


# ---------------------------------------------------------------------------------------------- addons
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
            raise SystemExit(f"odoo_tests: cannot read {manifest_path}: {exc}")
        if manifest.get("installable", True):
            found[manifest_path.parent.name] = Addon(manifest_path.parent.name, manifest_path.parent, manifest)
    return found


def closure(names: list[str], known: dict[str, Addon]) -> list[str]:
    """`names` plus every dependency among `known` addons (others are Odoo's: base, web…)."""
    seen: list[str] = []

    def visit(name: str) -> None:
        if name in seen or name not in known:
            return
        for dep in known[name].depends:
            visit(dep)
        seen.append(name)

    for name in names:
        visit(name)
    return seen


# ---------------------------------------------------------------------------------------------- servers
@dataclass
class Servers:
    base_dir: Path
    wanted: set[str]
    started: dict = field(default_factory=dict)
    seconds: float = 0.0

    def start(self) -> None:
        import devstack

        factories = {
            "postgres": lambda: devstack.PostgresServer(self.base_dir),
            "redis": lambda: devstack.RedisServer(self.base_dir),
            "s3": lambda: devstack.SeaweedFSServer(self.base_dir),
            "swift": lambda: devstack.SwiftServer(self.base_dir),
            "statsd": lambda: devstack.StatsdListener(),
        }
        errors: list[str] = []
        t0 = time.monotonic()

        def run(kind: str) -> None:
            try:
                server = factories[kind]()
                server.start()
                self.started[kind] = server
            except Exception as exc:  # reported below, all at once
                errors.append(f"{kind}: {exc}")

        threads = [threading.Thread(target=run, args=(kind,), daemon=True) for kind in sorted(self.wanted | {"postgres"})]
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
        """The DESIGN §3 variables pointing at our servers, every feature switched on."""
        env = {"RUNNING_ENV": "dev"}
        if "s3" in self.started:
            s3 = self.started["s3"]
            bucket = f"odoo-tests-{dbname}".replace("_", "-").lower()
            s3.create_bucket(bucket)
            env.update({
                "AWS_HOST": s3.endpoint_url, "AWS_REGION": s3.region, "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_BUCKETNAME": bucket,
            })
        if "swift" in self.started:
            swift = self.started["swift"]
            env.update({
                "SWIFT_AUTH_URL": swift.auth_url, "SWIFT_ACCOUNT": swift.user, "SWIFT_PASSWORD": swift.key,
                "SWIFT_WRITE_CONTAINER": f"odoo-tests-{dbname}".replace("_", "-").lower(),
            })
        if "redis" in self.started:
            redis = self.started["redis"]
            env.update({
                "ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": redis.host,
                "ODOO_SESSION_REDIS_PORT": str(redis.port), "ODOO_SESSION_REDIS_PREFIX": f"odoo-tests-{dbname}",
            })
        if "statsd" in self.started:
            statsd = self.started["statsd"]
            env.update({
                "ODOO_STATSD": "1", "STATSD_HOST": statsd.host, "STATSD_PORT": str(statsd.port),
                "STATSD_CUSTOMER": "odoo-tests", "STATSD_ENVIRONMENT": "test",
            })
        return env


# ---------------------------------------------------------------------------------------------- log parsing
_TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) (?P<db>\S+) (?P<logger>[^:\s]+): (?P<msg>.*)$")
_SUMMARY = re.compile(r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<tests>\d+) tests when loading database")
_BAD_LEVELS = {"ERROR", "CRITICAL"}


@dataclass
class LogRecord:
    level: str
    logger: str
    message: str
    extra: list[str] = field(default_factory=list)  # traceback / continuation lines


def parse_line(line: str) -> LogRecord | None:
    """A record from Odoo's text format or from a JSON log line (logging_json); None for continuations."""
    stripped = line.rstrip("\n")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            level = str(data.get("levelname") or data.get("level") or "INFO").upper()
            record = LogRecord(level, str(data.get("logger") or data.get("name") or "?"),
                               str(data.get("message") or data.get("msg") or ""))
            for key in ("exc_info", "traceback", "stack_info"):
                if data.get(key):
                    record.extra.extend(str(data[key]).splitlines())
            return record
    match = _TEXT_LINE.match(stripped)
    if match:
        return LogRecord(match["level"], match["logger"], match["msg"])
    return None


@dataclass
class RunResult:
    name: str
    returncode: int | None = None
    tests: int | None = None
    failed: int = 0
    errors: int = 0
    bad_records: list[LogRecord] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    log_path: Path | None = None

    @property
    def ok(self) -> bool:
        return (self.returncode == 0 and not self.timed_out and self.tests is not None
                and not self.failed and not self.errors and not self.bad_records)


class LogWatcher:
    """Consumes Odoo's output line by line: keeps the ERROR/CRITICAL records with their tracebacks."""

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
        summary = _SUMMARY.search(record.message)
        if summary:
            self.result.tests = int(summary["tests"])
            self.result.failed = int(summary["failed"])
            self.result.errors = int(summary["errors"])
        if record.level in _BAD_LEVELS and not summary:
            self.result.bad_records.append(record)
            self._current = record
            if not self.echo:
                print(f"  {record.level} {record.logger}: {record.message[:300]}", flush=True)
        else:
            self._current = None
        if not self.echo and record.logger == "odoo.tests.stats":
            print(f"  {record.message}", flush=True)


# ---------------------------------------------------------------------------------------------- odoo-bin
def run_odoo(argv: list[str], env: dict[str, str], result: RunResult, timeout: float, echo: bool) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    result.log_path = LOG_DIR / f"{result.name}.log"
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
        except KeyboardInterrupt:
            _kill_group(proc, result)
            raise
        finally:
            timer.cancel()
    result.seconds = time.monotonic() - t0


def _kill_group(proc: subprocess.Popen, result: RunResult) -> None:
    if proc.poll() is None:
        result.timed_out = True
        with_signal = [signal.SIGTERM, signal.SIGKILL]
        for sig in with_signal:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue


def ensure_odoo_venv(odoo_python_hint: str) -> Path:
    """scripts/setup_odoo.sh is idempotent (hash marker): ~0.1 s when the venv is current."""
    env = dict(os.environ, PYTHON=odoo_python_hint)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup_odoo.sh")], env=env, capture_output=True, text=True)
    python = ROOT / ".venvs" / "odoo" / "bin" / "python"
    if proc.returncode != 0 or not python.exists():
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("odoo_tests: scripts/setup_odoo.sh failed: cannot build .venvs/odoo (see above)")
    if "up to date" not in proc.stdout:  # it (re)built the venv: say so
        sys.stdout.write(proc.stdout)
    return python


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addons", help="comma-separated addons to install and test (default: every repo addon with tests/)")
    parser.add_argument("--tags", help="--test-tags for odoo-bin (default: /<addon> for each selected addon)")
    parser.add_argument("--extra-addons-path", action="append", default=[],
                        help="another directory of addons (e.g. a scratch addon); its addons can be named in --addons")
    parser.add_argument("--load", help="extra server-wide modules for --load (base,web and the selected addons' post_load ones are always there)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for odoo-bin (repeatable)")
    parser.add_argument("--servers", help="comma-separated servers to start in addition: redis,s3,swift,statsd")
    parser.add_argument("--demo", action="store_true", help="load demo data (slower install)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (PostgreSQL cluster, filestore, server logs)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before odoo-bin is killed (default 1800)")
    parser.add_argument("-v", "--verbose", action="store_true", help="stream Odoo's whole log")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from devstack.odoo import addons_paths, find_odoo, odoo_command

    python_hint = os.environ.get("PYTHON", "python3")
    odoo_root, reason = find_odoo(python_hint)
    if odoo_root is None:
        print(f"Odoo tests SKIPPED: {reason} {SKIP_HINT}")
        return 0

    t_start = time.monotonic()
    odoo_python = ensure_odoo_venv(python_hint)
    repo_addons = read_addons(ROOT)
    extra_dirs = [Path(p).resolve() for p in args.extra_addons_path]
    known = dict(repo_addons)
    for directory in extra_dirs:
        known.update(read_addons(directory))

    if args.addons:
        selected = [name.strip() for name in args.addons.split(",") if name.strip()]
    else:
        selected = [name for name, addon in repo_addons.items() if addon.has_tests]
        if not selected:
            print(f"odoo_tests: no repo addon has a tests/ directory yet ({', '.join(repo_addons) or 'no addons'})")
            print("odoo: 0 passed, 0 failed")
            return 0
    ours = closure(selected, known)
    with_tests = [name for name in selected if name in known and known[name].has_tests]
    tags = args.tags or ",".join(f"/{name}" for name in (with_tests or selected))
    wanted = set()
    for name in ours:
        wanted |= SERVERS_NEEDED.get(name, set())
    if args.servers:
        wanted |= {s.strip() for s in args.servers.split(",") if s.strip()}
    server_wide = ["base", "web"] + [name for name in ours if known[name].server_wide]
    if args.load:
        server_wide += [m.strip() for m in args.load.split(",") if m.strip() and m.strip() not in server_wide]

    run_dir = Path(tempfile.mkdtemp(prefix="odoo-tests-", dir=os.environ.get("ODOO_TESTS_TMPDIR")))
    servers = Servers(run_dir, wanted)
    result = RunResult(name="odoo-tests")
    dbname = f"odoo_tests_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    print(f"odoo_tests: {reason}; addons {', '.join(selected)}; servers postgres {' '.join(sorted(wanted))}", flush=True)
    try:
        servers.start()
        pg = servers.started["postgres"]
        from devstack._process import free_port

        env = dict(os.environ)
        env.update(servers.environment(dbname))
        for item in args.env:
            name, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"odoo_tests: --env expects NAME=VALUE, got {item!r}")
            env[name] = value
        env.pop("ODOO_PY_COLORS", None)
        (run_dir / "odoo.conf").write_text("[options]\n", encoding="utf-8")
        addons_path = ",".join(str(p) for p in [*addons_paths(odoo_root), ROOT, *extra_dirs])
        command = [
            *odoo_command(odoo_root, odoo_python),
            f"--config={run_dir / 'odoo.conf'}", f"--data-dir={run_dir / 'data'}",
            "-d", dbname, f"--db_host={pg.host}", f"--db_port={pg.port}", f"--db_user={pg.user}",
            f"--addons-path={addons_path}", f"--load={','.join(server_wide)}",
            "-i", ",".join(selected), f"--test-tags={tags}", "--stop-after-init",
            "--http-interface=127.0.0.1", f"--http-port={free_port()}", f"--gevent-port={free_port()}",
            "--max-cron-threads=0", "--workers=0", "--log-level=info",
        ]
        if not args.demo:
            command.append("--without-demo=all")
        print(f"odoo_tests: servers ready in {servers.seconds:.1f} s; running odoo-bin -d {dbname} -i {','.join(selected)} "
              f"--test-tags={tags} --load={','.join(server_wide)} (log: {LOG_DIR / (result.name + '.log')})", flush=True)
        run_odoo(command, env, result, args.timeout, args.verbose)
        if "statsd" in servers.started:
            packets = servers.started["statsd"].packets(timeout=0.2, min_count=0)
            print(f"odoo_tests: statsd listener received {len(packets)} packets during the run")
    finally:
        servers.stop()
        if args.keep:
            print(f"odoo_tests: run directory kept: {run_dir} (PostgreSQL cluster, filestore, server logs)")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)

    return report(result, expect_tests=bool(with_tests), total_seconds=time.monotonic() - t_start)


def report(result: RunResult, *, expect_tests: bool, total_seconds: float) -> int:
    for record in result.bad_records:
        print(f"\n--- {record.level} {record.logger}: {record.message}")
        lines = record.extra
        if len(lines) > 80:
            lines = lines[:20] + [f"... ({len(lines) - 60} lines cut, see the log) ..."] + lines[-40:]
        for line in lines:
            print(f"    {line}")
    problems = []
    if result.timed_out:
        problems.append("odoo-bin timed out and was killed")
    if result.returncode not in (0, None) and not result.timed_out:
        problems.append(f"odoo-bin exited with status {result.returncode}")
    if result.tests is None:
        problems.append("no test summary in Odoo's log (crash before the tests ran?)")
    elif expect_tests and result.tests == 0:
        problems.append("no test was executed although the selected addons have tests (wrong --tags?)")
    if result.bad_records:
        problems.append(f"{len(result.bad_records)} ERROR/CRITICAL log record(s)")
    tests = result.tests or 0
    passed = max(tests - result.failed - result.errors, 0)
    print(f"\nodoo_tests: {tests} tests, {result.failed} failed, {result.errors} error(s); odoo-bin {result.seconds:.1f} s, "
          f"total {total_seconds:.1f} s; log {result.log_path}")
    for problem in problems:
        print(f"odoo_tests: FAILED: {problem}")
    ok = result.ok and not problems
    print(f"odoo: {passed} passed, {result.failed + result.errors} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    _reexec_in_repo_venv()
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
