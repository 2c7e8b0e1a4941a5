"""Issue 10 item 4: migration memory is budgeted on the bytes read, not on `file_size`.

Rows written by other tools may have `file_size` NULL: the budget used to count them as 0 bytes, so a
batch read every file at once (40 x 10 MiB peaked at 617 MiB against 327 MiB with sizes). The command
runs in a subprocess on the real PostgreSQL; its own peak RSS (VmHWM: `ru_maxrss` would carry pytest's
size into the child, see devstack/memory.py) is compared between the two cases.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from devstack.memory import PRINT_PEAK_AT_EXIT, peak_from_stderr

REPO = Path(__file__).resolve().parents[2]
COUNT = 40
SIZE = 10 * 1024 * 1024
MiB = 1024 * 1024

RUN_AND_REPORT_PEAK = PRINT_PEAK_AT_EXIT + """
import sys
from odoo_cloud.storage.migration.cli import main
sys.exit(main(sys.argv[1:]))
"""


def seed_files(conn, filestore: Path, *, with_sizes: bool) -> dict[int, str]:
    """COUNT distinct 10 MiB files in the filestore, rows pointing at them (file_size NULL or not);
    returns id -> md5 of the content (PostgreSQL 15 has md5() but no sha1())."""
    expected = {}
    with conn.cursor() as cur:
        cur.execute("TRUNCATE ir_attachment")
        for n in range(1, COUNT + 1):
            data = os.urandom(SIZE)
            sha = hashlib.sha1(data).hexdigest()
            path = filestore / sha[:2] / sha
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            cur.execute("INSERT INTO ir_attachment (id, name, type, store_fname, checksum, file_size,"
                        " mimetype) VALUES (%s, %s, 'binary', %s, %s, %s, 'application/octet-stream')",
                        (n, f"big-{n}", f"{sha[:2]}/{sha}", sha, SIZE if with_sizes else None))
            expected[n] = hashlib.md5(data).hexdigest()
    conn.commit()
    return expected


def migrate_to_db(dsn: str, filestore: Path) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr) of `migrate --to db` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWIFT_"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", RUN_AND_REPORT_PEAK, "--to", "db", "--dsn", dsn,
                           "--filestore", str(filestore)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert "PEAK_RSS_KIB" in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, peak_from_stderr(proc.stderr) * 1024, proc.stderr


def check_in_db(conn, expected: dict[int, str]) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT id, store_fname, file_size, md5(db_datas) FROM ir_attachment ORDER BY id")
        got = {row[0]: row[1:] for row in cur.fetchall()}
    conn.commit()
    assert got == {i: (None, SIZE, md5) for i, md5 in expected.items()}


def test_null_file_size_is_budgeted_like_known_sizes(attachment_db, filestore):
    dsn, conn = attachment_db
    peaks = {}
    for with_sizes in (True, False):
        expected = seed_files(conn, filestore, with_sizes=with_sizes)
        code, peak, err = migrate_to_db(dsn, filestore)
        assert code == 0, err[-3000:]
        check_in_db(conn, expected)
        peaks[with_sizes] = peak
    print(f"peak RSS with sizes {peaks[True] / MiB:.0f} MiB, with NULL sizes {peaks[False] / MiB:.0f} MiB")
    # same budget whatever the rows say: within 15% (+16 MiB of noise) of the run with sizes, far from
    # the 40 x 10 MiB the old code held at once
    assert peaks[False] <= peaks[True] * 1.15 + 16 * MiB, peaks


def test_a_file_larger_than_its_row_says_is_charged_what_was_read(attachment_db, filestore):
    """A file_size that lies (smaller than the file) must not let a batch read more than the budget."""
    dsn, conn = attachment_db
    expected = seed_files(conn, filestore, with_sizes=True)
    with conn.cursor() as cur:
        cur.execute("UPDATE ir_attachment SET file_size = 1")
    conn.commit()
    code, lying, err = migrate_to_db(dsn, filestore)
    assert code == 0, err[-3000:]
    check_in_db(conn, expected)
    expected = seed_files(conn, filestore, with_sizes=True)
    code, honest, err = migrate_to_db(dsn, filestore)
    assert code == 0, err[-3000:]
    print(f"peak RSS with true sizes {honest / MiB:.0f} MiB, with file_size = 1: {lying / MiB:.0f} MiB")
    assert lying <= honest * 1.15 + 16 * MiB, (lying, honest)

