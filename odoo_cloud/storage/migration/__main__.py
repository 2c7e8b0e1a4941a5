"""`python -m odoo_cloud.storage.migration --to s3 -d DB`: the same as `odoo-cloud migrate`."""
import sys

from .cli import main

sys.exit(main())
