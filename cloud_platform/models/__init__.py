from . import cloud_platform  # noqa: F401
