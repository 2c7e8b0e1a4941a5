"""OpenStack Swift object-storage variables (attachment_swift)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ._parse import EnvReader, Secret


@dataclass(frozen=True)
class SwiftSettings:
    auth_url: Optional[str]
    account: Optional[str]
    password: Optional[Secret]
    write_container: Optional[str]
    write_container_unstructured: bool

    @property
    def configured(self) -> bool:
        return bool(self.write_container)


def read(env: EnvReader) -> SwiftSettings:
    return SwiftSettings(
        auth_url=env.url("SWIFT_AUTH_URL", ("https", "http")),
        account=env.str("SWIFT_ACCOUNT"),
        password=env.secret("SWIFT_PASSWORD"),
        write_container=env.str("SWIFT_WRITE_CONTAINER"),
        write_container_unstructured=env.bool("SWIFT_WRITE_CONTAINER_UNSTRUCTURED"),
    )
