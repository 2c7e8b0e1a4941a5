from . import test_monitoring_statsd  # noqa: F401
