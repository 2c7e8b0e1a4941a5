"""The object-store backends, each declared once by its own module (s3.py, swift.py).

A `Backend` says everything the rest of the code needs to know about a store without asking
"is it S3?": its scheme, its settings section, its variables, how to build a store and what it can
do. Factory, CLIs, preflight/readiness checks and the Odoo glue loop over `all_backends()` or look
one up with `get(scheme)` (docs/NEW_BACKEND.md: adding Azure or GCS is one new module plus its
tests, and its scheme in `SCHEMES`).

The backend modules import their client libraries lazily, so declaring a backend costs nothing
when its library is not installed.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ..config import Settings
    from ..config.variables import Variable
    from .base import ObjectStore

#: every backend's scheme, which is also the name of its module in this package (the order is the
#: preference when several are configured and nothing says which)
SCHEMES: tuple[str, ...] = ("s3", "swift")

#: what a backend may declare it can do
PRESIGN = "presign"  # downloads can be answered with a redirect to a signed/temp URL
SSE = "server-side-encryption"
BULK_DELETE = "bulk-delete"  # many keys per delete call
PREBUILT_CLIENT = "prebuilt-client"  # its client can be built before the first call (no network)


@dataclass(frozen=True)
class Backend:
    scheme: str
    #: how messages name it ("S3", "Swift")
    label: str
    #: attribute of `Settings` holding its section (`settings.s3`)
    section: str
    #: the write bucket/container variable: setting it chooses this backend
    bucket_variable: Variable[Any]
    #: the variable lifting the `<project>-odoo-<env>` naming rule of that bucket
    unstructured_variable: Variable[Any]
    #: attribute names, in the section, of the bucket template and of that bypass
    bucket_field: str
    unstructured_field: str
    #: (settings, dbname, other bucket or None) -> the store; the module's `build_store`
    build: Callable[[Settings, Optional[str], Optional[str]], ObjectStore]
    #: the section with every call bounded by `timeout` seconds and not retried (readiness probes)
    bounded: Callable[[Any, float], Any]
    capabilities: frozenset[str] = frozenset()
    #: what this store calls a bucket, for messages ("container")
    bucket_word: str = "bucket"
    #: variables that must be set when this backend holds a prod/integration environment's attachments
    required_in_production: tuple[Variable[Any], ...] = ()
    #: pairs of variables that are set together or not at all (S3's access key id and secret)
    variables_set_together: tuple[tuple[Variable[Any], Variable[Any]], ...] = ()

    def settings(self, settings: Settings) -> Any:
        return getattr(settings, self.section)

    def bucket_template(self, settings: Settings) -> Optional[str]:
        """The configured bucket/container name (`{db}` not replaced)."""
        name: Optional[str] = getattr(self.settings(settings), self.bucket_field)
        return name

    def unstructured(self, settings: Settings) -> bool:
        return bool(getattr(self.settings(settings), self.unstructured_field))

    def configured(self, settings: Settings) -> bool:
        return bool(self.bucket_template(settings))

    def bucket_for(self, settings: Settings, dbname: Optional[str],
                   other_bucket: Optional[str] = None) -> str:
        """The validated bucket a store is built for: `other_bucket` (someone else's, on the same endpoint)
        or the configured one with `{db}` replaced by `dbname`; StorageNotConfigured when none is set,
        InvalidKey naming the variable for a name the store would refuse."""
        from .errors import StorageNotConfigured
        from .keys import validate_bucket
        from .uri import bucket_for_db

        template = self.bucket_template(settings)
        variable = self.bucket_variable.name
        if not template:
            raise StorageNotConfigured(f"{self.label} store requested but {variable} is not set",
                                       scheme=self.scheme)
        return validate_bucket(other_bucket or bucket_for_db(template, dbname), source=variable)

    def with_timeouts(self, settings: Settings, timeout: float) -> Settings:
        """`settings` whose section of this backend is bounded by `timeout` (see `bounded`)."""
        return replace(settings, **{self.section: self.bounded(self.settings(settings), timeout)})

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


_registry: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Called once by each backend module at import."""
    if backend.scheme not in SCHEMES:
        raise ValueError(f"backend {backend.scheme!r} is not listed in odoo_cloud.storage.backends.SCHEMES")
    _registry[backend.scheme] = backend
    return backend


def get(scheme: str) -> Backend:
    """The backend of `scheme`; KeyError for an unknown scheme."""
    if scheme not in SCHEMES:
        raise KeyError(scheme)
    if scheme not in _registry:
        importlib.import_module(f"{__package__}.{scheme}")
    return _registry[scheme]


def all_backends() -> list[Backend]:
    return [get(scheme) for scheme in SCHEMES]


def configured(settings: Settings) -> list[Backend]:
    """The backends whose write bucket/container is set, in preference order."""
    return [backend for backend in all_backends() if backend.configured(settings)]


def bucket_variables() -> str:
    """'AWS_BUCKETNAME (S3) or SWIFT_WRITE_CONTAINER (Swift)', for messages."""
    return " or ".join(f"{b.bucket_variable.name} ({b.label})" for b in all_backends())
