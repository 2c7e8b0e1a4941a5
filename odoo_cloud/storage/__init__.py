"""Object storage for attachments: one interface, S3 and Swift backends, URIs, rules, GC.

Backends import their client library lazily (boto3, swiftclient) so that a
deployment using one store does not need the other's dependencies.
"""
from .backends import SCHEMES
from .base import DEFAULT_CHUNK_SIZE, KnownKeys, ObjectInfo, ObjectStore, ObjectStream
from .errors import (
    DeleteRefused,
    InvalidKey,
    ObjectNotFound,
    StorageDisabled,
    StorageError,
    StorageNotConfigured,
    StorageUnavailable,
)
from .uri import StoreUri, bucket_for_db, format_uri, is_object_uri, parse_uri

__all__ = [
    "DEFAULT_CHUNK_SIZE", "SCHEMES", "DeleteRefused", "InvalidKey", "KnownKeys", "ObjectInfo",
    "ObjectNotFound", "ObjectStore", "ObjectStream", "StorageDisabled", "StorageError",
    "StorageNotConfigured", "StorageUnavailable", "StoreUri", "bucket_for_db", "format_uri",
    "is_object_uri", "parse_uri",
]
