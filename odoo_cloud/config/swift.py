"""OpenStack Swift object-storage variables (attachment_swift)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ._parse import EnvReader, Secret

AUTH_VERSIONS = ("1", "3")


@dataclass(frozen=True)
class SwiftSettings:
    auth_url: Optional[str]
    account: Optional[str]
    password: Optional[Secret]
    write_container: Optional[str]
    write_container_unstructured: bool
    # Keystone v3 (SWIFT_AUTH_VERSION=3, the default when the URL ends with /v3)
    auth_version: str = "1"
    project_name: Optional[str] = None
    project_domain_name: str = "Default"
    user_domain_name: str = "Default"
    region_name: Optional[str] = None
    interface: str = "public"
    # client behaviour: explicit, never the library defaults
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 2
    create_container: bool = True
    temp_url_key: Optional[Secret] = None

    @property
    def configured(self) -> bool:
        return bool(self.write_container)


def read(env: EnvReader) -> SwiftSettings:
    auth_url = env.url("SWIFT_AUTH_URL", ("https", "http"))
    inferred = "3" if auth_url and auth_url.rstrip("/").endswith("/v3") else "1"
    version = env.choice("SWIFT_AUTH_VERSION", AUTH_VERSIONS, default=inferred)
    project = env.text("SWIFT_PROJECT_NAME") or env.text("SWIFT_TENANT_NAME")
    if version == "3" and env.is_set("SWIFT_WRITE_CONTAINER") and not project:
        env.problem("SWIFT_PROJECT_NAME", None, "a Keystone project name when SWIFT_AUTH_VERSION=3")
    return SwiftSettings(
        auth_url=auth_url,
        account=env.text("SWIFT_ACCOUNT"),
        password=env.secret("SWIFT_PASSWORD"),
        write_container=env.text("SWIFT_WRITE_CONTAINER"),
        write_container_unstructured=env.flag("SWIFT_WRITE_CONTAINER_UNSTRUCTURED"),
        auth_version=version,
        project_name=project,
        project_domain_name=env.text("SWIFT_PROJECT_DOMAIN_NAME", "Default"),
        user_domain_name=env.text("SWIFT_USER_DOMAIN_NAME", "Default"),
        region_name=env.text("SWIFT_REGION_NAME"),
        interface=env.choice("SWIFT_INTERFACE", ("public", "internal", "admin"), default="public"),
        connect_timeout=env.number("SWIFT_CONNECT_TIMEOUT", 5.0, minimum=0.001),
        read_timeout=env.number("SWIFT_READ_TIMEOUT", 60.0, minimum=0.001),
        retries=env.integer("SWIFT_RETRIES", 2, minimum=0, maximum=20),
        create_container=env.flag("SWIFT_CREATE_CONTAINER", True),
        temp_url_key=env.secret("SWIFT_TEMP_URL_KEY"),
    )
