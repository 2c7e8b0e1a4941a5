"""S3 backend (boto3): AWS, or any S3 server (SeaweedFS, Swift s3api, MinIO, Ceph).

Existence check of put: one conditional `PUT` with `If-None-Match: *` (412
when the key exists) instead of HEAD + PUT; for large bodies a HEAD first
avoids sending megabytes a second time. Servers that ignore the header simply
overwrite identical bytes (keys are content addresses).
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from ..config import variables
from ..masking import mask_secrets
from . import backends
from .base import ObjectInfo, ObjectStore, ObjectStream, parse_content_range, range_header
from .errors import ObjectNotFound, StorageError, StorageUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Settings
    from ..config.s3 import S3Settings

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def build_client(settings: S3Settings) -> Any:
    """A boto3 client with explicit timeouts, bounded retries and the options every
    S3-compatible server here needs (SigV4, checksums only when required)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
        max_pool_connections=32,
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    if settings.region:
        kwargs["region_name"] = settings.region
    if settings.access_key_id and settings.secret_access_key:
        kwargs["aws_access_key_id"] = settings.access_key_id
        kwargs["aws_secret_access_key"] = settings.secret_access_key.reveal()
    # absent keys: boto3's default credential chain (env, profile, IRSA, instance role)
    return boto3.session.Session().client("s3", **kwargs)


class S3Store(ObjectStore):
    scheme = "s3"

    def verify_uploads_by_md5(self) -> bool:
        """Every PutObject of this store's client carries Content-MD5 (BadDigest on a mismatch)."""
        events = getattr(getattr(self.client, "meta", None), "events", None)
        if events is None:
            return False
        events.register("before-parameter-build.s3.PutObject", _add_content_md5,
                        unique_id="odoo-cloud-migration-content-md5")
        return True

    def __init__(self, client: Callable[[], Any], bucket: str, *,
                 server_side_encryption: Optional[str] = None,
                 sse_kms_key_id: Optional[str] = None, region: Optional[str] = None, **kwargs: Any) -> None:
        """`client` returns the process's boto3 client (see factory: one per process and endpoint)."""
        super().__init__(bucket, **kwargs)
        self._client = client
        self.region = region
        self._sse: dict[str, str] = {}
        if server_side_encryption:
            self._sse["ServerSideEncryption"] = server_side_encryption
            if sse_kms_key_id:
                self._sse["SSEKMSKeyId"] = sse_kms_key_id

    @property
    def client(self) -> Any:
        return self._client()

    # -- errors ----------------------------------------------------------------
    def _error(self, exc: Exception, action: str, bucket: str, key: Optional[str] = None) -> StorageError:
        """Translate a botocore exception; messages carry codes, never the server's text
        (which may echo an access key) nor credentials."""
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in NOT_FOUND_CODES or status == 404:
                return ObjectNotFound(f"S3 {action} of {where}: not found ({code})",
                                      scheme="s3", bucket=bucket, key=key)
            return StorageUnavailable(f"S3 {action} of {where} failed: {code} (HTTP {status})",
                                      scheme="s3", bucket=bucket, key=key)
        if isinstance(exc, NoCredentialsError):
            return StorageUnavailable(f"S3 {action} of {where} failed: no credentials found (set "
                                      "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credential provider)",
                                      scheme="s3", bucket=bucket, key=key)
        endpoint = mask_secrets(str(getattr(self.client.meta, "endpoint_url", "?")))
        return StorageUnavailable(f"S3 {action} of {where} failed: {type(exc).__name__} talking to {endpoint}"
                                  f" (after retries)", scheme="s3", bucket=bucket, key=key)

    def _call(self, action: str, bucket: str, key: Optional[str], fn: Callable[..., Any],
              **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, action, bucket, key) from None

    # -- primitives --------------------------------------------------------------
    def _ensure_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            error = self._error(exc, "check", self.bucket)
            if not isinstance(error, ObjectNotFound):
                raise error from None
        except BotoCoreError as exc:
            raise self._error(exc, "check", self.bucket) from None
        if not self.create_bucket:
            raise ObjectNotFound(f"S3 bucket {self.bucket!r} does not exist and bucket creation is "
                                 "disabled (AWS_CREATE_BUCKET=0)", scheme="s3", bucket=self.bucket)
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            client.create_bucket(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                                 "BucketAlreadyExists"):
                raise self._error(exc, "create", self.bucket) from None
        except BotoCoreError as exc:
            raise self._error(exc, "create", self.bucket) from None

    def _put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*", **self._sse)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            if status == 412 or code == "PreconditionFailed":
                return False
            raise self._error(exc, "put", self.bucket, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "put", self.bucket, key) from None
        return True

    def _get(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        response = self._call("get", bucket, key, self.client.get_object, Bucket=bucket, Key=key)
        try:
            data: bytes = response["Body"].read()
            return data
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._error(exc, "get", bucket, key) from None

    def _head(self, bucket: str, key: str) -> ObjectInfo:
        response = self._call("head", bucket, key, self.client.head_object, Bucket=bucket, Key=key)
        etag = response.get("ETag", "").strip('"') or None
        return ObjectInfo(bucket, key, int(response["ContentLength"]), etag)

    def _list_page(self, bucket: str, prefix: str, start_after: Optional[str],
                   limit: int) -> list[ObjectInfo]:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
        if start_after:
            params["StartAfter"] = start_after
        response = self._call("list", bucket, None, self.client.list_objects_v2, **params)
        return [ObjectInfo(bucket, item["Key"], int(item["Size"]),
                           (item.get("ETag") or "").strip('"') or None,
                           item["LastModified"].timestamp() if item.get("LastModified") else None)
                for item in response.get("Contents", ())]

    def _open(self, bucket: str, key: str, start: Optional[int], end: Optional[int],
              chunk_size: int) -> ObjectStream:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        wanted = range_header(start, end)
        if wanted:
            params["Range"] = wanted
        try:
            response = self.client.get_object(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                raise ValueError(f"unsatisfiable range {start}-{end} for s3://{bucket}/{key}") from None
            raise self._error(exc, "stream", bucket, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, "stream", bucket, key) from None
        body = response["Body"]
        size, first, last = parse_content_range(response.get("ContentRange"), response["ContentLength"])

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            except (ClientError, BotoCoreError, OSError) as exc:
                raise self._error(exc, "stream", bucket, key) from None

        return ObjectStream(chunks(), size=size, start=first, end=last,
                            etag=response.get("ETag", "").strip('"') or None, on_close=body.close)

    def _delete(self, key: str) -> None:
        # S3 answers 204 whether or not the key existed: deleting twice is harmless
        self._call("delete", self.bucket, key, self.client.delete_object, Bucket=self.bucket, Key=key)

    def _delete_many(self, keys: list[str]) -> dict[str, StorageError]:
        """DeleteObjects, up to 1000 keys per request."""
        from botocore.exceptions import BotoCoreError, ClientError

        failed: dict[str, StorageError] = {}
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                error = self._error(exc, "delete", self.bucket)
                failed.update({key: error for key in chunk})
                continue
            for item in response.get("Errors", []):
                failed[item["Key"]] = StorageUnavailable(
                    f"S3 delete of s3://{self.bucket}/{item['Key']} failed: {item.get('Code', '?')}",
                    scheme="s3", bucket=self.bucket, key=item["Key"])
        return failed

    def _presigned_url(self, bucket: str, key: str, expires: int, filename: Optional[str],
                       mimetype: Optional[str]) -> Optional[str]:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if mimetype:
            params["ResponseContentType"] = mimetype
        url: str = self._call("presign", bucket, key, self.client.generate_presigned_url,
                              ClientMethod="get_object", Params=params, ExpiresIn=expires)
        return url


def _add_content_md5(params: dict[str, Any], **_kwargs: Any) -> None:
    body = params.get("Body")
    if isinstance(body, (bytes, bytearray)) and "ContentMD5" not in params:
        params["ContentMD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 header value safe for any (non-ASCII) filename."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


# ---------------------------------------------------------------- the backend declaration
def build_store(settings: Settings, dbname: Optional[str], other_bucket: Optional[str] = None) -> ObjectStore:
    """The S3 store of `settings` (`{db}` replaced by `dbname`), or of `other_bucket` on the same endpoint
    (never created: someone else's); one per process and options, clients per endpoint."""
    from . import factory

    cfg = settings.s3
    bucket = BACKEND.bucket_for(settings, dbname, other_bucket)
    create = cfg.create_bucket and other_bucket is None
    endpoint = (cfg.endpoint_url, cfg.region, cfg.access_key_id, cfg.secret_access_key, cfg.addressing_style,
                cfg.connect_timeout, cfg.read_timeout, cfg.max_attempts)
    key = ("s3", endpoint, bucket, create, cfg.server_side_encryption, cfg.sse_kms_key_id)

    def build() -> ObjectStore:
        client = factory.client("s3", endpoint, lambda: build_client(cfg))
        return S3Store(client, bucket, server_side_encryption=cfg.server_side_encryption,
                       sse_kms_key_id=cfg.sse_kms_key_id, region=cfg.region,
                       create_bucket=create, known_keys=factory.known_keys(settings))

    return factory.cached_store(key, build, settings)


def _bounded(cfg: S3Settings, timeout: float) -> S3Settings:
    return replace(cfg, connect_timeout=timeout, read_timeout=timeout, max_attempts=1)


BACKEND = backends.register(backends.Backend(
    scheme="s3", label="S3", section="s3",
    bucket_variable=variables.AWS_BUCKETNAME, unstructured_variable=variables.AWS_BUCKETNAME_UNSTRUCTURED,
    bucket_field="bucket_name", unstructured_field="bucket_name_unstructured",
    build=build_store, bounded=_bounded,
    capabilities=frozenset({backends.PRESIGN, backends.SSE, backends.BULK_DELETE, backends.PREBUILT_CLIENT}),
    variables_set_together=((variables.AWS_ACCESS_KEY_ID, variables.AWS_SECRET_ACCESS_KEY),),
))
