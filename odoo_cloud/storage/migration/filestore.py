"""Odoo's local filestore, as Odoo 18 lays it out: ``<filestore>/<sha[:2]>/<sha>``.

Writes go through a temporary file and a rename so that a process killed mid-write never leaves a
truncated file that a later run would take for a complete copy, and are made durable (the file, then
its directory, fsynced) before `write` returns: the engine commits the switch right after, and that
commit lets the old copy be collected, so a power loss must not leave the row pointing at a file
the kernel had not written yet. New files are put on Odoo's GC checklist
(``<filestore>/checklist/<fname>``) exactly like core ``_file_write`` does, so a switch that never
commits leaves nothing behind once Odoo's own filestore GC runs.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from ...errors import DataIntegrity


class FilestoreError(DataIntegrity):
    """A local file a row refers to cannot be used (unreadable, other content): the row keeps its copy."""


class MissingFile(FilestoreError):
    """The local file a row refers to is gone."""


class Filestore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def full_path(self, fname: str) -> Path:
        # the same sanitising as core _full_path: no dots, no leading/trailing slashes
        return self.root / re.sub(r"[.]", "", fname).strip("/\\")

    @staticmethod
    def fname_for(sha1: str) -> str:
        return f"{sha1[:2]}/{sha1}"

    def size(self, fname: str) -> int:
        """Bytes a read of `fname` brings into memory (0 when it cannot be read: the read says why)."""
        try:
            return self.full_path(fname).stat().st_size
        except OSError:
            return 0

    def read(self, fname: str) -> bytes:
        path = self.full_path(fname)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise MissingFile(f"missing local file {path}") from None
        except OSError as exc:
            raise FilestoreError(f"cannot read local file {path}: {exc}") from None

    def write(self, data: bytes, sha1: str) -> str:
        """Store `data` under its sha1 and return the store_fname; an existing identical file is kept."""
        fname = self.fname_for(sha1)
        path = self.full_path(fname)
        if path.exists():
            if _sha1_of_file(path) == sha1:
                _fsync_path(path)  # written by an earlier run or by Odoo: maybe still only in the page cache
                _fsync_path(path.parent)
                return fname
            raise FilestoreError(f"{path} exists with other content than sha1 {sha1} "
                                 "(collision or corruption)")
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            _fsync_path(path.parent.parent)  # the new shard directory's entry
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_path(path.parent)  # the rename itself
        self.mark_for_gc(fname)
        written = _sha1_of_file(path)
        if written != sha1:
            raise FilestoreError(f"{path} reads back with sha1 {written}, expected {sha1}")
        return fname

    # -- Odoo's GC checklist ---------------------------------------------------------------------------
    def checklist_path(self, fname: str) -> Path:
        return self.root / "checklist" / re.sub(r"[.]", "", fname).strip("/\\")

    def mark_for_gc(self, fname: str) -> None:
        path = self.checklist_path(fname)
        try:
            path.touch()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def checklist(self) -> list[str]:
        base = self.root / "checklist"
        if not base.is_dir():
            return []
        return sorted(f"{d.name}/{f.name}" for d in base.iterdir() if d.is_dir() for f in d.iterdir())

    def remove(self, fname: str) -> bool:
        """Unlink a file no row references any more."""
        try:
            self.full_path(fname).unlink()
            return True
        except FileNotFoundError:
            return False

    def unmark(self, fname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.checklist_path(fname).unlink()

    def remove_empty_dirs(self) -> None:
        """Drop the emptied shard directories (``ab/``) of the filestore and of its checklist."""
        for base in (self.root, self.root / "checklist"):
            if not base.is_dir():
                continue
            for shard in base.iterdir():
                if shard.is_dir() and len(shard.name) == 2:
                    with contextlib.suppress(OSError):
                        shard.rmdir()  # only succeeds when empty
        with contextlib.suppress(OSError):
            (self.root / "checklist").rmdir()


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes the names created in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha1_of_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
