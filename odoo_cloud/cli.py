"""`odoo-cloud`: the command line of the core, usable where Odoo is not installed.

`check` runs the same per-environment rules as Odoo's cloud_platform from the
process environment alone, so a deploy pipeline or an init container stops a
bad rollout before Odoo refuses to load the database. `migrate` belongs to the
migration engine and is imported only when asked for: `check` must keep
working in an image where the migration's dependencies are absent or broken.

Exit codes: 0 all good, 1 configuration problems, 2 usage error,
3 configuration fine but a `--connect` probe failed, 4 the command itself crashed
(a bug: one line on stderr, then the traceback) — distinct from 1 so that a
pipeline never mistakes a broken tool for a broken configuration.
"""
from __future__ import annotations

import argparse
import configparser
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, TextIO

from .config.platform import DEFAULT_SOURCE, RunningEnv, resolve_running_env
from .environments import KNOWN_ENVIRONMENTS, Report, check_environment
from .masking import mask_secrets
from .storage.backends import SCHEMES

if TYPE_CHECKING:  # pragma: no cover
    from .preflight import ProbeResult
    from .readiness import CheckResult

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_CRASH = 4
DEFAULT_TIMEOUT = 5.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds, a number > 0 and <= 600, got {text!r}")
    return value


def _add_check_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check", help="check the environment variables against the running environment's rules",
        description="Check the environment variables against the rules of the running environment "
                    "(prod, integration, test, dev) exactly as cloud_platform does when Odoo loads a "
                    "database. Exit 0: all good; 1: problems; 2: usage; 3: a --connect probe failed; "
                    "4: odoo-cloud itself crashed (a bug, traceback on stderr).")
    parser.add_argument("--env", metavar="ENV",
                        help="running environment to check for (default: exactly as server_environment: "
                             "running_env of -c FILE or $ODOO_RC, then $RUNNING_ENV if set (even empty), "
                             "else $ODOO_STAGE, used when non-empty, else 'test'); "
                             f"one of {', '.join(KNOWN_ENVIRONMENTS)}")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="Odoo configuration file (default: $ODOO_RC when it exists): its 'running_env' "
                             "option wins over $RUNNING_ENV, as with server_environment")
    parser.add_argument("--database", metavar="DB",
                        help="database name, replaces {db} in bucket/container names")
    parser.add_argument("--location", choices=("file", "db", *SCHEMES),
                        help="current ir_attachment.location, to check it too")
    parser.add_argument("--connect", action="store_true",
                        help="also ping Redis, write, read back and delete a probe object in the "
                             "bucket/container, send one statsd packet, and run the readiness checks "
                             "of /web/health/ready (PostgreSQL from -c FILE's db_* options or the PG* "
                             "variables, Redis, the write bucket/container)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (running_env, problems, probes, exit_code) "
                             "instead of text")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds allowed to each --connect probe (default {DEFAULT_TIMEOUT:g})")


def _add_optional_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], command: str,
                         module: str) -> Optional[str]:
    """Register `command` from `module` (it needs psycopg2 and the store clients, which `check` does
    not); None, or why the command is unavailable: its help says so instead of the whole CLI failing."""
    try:
        commands = importlib.import_module(module, __package__)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        subparsers.add_parser(command, help=f"(unavailable: {reason})")
        return reason
    commands.add_parser(subparsers)
    return None


def build_parser(with_migrate: bool = True) -> tuple[argparse.ArgumentParser, Optional[str]]:
    parser = argparse.ArgumentParser(
        prog="odoo-cloud", description="Pre-flight checks and maintenance of the Odoo Cloud Addons.",
        epilog=f"An unexpected error (a bug in odoo-cloud, not in your configuration) exits {EXIT_CRASH} "
               "with a one-line message and the traceback on stderr.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_check_parser(subparsers)
    migrate_unavailable = None
    if with_migrate:
        migrate_unavailable = _add_optional_parser(subparsers, "migrate", ".storage.migration.cli")
        _add_optional_parser(subparsers, "fsck", ".storage.fsck_cli")
    return parser, migrate_unavailable


# ---------------------------------------------------------------- check
def print_report(report: Report, out: TextIO, source: str) -> None:
    out.write(f"running_env: {report.running_env} ({source})\n")
    for note in report.notes:
        out.write(mask_secrets(f"note: {note}") + "\n")
    if report.store:
        out.write(f"object store: {report.store}\n")
    for problem in report.problems:
        out.write(mask_secrets(f"PROBLEM {problem}") + "\n")
    if report.problems:
        out.write(f"{len(report.problems)} problem(s): fix them or set ODOO_CLOUD_PLATFORM_UNSAFE=1 "
                  f"to let Odoo start anyway\n")
    else:
        out.write("configuration OK\n")


#: config-file values Odoo 18 turns into booleans (``load()``) while Odoo 19 keeps the text
_SERIES_DEPENDENT_VALUES = ("True", "true", "False", "false")


def running_env_from_config(path: str) -> Optional[str]:
    """`running_env` of an Odoo configuration file's [options] as Odoo reads it (None when absent/empty).

    Odoo reads the file with RawConfigParser (surrounding blanks stripped). A boolean-looking value is
    refused: Odoo 18 reads it as a boolean (``false``: ignored, then the variables decide; ``true``: True)
    and Odoo 19 as text, so no answer would be right on both series.
    """
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as error:
        raise ValueError(f"cannot read Odoo configuration {path}: {error}") from None
    value = parser.get("options", "running_env", fallback="")
    if value in _SERIES_DEPENDENT_VALUES:
        raise ValueError(f"running_env in {path} is {value!r}: Odoo 18 reads that as a boolean and Odoo 19 "
                         f"as text; expected one of {', '.join(KNOWN_ENVIRONMENTS)}")
    return value or None


def config_file(args: argparse.Namespace, environ: Mapping[str, str]) -> Optional[str]:
    """The Odoo configuration file Odoo would read: -c FILE, else $ODOO_RC when that file exists
    (Odoo 18 and 19 both fall back to ODOO_RC; ~/.odoorc is not looked at)."""
    if args.config:
        return str(args.config)
    odoo_rc = environ.get("ODOO_RC")
    return odoo_rc if odoo_rc and os.path.isfile(odoo_rc) else None


def resolve_check_env(args: argparse.Namespace, environ: Mapping[str, str]) -> RunningEnv:
    """What `check` judges: --env when given, else exactly server_environment's resolution."""
    if args.env:
        return RunningEnv(args.env, "--env")
    path = config_file(args, environ)
    value = running_env_from_config(path) if path else None
    return resolve_running_env(environ, value, f"running_env in {path}")


def run_check(args: argparse.Namespace, environ: Optional[Mapping[str, str]] = None,
              out: TextIO = sys.stdout) -> int:
    environ = os.environ if environ is None else environ
    try:
        resolved = resolve_check_env(args, environ)
    except ValueError as error:
        sys.stderr.write(f"odoo-cloud check: {error}\n")
        return EXIT_USAGE
    # the default is left to check_environment: it resolves it the same way and says why in a note
    running_env = None if resolved.source == DEFAULT_SOURCE else resolved.value
    report = check_environment(running_env, environ, location=args.location, dbname=args.database,
                               running_env_variable=resolved.source)
    # probing with a wrong configuration could write a probe object into another environment's bucket
    probes = _probes(report, args) if args.connect and not report.problems else []
    ready = _readiness(report, args, environ) if args.connect and not report.problems else []
    if report.problems:
        code = EXIT_PROBLEMS
    elif any(probe.ok is False for probe in probes) or any(not result.ok for result in ready):
        code = EXIT_UNREACHABLE
    else:
        code = EXIT_OK
    if args.json:
        data = _as_json(report, probes, args.connect, code)
        data["readiness"] = ([{"name": r.name, "status": r.status, "reason": r.reason,
                               "seconds": round(r.seconds, 3), "detail": r.detail} for r in ready]
                             if args.connect else None)
        out.write(json.dumps(data) + "\n")
    else:
        _print_text(report, probes, args.connect, out, ready)
    return code


def _probes(report: Report, args: argparse.Namespace) -> list[ProbeResult]:
    from .storage import ownership

    # the stores' non-prod guard must judge the environment being checked, not the variables alone
    previous = ownership.set_running_env(report.running_env)
    try:
        return _run_probes(report, args)
    finally:
        ownership.set_running_env(previous)


def _run_probes(report: Report, args: argparse.Namespace) -> list[ProbeResult]:
    from . import preflight

    # the store probe's write goes through the stores' non-prod guard: never into prod's bucket
    return [
        preflight.probe_redis(report.settings, args.timeout),
        preflight.probe_store(report.settings, report.store, args.timeout, args.database),
        preflight.probe_ownership(report.settings, report.store, report.running_env, args.timeout,
                                  args.database),
        preflight.probe_statsd(report.settings, report.running_env, args.timeout),
    ]


def _readiness(report: Report, args: argparse.Namespace, environ: Mapping[str, str]) -> list[CheckResult]:
    """The checks of ``GET /web/health/ready``, run once from here (same code, same timeouts)."""
    from dataclasses import replace

    from . import readiness

    settings = replace(report.settings, readiness=replace(report.settings.readiness, timeout=args.timeout))
    postgres = _postgres_connect(args, environ, args.timeout)
    checks = readiness.readiness_checks(settings, postgres, args.database)
    return readiness.run_checks(checks, args.timeout)


def _postgres_connect(args: argparse.Namespace, environ: Mapping[str, str],
                      timeout: float) -> Optional[Callable[[], None]]:
    """A ``SELECT 1`` on the server of -c FILE's db_* options (else libpq's PG* variables); None when
    neither says where PostgreSQL is (an init container may not know it)."""
    options: dict[str, str] = {}
    if args.config:
        parser = configparser.RawConfigParser()
        try:
            with open(args.config, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (OSError, configparser.Error):
            return None
        for option, keyword in (("db_host", "host"), ("db_port", "port"), ("db_user", "user"),
                                ("db_password", "password"), ("db_sslmode", "sslmode")):
            value = parser.get("options", option, fallback="").strip()
            if value and value.lower() not in ("false", "none"):
                options[keyword] = value
    if not options and not any(environ.get(name) for name in ("PGHOST", "PGPORT", "PGUSER")):
        return None

    def select_one() -> None:
        import psycopg2

        connection = psycopg2.connect(dbname="postgres", connect_timeout=max(1, int(timeout + 0.999)),
                                      **options)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connection.close()

    return select_one


def _print_text(report: Report, probes: list[ProbeResult], connect: bool, out: TextIO,
                ready: Sequence[CheckResult] = ()) -> None:
    print_report(report, out, report.running_env_source)
    if not connect:
        return
    if report.problems:
        out.write("connection probes skipped: fix the configuration first "
                  "(a probe could write into the wrong bucket)\n")
        return
    for probe in probes:
        timing = "" if probe.ok is None else f" ({probe.seconds:.2f} s)"
        out.write(mask_secrets(f"connect {probe.name}: {probe.status}{timing} {probe.detail}") + "\n")
    for result in ready:  # the checks of /web/health/ready
        reason = f" ({result.reason})" if result.reason else ""
        out.write(mask_secrets(f"ready {result.name}: {result.status}{reason} ({result.seconds:.2f} s) "
                               f"{result.detail}") + "\n")
    failed = [probe for probe in probes if probe.ok is False]
    not_ready = [result for result in ready if not result.ok]
    if failed:
        out.write(f"{len(failed)} connection probe(s) failed\n")
    elif not_ready:
        out.write(f"{len(not_ready)} readiness check(s) failed\n")
    else:
        out.write("connections OK\n")


def _as_json(report: Report, probes: list[ProbeResult], connect: bool, code: int) -> dict[str, Any]:
    """One object for scripts: what the text output says, nothing more (no secrets there either)."""
    return {
        "running_env": report.running_env,
        "running_env_source": report.running_env_source,
        "store": report.store,
        "expected_location": report.expected_location,
        "project": report.project,
        "ok": code == EXIT_OK,
        "exit_code": code,
        "problems": [{"variable": p.variable, "found": mask_secrets(p.found), "expected": p.expected}
                     for p in report.problems],
        "notes": [mask_secrets(note) for note in report.notes],
        "probes": [{"name": p.name, "status": p.status, "seconds": round(p.seconds, 3),
                    "detail": mask_secrets(p.detail)} for p in probes] if connect else None,
    }


# ---------------------------------------------------------------- entry point
def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    except Exception as error:
        report_crash(error, sys.stderr)
        return EXIT_CRASH


def report_crash(error: BaseException, err: TextIO) -> None:
    """One line saying it is our bug, then the traceback, URL passwords masked (exception messages
    may quote a connection URL)."""
    summary = " ".join(mask_secrets(f"{type(error).__name__}: {error}").split())
    err.write(f"odoo-cloud: unexpected error, a bug in odoo-cloud (not a configuration problem): "
              f"{summary}\n")
    err.write(mask_secrets("".join(traceback.format_exception(error))))
    err.flush()


def _main(argv: Optional[Sequence[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `check` never imports the migration engine
    parser, migrate_unavailable = build_parser(with_migrate=not argv or argv[0] != "check")
    if argv[:1] == ["migrate"] and migrate_unavailable:
        sys.stderr.write(f"odoo-cloud migrate is unavailable: {migrate_unavailable}\n")
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: usage errors and --help
        return int(exit_.code or 0)
    if args.command == "check":
        return run_check(args)
    if args.command == "migrate":
        from .storage.migration import cli as migration_cli

        return int(migration_cli.run(args))
    if args.command == "fsck":
        from .storage import fsck_cli

        return int(fsck_cli.run(args))
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
