"""Seed a real ir_attachment table the way Odoo 18 would have written it.

File-stored rows get their file at <filestore>/<sha[:2]>/<sha> and `store_fname` = that relative name;
DB-stored rows get `db_datas`. Everything is deterministic from `seed` so a test can recompute every
expected checksum.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2.extras

DDL = (Path(__file__).parent / "ir_attachment.sql").read_text()


def create_table(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(DDL)
    conn.commit()


@dataclass
class Seeded:
    expected: dict[int, str] = field(default_factory=dict)  # id -> sha1 of the content it must keep
    missing: set[int] = field(default_factory=set)           # ids whose local file was deleted
    rule_ids: set[int] = field(default_factory=set)          # small images: kept in DB by the rules
    shared: dict[str, list[int]] = field(default_factory=dict)  # sha1 -> ids sharing it


def content(i: int, size: int) -> bytes:
    rnd = random.Random(i)
    return rnd.randbytes(size)


def seed(conn, filestore: Path, count: int, *, size: int = 2048, db_share: float = 0.3,
         shared_every: int = 10, images_every: int = 15, missing: int = 0, seed_base: int = 0,
         distinct: int = 0) -> Seeded:
    """`count` binary attachments: ~db_share in the DB, the rest in the filestore; every
    `shared_every`-th row repeats the content of the previous one; every `images_every`-th is a small
    PNG (kept in DB by the default rules); `distinct` > 0 cycles through that many contents;
    `missing` local files (content no DB row shares) are deleted."""
    out = Seeded()
    rows = []
    previous = None
    file_rows: list[tuple[int, str]] = []
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM ir_attachment")
        next_id = cur.fetchone()[0] + 1
    for n in range(count):
        row_id = next_id + n
        if distinct:
            data = content(seed_base + n % distinct, size + (n % distinct % 7) * 13)
        elif shared_every and n % shared_every == shared_every - 1 and previous is not None:
            data = previous
        else:
            data = content(seed_base + n, size + (n % 7) * 13)
        previous = data
        sha = hashlib.sha1(data).hexdigest()
        mimetype = "image/png" if images_every and n % images_every == 0 else "application/octet-stream"
        in_db = (n * 7919 % 100) < db_share * 100
        if in_db:
            store_fname, db_datas = None, data
        else:
            store_fname = f"{sha[:2]}/{sha}"
            path = filestore / store_fname
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(data)
            db_datas = None
            file_rows.append((row_id, store_fname))
        out.expected[row_id] = sha
        out.shared.setdefault(sha, []).append(row_id)
        if mimetype == "image/png":
            out.rule_ids.add(row_id)
        rows.append((row_id, f"file-{row_id}.bin", "res.partner", row_id % 50 + 1, "binary", store_fname,
                     psycopg2.Binary(db_datas) if db_datas is not None else None, len(data), sha, mimetype))
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur,
            """INSERT INTO ir_attachment (id, name, res_model, res_id, type, store_fname, db_datas, file_size,
                                          checksum, mimetype, create_date, write_date) VALUES %s""",
            rows, template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())", page_size=500,
        )
        cur.execute("SELECT setval('ir_attachment_id_seq', (SELECT max(id) FROM ir_attachment))")
    conn.commit()
    # lose some local files: every row sharing that content then points at a missing file
    rnd = random.Random(4242 + seed_base)
    file_ids = dict(file_rows)
    candidates = sorted(sha for sha, ids in out.shared.items() if all(i in file_ids for i in ids))
    for sha in rnd.sample(candidates, missing) if missing else []:
        (filestore / file_ids[out.shared[sha][0]]).unlink()
        out.missing.update(out.shared[sha])
    return out


def rows(conn) -> dict[int, tuple]:
    """id -> (store_fname, db_datas bytes or None, checksum, file_size)."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, store_fname, db_datas, checksum, file_size FROM ir_attachment ORDER BY id")
        return {r[0]: (r[1], bytes(r[2]) if r[2] is not None else None, r[3], r[4]) for r in cur.fetchall()}
