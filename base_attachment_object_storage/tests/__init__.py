# shared test mixins live in common.py; the stores' addons (attachment_s3, attachment_swift) run them
from . import test_gc_tables, test_migration  # noqa: F401
