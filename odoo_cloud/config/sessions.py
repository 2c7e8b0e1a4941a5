"""Redis session-store variables (session_redis)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ._parse import EnvReader, Secret, mask_url


@dataclass(frozen=True)
class SessionSettings:
    enabled: bool
    host: str
    port: int
    password: Optional[Secret]
    url: Optional[Secret]
    prefix: Optional[str]
    expiration: Optional[int]
    expiration_anonymous: int
    sentinel_host: Optional[str]
    sentinel_port: int
    sentinel_master_name: Optional[str]

    @property
    def display_url(self) -> str:
        """Where sessions go, fit for a log line (password masked)."""
        if self.url:
            return mask_url(self.url.reveal())
        if self.sentinel_host:
            return f"sentinel://{self.sentinel_host}:{self.sentinel_port}/{self.sentinel_master_name}"
        return f"redis://{self.host}:{self.port}"


def read(env: EnvReader) -> SessionSettings:
    url = env.url("ODOO_SESSION_REDIS_URL", ("redis", "rediss", "unix"))
    return SessionSettings(
        enabled=env.bool("ODOO_SESSION_REDIS"),
        host=env.str("ODOO_SESSION_REDIS_HOST", "localhost"),
        port=env.port("ODOO_SESSION_REDIS_PORT", 6379),
        password=env.secret("ODOO_SESSION_REDIS_PASSWORD"),
        url=Secret(url) if url else None,
        prefix=env.str("ODOO_SESSION_REDIS_PREFIX"),
        expiration=env.ttl("ODOO_SESSION_REDIS_EXPIRATION"),
        expiration_anonymous=env.ttl("ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS", 3 * 3600),
        sentinel_host=env.str("ODOO_SESSION_REDIS_SENTINEL_HOST"),
        sentinel_port=env.port("ODOO_SESSION_REDIS_SENTINEL_PORT", 26379),
        sentinel_master_name=env.str("ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME"),
    )
