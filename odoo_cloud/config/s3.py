"""S3 object-storage variables (attachment_s3)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import variables as V
from ._parse import EnvReader, Secret

SSE_MODES = ("aes256", "aws:kms")
ADDRESSING_STYLES = ("path", "virtual", "auto")


@dataclass(frozen=True)
class S3Settings:
    host: Optional[str]
    region: Optional[str]
    access_key_id: Optional[str]
    secret_access_key: Optional[Secret]
    bucket_name: Optional[str]
    bucket_name_unstructured: bool
    # client behaviour: explicit, never the library defaults
    addressing_style: str = "auto"
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 3
    create_bucket: bool = True
    # server-side encryption: None, "AES256" or "aws:kms" (+ optional key id)
    server_side_encryption: Optional[str] = None
    sse_kms_key_id: Optional[str] = None

    @property
    def configured(self) -> bool:
        """S3 counts as chosen as soon as a bucket is named."""
        return bool(self.bucket_name)

    @property
    def endpoint_url(self) -> Optional[str]:
        """AWS_HOST with https:// added when it has no scheme; None = AWS's own endpoints."""
        if not self.host:
            return None
        return self.host if "://" in self.host else f"https://{self.host}"


def read(env: EnvReader) -> S3Settings:
    host = env.text(V.AWS_HOST)
    # custom endpoints (MinIO, SeaweedFS, Ceph, Swift s3api...) rarely resolve bucket.host names
    style = env.choice(V.AWS_ADDRESSING_STYLE, ADDRESSING_STYLES, default="path" if host else "auto")
    sse = env.choice(V.AWS_SERVER_SIDE_ENCRYPTION, SSE_MODES)
    kms_key = env.text(V.AWS_SSE_KMS_KEY_ID)
    if kms_key and sse != "aws:kms":
        env.problem(V.AWS_SSE_KMS_KEY_ID, kms_key, "to be used only with AWS_SERVER_SIDE_ENCRYPTION=aws:kms")
    return S3Settings(
        host=host,
        region=env.text(V.AWS_REGION),
        access_key_id=env.text(V.AWS_ACCESS_KEY_ID),
        secret_access_key=env.secret(V.AWS_SECRET_ACCESS_KEY),
        bucket_name=env.text(V.AWS_BUCKETNAME),
        bucket_name_unstructured=env.flag(V.AWS_BUCKETNAME_UNSTRUCTURED),
        addressing_style=style,
        connect_timeout=env.number(V.AWS_CONNECT_TIMEOUT, minimum=0.001),
        read_timeout=env.number(V.AWS_READ_TIMEOUT, minimum=0.001),
        max_attempts=env.integer(V.AWS_MAX_ATTEMPTS, minimum=1, maximum=20),
        create_bucket=env.flag(V.AWS_CREATE_BUCKET),
        server_side_encryption={"aes256": "AES256", "aws:kms": "aws:kms"}.get(sse or ""),
        sse_kms_key_id=kms_key if sse == "aws:kms" else None,
    )
