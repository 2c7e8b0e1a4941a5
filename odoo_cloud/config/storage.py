"""Variables shared by every object store (base_attachment_object_storage)."""
from __future__ import annotations

from dataclasses import dataclass

from ._parse import EnvReader


@dataclass(frozen=True)
class StorageSettings:
    disabled: bool


def read(env: EnvReader) -> StorageSettings:
    return StorageSettings(disabled=env.bool("DISABLE_ATTACHMENT_STORAGE"))
