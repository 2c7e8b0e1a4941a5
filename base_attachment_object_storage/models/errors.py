"""How this addon answers odoo_cloud's errors, in one place.

- Serving bytes (`reading.py`): the store says the object is gone (`odoo_cloud.errors.NotFound`) ->
  Odoo's own answer for a missing file; any other storage failure -> a 503
  (`AttachmentStorageUnavailable`), never empty bytes.
- A user's or a cron's action (upload, migration, settings, ownership records): `CORE_ERRORS` -> a
  `UserError` with the core's message (it names the variable or parameter, never a secret), or a
  warning where the action must not fail.
"""
from odoo_cloud.errors import OdooCloudError

#: what the core raises for a configuration, a store or a parameter it refuses: every odoo_cloud error
#: (misconfigured, unavailable, not found, refused, data integrity) and the ValueError of a bad argument
CORE_ERRORS = (OdooCloudError, ValueError)
