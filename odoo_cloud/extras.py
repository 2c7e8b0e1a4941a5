"""The client libraries that are extras of the `odoo-cloud` distribution (pyproject.toml), by module.

The core imports them where they are used, never at package import, so a deployment installs only its
store's library (`odoo-cloud[s3]` or `[swift]`) and `[redis]` when sessions are in Redis. When one is
missing, the error names the extra to install instead of only the module.
"""
from __future__ import annotations

#: top-level module -> extra of odoo-cloud that installs it
EXTRAS: dict[str, str] = {
    "boto3": "s3",
    "botocore": "s3",
    "swiftclient": "swift",
    "keystoneauth1": "swift",
    "redis": "redis",
    "prometheus_client": "prometheus",
}


def missing_extra(error: BaseException) -> BaseException:
    """`error` restated as what to install when it is the ImportError of an extra's library; else itself."""
    if not isinstance(error, ImportError):
        return error
    module = (error.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return error
    return ModuleNotFoundError(f"{module} is not installed: pip install 'odoo-cloud[{extra}]'", name=module)
