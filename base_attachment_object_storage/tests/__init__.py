# shared test mixins live in common.py; the stores' addons (attachment_s3, attachment_swift) run them
from . import test_install_paths, test_migration  # noqa: F401
