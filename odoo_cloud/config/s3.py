"""S3 object-storage variables (attachment_s3)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ._parse import EnvReader, Secret


@dataclass(frozen=True)
class S3Settings:
    host: Optional[str]
    region: Optional[str]
    access_key_id: Optional[str]
    secret_access_key: Optional[Secret]
    bucket_name: Optional[str]
    bucket_name_unstructured: bool

    @property
    def configured(self) -> bool:
        """S3 counts as chosen as soon as a bucket is named."""
        return bool(self.bucket_name)


def read(env: EnvReader) -> S3Settings:
    return S3Settings(
        host=env.str("AWS_HOST"),
        region=env.str("AWS_REGION"),
        access_key_id=env.str("AWS_ACCESS_KEY_ID"),
        secret_access_key=env.secret("AWS_SECRET_ACCESS_KEY"),
        bucket_name=env.str("AWS_BUCKETNAME"),
        bucket_name_unstructured=env.bool("AWS_BUCKETNAME_UNSTRUCTURED"),
    )
