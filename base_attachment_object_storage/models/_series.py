"""The one place that knows how the Odoo series we run on (18.0, 19.0) differ for attachment storage.

The glue is written against what both series share; each difference it has to meet is named here
(docs/ODOO_HOOKS.md has the file:line of each hook, per series):

- `_file_read`: 19.0 is `_file_read(fname, size=None)` (read at most `size` bytes), 18.0 is
  `_file_read(fname)`. Our override takes `size` on both; `core_file_read` calls the core the way the
  running series accepts.
- Where the bytes are written: 18.0's `_get_datas_related_values` calls `_file_write` and stores the
  name it returns, before the INSERT. 19.0's takes the name from `_get_path(data, checksum)` and calls
  `_file_write(raw, checksum)` later, ignoring what it returns: after the INSERT in `create`, and in
  `_set_attachment_data` after a flush and `_file_delete` of the old name, for *every* non-empty
  content (including the content our rules keep in the database). The glue uploads in
  `_get_datas_related_values` on both series (an upload failure aborts before any row exists) and
  its `_file_write` skips what that step already decided: the same code serves both flows.
- Access: 19.0 deprecates `check()` for `check_access()` and renames `validate_access` to
  `_can_return_content`; the glue calls neither (downloads go through `_to_http_stream`, unchanged).
"""
from __future__ import annotations

import inspect

from odoo.addons.base.models.ir_attachment import IrAttachment as _CoreAttachment

#: True on 19.0: the core reads a prefix when given `size`.
FILE_READ_TAKES_SIZE: bool = "size" in inspect.signature(_CoreAttachment._file_read).parameters


def core_file_read(core_method, fname: str, size: int | None = None) -> bytes:
    """Call the core `_file_read` bound method (the local filestore) the way this series accepts."""
    if FILE_READ_TAKES_SIZE:
        return core_method(fname, size)
    data = core_method(fname)
    return data if size is None else data[:size]
