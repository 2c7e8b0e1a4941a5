"""`odoo-cloud migrate`: move every attachment of a database to a location, from a deploy pipeline.

Runs without Odoo (plain psycopg2 + the odoo_cloud stores), so an init container can migrate before
Odoo starts, and a run killed at any point is resumed by running the same command again.

Exit status: 0 everything pending was moved; 1 some attachments could not be moved (listed in the
log, the rest was moved); 2 bad usage or configuration; 3 aborted (store or database unreachable...):
batches committed before the failure stay migrated; 4 odoo-cloud crashed (a bug, see odoo_cloud.cli);
5 nothing failed, but rows were skipped because another runner (or an Odoo transaction) held them:
their outcome is that runner's, so run again once it is done (0 then confirms everything moved).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ...cli_common import log_connect_error, positive_int, positive_seconds, setup_logging
from ...config import ConfigError, load_settings
from ...errors import Misconfigured
from ...masking import mask_secrets
from .. import backends
from ..errors import StorageError
from ..factory import build_store, configured_scheme
from ..rules import RulesError
from .db import connect
from .engine import Engine, Options
from .errors import MigrationAborted
from .filestore import Filestore
from .location import Location
from .objects import VERIFY_MODES, ObjectWriter, StoreReader
from .odoo_params import keep_in_db_rules

if TYPE_CHECKING:  # pragma: no cover
    from ...config import Settings
    from ..base import ObjectStore
    from .db import PsycopgDatabase
    from .report import Report

EXIT_OK = 0
EXIT_FAILED_ROWS = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3
EXIT_SKIPPED = 5  # (4 is odoo_cloud.cli.EXIT_CRASH)

TARGETS = ("db", "file", *backends.SCHEMES)
_logger = logging.getLogger("odoo_cloud.storage.migration")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "migrate", help="move every attachment of a database to db, file, s3 or swift (resumable)",
        description=(
            "Move every attachment of a database to the given location in committed batches: kill it "
            "and run it again to resume. Object stores are configured by the usual environment "
            "variables (AWS_*, SWIFT_*); the database by --dsn or -d plus the libpq variables (PGHOST, "
            "PGPORT, PGUSER, PGPASSWORD). Exit 0: done; 1: some attachments could not be moved; "
            "2: usage/configuration; 3: aborted (unreachable store or database); 4: odoo-cloud crashed "
            "(a bug); 5: nothing failed but rows were skipped because another runner held them (run "
            "again once it is done)."))
    parser.add_argument("--to", required=True, choices=TARGETS, dest="target",
                        help="where attachments must end up (set ir_attachment.location to the same value)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dsn", help="libpq connection string or postgresql:// URI of the database")
    where.add_argument("-d", "--database", help="database name (other parameters from PG* variables)")
    parser.add_argument("--filestore", help="this database's filestore directory "
                                            "(default: <data-dir>/filestore/<database>)")
    parser.add_argument("--data-dir", default=None,
                        help="Odoo's data_dir (default: $ODOO_DATA_DIR as Odoo 19 reads it, else "
                             "$XDG_DATA_HOME/Odoo or ~/.local/share/Odoo)")
    parser.add_argument("--batch-size", type=positive_int, default=200, help="rows per committed batch")
    parser.add_argument("--workers", type=positive_int, default=8, help="concurrent uploads/downloads")
    parser.add_argument("--limit", type=positive_int, default=None, help="move at most this many rows")
    parser.add_argument("--dry-run", action="store_true", help="only count what would move")
    parser.add_argument("--verify", choices=VERIFY_MODES, default="auto",
                        help="check of each stored object: auto (default) = the S3 server checks the "
                             "Content-MD5 of each upload, a HEAD (size + MD5 ETag) for the rest; "
                             "head = always a HEAD; read = download and compare the sha1")
    parser.add_argument("--progress-interval", type=positive_seconds, default=10.0, metavar="S",
                        help="seconds between progress lines (default 10)")
    parser.add_argument("--json", action="store_true",
                        help="print the final report as one JSON line on stdout")
    parser.set_defaults(command="migrate")
    return parser


def run(args: argparse.Namespace, environ: Optional[Mapping[str, str]] = None) -> int:
    """Run one migration as described by parsed `args`; returns the exit status."""
    setup_logging(_logger)
    environ = os.environ if environ is None else environ
    try:
        settings = load_settings(environ)
    except ConfigError as exc:
        _logger.error("%s", exc)
        return EXIT_USAGE
    if settings.storage.disabled:
        _logger.warning("DISABLE_ATTACHMENT_STORAGE is set: object storage is never touched, "
                        "migration skipped")
        return EXIT_OK
    try:
        database = connect(args.dsn) if args.dsn else connect(dbname=args.database)
    except Exception as exc:  # psycopg2.OperationalError
        log_connect_error(_logger, exc)
        return EXIT_ABORTED
    try:
        return _migrate(args, settings, database)
    finally:
        database.close()


class _UsageError(Misconfigured):
    """Bad usage or configuration, worded for the operator: exit status 2 (caught by `_migrate`)."""


def _migrate(args: argparse.Namespace, settings: Settings, database: PsycopgDatabase) -> int:
    """Plan the run from `args` and the environment, run it, and map its outcome to an exit status."""
    try:
        engine = _engine(args, settings, database)
    except _UsageError as exc:
        _logger.error("%s", exc)
        return EXIT_USAGE
    try:
        report = engine.run()
    except (MigrationAborted, StorageError) as exc:
        _logger.error("migration to %s aborted: %s (committed batches stay migrated; run again to resume)",
                      engine.target, exc)
        return EXIT_ABORTED
    except Exception as exc:
        import psycopg2

        if isinstance(exc, psycopg2.Error):
            _logger.error("migration to %s aborted by the database: %s", engine.target,
                          mask_secrets(str(exc).strip()))
            return EXIT_ABORTED
        raise
    return _exit_status(args, report)


def _engine(args: argparse.Namespace, settings: Settings, database: PsycopgDatabase) -> Engine:
    """The engine for this run: stores of every configured backend, the target, the filestore."""
    try:
        rules = keep_in_db_rules(database)
        stores = {backend.scheme: build_store(backend.scheme, settings, database.dbname)
                  for backend in backends.configured(settings)}
        writer = _object_writer(args, settings, stores)
        if writer is not None:
            target = Location.object(writer.uri_prefix, rules)
        else:
            target = Location.db() if args.target == "db" else Location.file()
    except (RulesError, ValueError, StorageError) as exc:
        raise _UsageError(str(exc)) from None
    filestore_dir = _filestore_dir(args, settings, database.dbname)
    options = Options(batch_size=args.batch_size, workers=args.workers, limit=args.limit,
                      dry_run=args.dry_run, progress_interval=args.progress_interval)
    marker = database.autonomous_marker() if target.kind == "object" and not args.dry_run else None
    return Engine(database, target, filestore=Filestore(filestore_dir), writer=writer,
                  read_object=StoreReader(stores) if stores else None, options=options,
                  mark_uploads=marker)


def _object_writer(args: argparse.Namespace, settings: Settings,
                   stores: Mapping[str, ObjectStore]) -> Optional[ObjectWriter]:
    """The writer to the bucket `--to` names; None when the target is the database or the filestore."""
    if args.target not in backends.SCHEMES:
        return None
    if args.target not in stores:
        backend = backends.get(args.target)
        raise _UsageError(f"--to {args.target} needs {backend.bucket_variable.name} (and the other "
                          f"{backend.label} variables) to be set")
    if configured_scheme(settings) != args.target:
        _logger.warning("new attachments go to %s according to the environment, not %s",
                        configured_scheme(settings), args.target)
    return ObjectWriter(stores[args.target], verify=args.verify)


def _filestore_dir(args: argparse.Namespace, settings: Settings, dbname: str) -> Path:
    """--filestore, else Odoo's <data_dir>/filestore/<db>; created and checked writable for `--to file`."""
    filestore_dir = Path(args.filestore) if args.filestore else (
        Path(args.data_dir or settings.odoo_options.data_dir) / "filestore" / dbname)
    if args.target == "file" and not args.dry_run:
        filestore_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(filestore_dir, os.W_OK):
            raise _UsageError(f"the filestore directory {filestore_dir} is not writable")
    return filestore_dir


def _exit_status(args: argparse.Namespace, report: Report) -> int:
    """Print the JSON report when asked; 0 all moved, 1 some rows failed, 5 some rows were held."""
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
        sys.stdout.flush()
    if not report.ok:
        return EXIT_FAILED_ROWS
    if report.skipped:
        _logger.warning("%d attachment(s) were skipped because another runner held them: run again once it "
                        "is done to confirm they moved (exit status %d)", report.skipped, EXIT_SKIPPED)
        return EXIT_SKIPPED
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m odoo_cloud.storage.migration")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_parser(subparsers)
    try:
        args = parser.parse_args(["migrate", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return run(args)
