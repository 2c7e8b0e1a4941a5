"""`odoo-cloud fsck`: is every attachment where its row says, and what does nothing reference?

Runs without Odoo (psycopg2 + the configured store), like `odoo-cloud migrate`. Read-only unless a
repair is asked for AND `--apply` is given: `--delete-orphans --older-than D` hands orphans at least D
old (never less than the GC grace period) to the GC, which re-checks the references under lock and
deletes through its guarded path; `--reupload-from PATH` restores missing objects from a filestore
or dump directory when the file's sha1 is the key.

Exit status: 0 clean; 1 problems found (missing, damaged, or orphans past the grace period);
2 usage or configuration; 3 cannot check (store or database unreachable); 4 odoo-cloud crashed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

from ..cli_common import log_connect_error, setup_logging

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_CANNOT_CHECK = 3
GRACE_PARAM = "object_storage.gc.grace_seconds"
DEFAULT_GRACE = 3600.0
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_logger = logging.getLogger("odoo_cloud.storage.fsck")


def duration(text: str) -> float:
    """`3600`, `90s`, `30min`, `12h`, `7d`, `2w` -> seconds (the input is bounded by argparse's argv)."""
    match = _DURATION_RE.match(text[:64])
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 3600, 90s, 30min, 12h, 7d or 2w, got {text[:64]!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from .fsck import DEFAULT_SAMPLE, VERIFY_MODES

    parser = subparsers.add_parser(
        "fsck", help="check that every attachment is in the object store, intact; list orphans",
        description=(
            "Compare the references of the database(s) (ir_attachment.store_fname) with the objects of "
            "the write bucket/container configured by the environment (AWS_*, SWIFT_*), as a merge of "
            "two sorted streams (constant memory). Reports missing objects (data loss), damaged ones, "
            "orphans and references to other buckets. Give every database that writes to the bucket "
            "(-d several times): an object referenced by any of them is not an orphan. Exit 0: clean; "
            "1: problems found; 2: usage/configuration; 3: cannot check (store or database unreachable)."))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-d", "--database", action="append", dest="databases", metavar="DB",
                       help="database name (repeatable; other parameters from PG* variables)")
    where.add_argument("--dsn", action="append", dest="dsns", metavar="DSN",
                       help="libpq connection string or URI (repeatable)")
    parser.add_argument("--verify", choices=VERIFY_MODES, default="size",
                        help="size (default: from the listing, no download) or checksum (download every "
                             "referenced object and compare its sha1)")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                        help=f"examples kept per finding (default {DEFAULT_SAMPLE})")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--progress-interval", type=duration, default=10.0, metavar="D",
                        help="time between progress lines on stderr (default 10s)")
    parser.add_argument("--delete-orphans", action="store_true",
                        help="hand orphans older than --older-than to the GC (with --apply)")
    parser.add_argument("--older-than", type=duration, metavar="D",
                        help="minimum age of an orphan to delete; never less than the GC grace period")
    parser.add_argument("--reupload-from", type=Path, metavar="PATH",
                        help="restore missing objects from this filestore or dump directory (with --apply)")
    parser.add_argument("--apply", action="store_true",
                        help="carry out the repairs asked for (default: dry run, only say what would happen)")
    parser.set_defaults(command="fsck")
    return parser


def _connect(args: argparse.Namespace) -> list[tuple[str, Any]]:
    import psycopg2

    connections = []
    for dsn in args.dsns or []:
        connection = psycopg2.connect(dsn)
        connections.append((connection.info.dbname, connection))
    for name in args.databases or []:
        connections.append((name, psycopg2.connect(dbname=name)))
    return connections


def _connector(args: argparse.Namespace) -> Any:
    """Opens another database of the same server with the parameters of the first one given."""
    import psycopg2
    from psycopg2.extensions import make_dsn

    def connect(dbname: str) -> Any:
        if args.dsns:
            return psycopg2.connect(make_dsn(args.dsns[0], dbname=dbname))
        return psycopg2.connect(dbname=dbname)

    return connect


def grace_seconds(connection: Any) -> float:
    """The GC grace period the database configured (ir_config_parameter), else the default."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('ir_config_parameter') IS NOT NULL")
        row = None
        if cursor.fetchone()[0]:
            cursor.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (GRACE_PARAM,))
            row = cursor.fetchone()
    connection.rollback()
    try:
        return float(row[0]) if row else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE


def run(args: argparse.Namespace, environ: Optional[dict[str, str]] = None) -> int:
    setup_logging(_logger)
    if args.older_than is not None and not args.delete_orphans:
        _logger.error("--older-than only goes with --delete-orphans")
        return EXIT_USAGE
    if args.delete_orphans and args.older_than is None:
        _logger.error("--delete-orphans needs --older-than DURATION (e.g. 7d)")
        return EXIT_USAGE
    if args.sample < 0:
        _logger.error("--sample must be >= 0")
        return EXIT_USAGE
    store = _build_store(args, os.environ if environ is None else environ)
    if isinstance(store, int):
        return store
    try:
        connections = _connect(args)
    except Exception as exc:  # psycopg2.OperationalError
        log_connect_error(_logger, exc)
        return EXIT_CANNOT_CHECK
    try:
        return _check_and_repair(args, store, connections)
    finally:
        for _name, connection in connections:
            connection.close()


def _build_store(args: argparse.Namespace, environ: Any) -> Any:
    from ..config import ConfigError, load_settings
    from . import backends
    from .errors import StorageError
    from .factory import build_store, configured_scheme

    try:
        settings = load_settings(environ)
    except ConfigError as exc:
        _logger.error("%s", exc)
        return EXIT_USAGE
    scheme = settings.platform.storage or configured_scheme(settings)
    if scheme is None:
        _logger.error("no object store configured: set %s", backends.bucket_variables())
        return EXIT_USAGE
    dbname = (args.databases or [None])[0]
    try:
        return build_store(scheme, settings, dbname)
    except (StorageError, ValueError) as exc:
        _logger.error("%s", exc)
        return EXIT_USAGE


def _check_and_repair(args: argparse.Namespace, store: Any, connections: list[tuple[str, Any]]) -> int:
    import psycopg2

    from .errors import StorageError
    from .fsck import Fsck, mark_orphans, orphans_older_than, reupload_missing

    try:
        grace = max(grace_seconds(connection) for _name, connection in connections)
        if args.delete_orphans and args.older_than < grace:
            _logger.error("--older-than %gs is younger than the GC grace period (%gs): an object that young "
                          "may belong to an upload whose row is not committed yet", args.older_than, grace)
            return EXIT_USAGE

        def progress(report: Any) -> None:
            _logger.info("fsck: %d object(s) listed, %d reference(s) read, %d missing, %d orphan(s) so far",
                         report.objects, report.references, report.missing.count, report.orphans.count)

        report = Fsck(store, connections, verify=args.verify, sample=args.sample, grace_seconds=grace,
                      progress=progress, progress_interval=args.progress_interval).run()
        if args.json:
            sys.stdout.write(json.dumps(report.as_dict()) + "\n")
        else:
            sys.stdout.write(report.summary() + "\n")
        sys.stdout.flush()
        if args.reupload_from is not None and report.missing.count:
            restored = reupload_missing(store, connections, args.reupload_from, apply=args.apply)
            verb = "restored" if args.apply else "would restore (dry run, add --apply)"
            _logger.info("fsck: %s %d missing object(s) from %s; %d not found there, %d with other bytes",
                         verb, len(restored.restored), args.reupload_from, restored.not_found,
                         len(restored.mismatched))
        if args.delete_orphans:
            _delete_orphans(args, store, connections, mark_orphans, orphans_older_than)
    except StorageError as exc:
        _logger.error("fsck cannot check %s: %s", store.prefix, exc)
        return EXIT_CANNOT_CHECK
    except psycopg2.Error as exc:
        _logger.error("fsck cannot read the database: %s", str(exc).strip())
        return EXIT_CANNOT_CHECK
    return EXIT_CLEAN if report.ok else EXIT_PROBLEMS


def _delete_orphans(args: argparse.Namespace, store: Any, connections: list[tuple[str, Any]],
                    mark_orphans: Any, orphans_older_than: Any) -> None:
    """Orphans go to the GC of the first database as candidates; its first run after the grace period
    (the autovacuum cron, or this command run again) re-checks the references and deletes them."""
    from . import gc

    name, connection = connections[0]
    if not args.apply:
        count = 0
        for obj in orphans_older_than(store, connections, args.older_than):
            count += 1
            _logger.info("fsck: would hand orphan %s (%d bytes) to the GC (dry run, add --apply)",
                         store.uri(obj.key), obj.size)
        _logger.info("fsck: %d orphan(s) older than %gs would be handed to the GC of %s", count,
                     args.older_than, name)
        return
    with connection.cursor() as cursor:
        gc.ensure_table(cursor)
    connection.commit()
    # collect first what earlier runs (or unlinks) handed over and is now past the grace period;
    # marking first would add younger candidate rows, which keep the GC's hands off those names
    # the marks wait at least the GC's safety floor, whatever the database configured
    grace = max(grace_seconds(connection), gc.MIN_GRACE_SECONDS)
    with connection.cursor() as cursor:
        # the other databases recorded in the bucket are checked by the GC itself (same cluster) or make
        # it refuse: an object one of them references is never deleted
        collected = gc.collect(cursor, store, commit=connection.commit, grace_seconds=grace,
                               connect=_connector(args))
    if collected.refused:
        _logger.warning("fsck: the GC refused to delete: %s", collected.refused)
    for fname in collected.deleted:
        _logger.info("fsck: the GC deleted %s", fname)
    marked = mark_orphans(connection, store, orphans_older_than(store, connections, args.older_than))
    _logger.info("fsck: %d orphan(s) handed to the GC of %s; they are deleted by its first run after the "
                 "grace period (%gs) if still unreferenced then; this run's collection: %s",
                 marked, name, grace, collected)
