from . import test_logging_json  # noqa: F401
