# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Everything session_redis does differently on Odoo 18.0 and 19.0 — and only that.

- 18: `Application.session_store` is an `odoo.tools.func.lazy_property` (reset by
  `lazy_property.reset_all`); `Session.__setattr__` stores any non-slot attribute
  as a key, checking `self.__slots__` (i.e. the subclass's own slots).
- 19: it is a `functools.cached_property` (reset by `odoo.tools.reset_cached_properties`;
  one assigned after the class was built needs `__set_name__`); `Session` has
  plain slots and properties (no `__getattr__`/`__setattr__`); sessions carry
  `create_time` and soft-rotate (`rotate(session, env, soft=True)`,
  `delete_old_sessions`, `SESSION_DELETION_TIMER`).
"""
from __future__ import annotations

import functools
import time

from odoo import http, release

SERIES = release.version_info[0]


def install_session_store(factory) -> None:
    """Make `factory(app)` the builder of `Application.session_store`, now and after a reset."""
    if SERIES >= 19:
        prop = functools.cached_property(factory)
        prop.__set_name__(http.Application, "session_store")
    else:
        from odoo.tools.func import lazy_property

        prop = lazy_property(factory)
    http.Application.session_store = prop
    vars(http.root).pop("session_store", None)


def reset_session_store(app) -> None:
    """Forget `app`'s built store (what Odoo's own tests do between classes)."""
    if SERIES >= 19:
        from odoo.tools import reset_cached_properties

        reset_cached_properties(app)
    else:
        from odoo.tools.func import lazy_property

        lazy_property.reset_all(app)


if SERIES >= 19:
    SessionBase = http.Session
    #: seconds a soft-rotated session keeps working for concurrent requests
    DELETION_DELAY = http.SESSION_DELETION_TIMER
else:
    _SESSION_SLOTS = frozenset(http.Session.__slots__) | {"stored", "degraded"}

    class SessionBase(http.Session):
        """Odoo 18's Session with a `__setattr__` that knows the slots of subclasses."""

        __slots__ = ()

        def __setattr__(self, key, val):
            # Odoo's checks `self.__slots__`, which for a subclass holds only the subclass's own slots
            if key in _SESSION_SLOTS:
                object.__setattr__(self, key, val)
            else:
                self[key] = val

    DELETION_DELAY = 120  # unused: Odoo 18 never soft-rotates


def stamp_rotation(session) -> None:
    """19 records when a session (re)starts: its next soft rotation is due 3 h later."""
    if SERIES >= 19:
        session["create_time"] = time.time()
