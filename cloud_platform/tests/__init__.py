from . import test_cloud_platform  # noqa: F401
