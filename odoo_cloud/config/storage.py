"""Variables shared by every object store (base_attachment_object_storage)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
from ._parse import EnvReader


@dataclass(frozen=True)
class StorageSettings:
    disabled: bool
    # downloads answer a 302 to a presigned/temp URL instead of streaming through Odoo
    presigned_url: bool = False
    presigned_url_expiry: int = 300
    # in-process memory of keys known to exist (saves a round trip per write); 0 disables it
    known_keys: int = 100_000
    # host-wide local read cache of content-addressed objects: bound in bytes (0: off), where, and the
    # largest object kept (bigger ones are streamed, never cached)
    read_cache_bytes: int = 0
    read_cache_dir: Optional[str] = None
    read_cache_max_object_bytes: int = 8 * 1024 * 1024


def read(env: EnvReader) -> StorageSettings:
    return StorageSettings(
        disabled=env.flag(V.DISABLE_ATTACHMENT_STORAGE),
        presigned_url=env.flag(V.ATTACHMENT_STORAGE_PRESIGNED_URL),
        presigned_url_expiry=env.integer(V.ATTACHMENT_STORAGE_PRESIGNED_URL_EXPIRY, minimum=10,
                                     maximum=7 * 24 * 3600),
        known_keys=env.integer(V.ATTACHMENT_STORAGE_KNOWN_KEYS, minimum=0),
        read_cache_bytes=env.integer(V.ATTACHMENT_STORAGE_CACHE_SIZE, minimum=0),
        read_cache_dir=env.text(V.ATTACHMENT_STORAGE_CACHE_DIR),
        read_cache_max_object_bytes=env.integer(V.ATTACHMENT_STORAGE_CACHE_MAX_OBJECT_SIZE, minimum=1),
    )
