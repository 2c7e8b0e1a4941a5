"""OpenStack Swift object-storage variables (attachment_swift)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
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
    auth_url = env.url(V.SWIFT_AUTH_URL, ("https", "http"))
    inferred = "3" if auth_url and auth_url.rstrip("/").endswith("/v3") else "1"
    version = env.choice(V.SWIFT_AUTH_VERSION, AUTH_VERSIONS, default=inferred)
    project = env.text(V.SWIFT_PROJECT_NAME) or env.text(V.SWIFT_TENANT_NAME)
    if version == "3" and env.is_set(V.SWIFT_WRITE_CONTAINER) and not project:
        env.problem(V.SWIFT_PROJECT_NAME, None, "a Keystone project name when SWIFT_AUTH_VERSION=3")
    return SwiftSettings(
        auth_url=auth_url,
        account=env.text(V.SWIFT_ACCOUNT),
        password=env.secret(V.SWIFT_PASSWORD),
        write_container=env.text(V.SWIFT_WRITE_CONTAINER),
        write_container_unstructured=env.flag(V.SWIFT_WRITE_CONTAINER_UNSTRUCTURED),
        auth_version=version,
        project_name=project,
        project_domain_name=env.text(V.SWIFT_PROJECT_DOMAIN_NAME),
        user_domain_name=env.text(V.SWIFT_USER_DOMAIN_NAME),
        region_name=env.text(V.SWIFT_REGION_NAME),
        interface=env.choice(V.SWIFT_INTERFACE, ("public", "internal", "admin")),
        connect_timeout=env.number(V.SWIFT_CONNECT_TIMEOUT, minimum=0.001),
        read_timeout=env.number(V.SWIFT_READ_TIMEOUT, minimum=0.001),
        retries=env.integer(V.SWIFT_RETRIES, minimum=0, maximum=20),
        create_container=env.flag(V.SWIFT_CREATE_CONTAINER),
        temp_url_key=env.secret(V.SWIFT_TEMP_URL_KEY),
    )
