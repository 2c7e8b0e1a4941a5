"""A framework-free session object with the shape of Odoo 18's `odoo.http.Session`.

The store only needs `session_class(data, sid, new)`, `.sid`, the mapping
protocol and a writable `.stored`; Odoo's glue passes its own subclass of
Odoo's Session, the core tests and the benchmark use this one.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Optional

from .codec import StoredSession


class Session(MutableMapping[str, Any]):
    __slots__ = ("_data", "can_save", "is_dirty", "is_new", "should_rotate", "sid", "stored")

    def __init__(self, data: Mapping[str, Any], sid: str, new: bool = False) -> None:
        self._data = dict(data)
        self.sid = sid
        self.is_new = new
        self.is_dirty = False
        self.should_rotate = False
        self.can_save = True
        #: what the store read (None for a new session): lets save() skip unchanged data
        self.stored: Optional[StoredSession] = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._data or self._data[key] != value:
            self.is_dirty = True
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.is_dirty = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:  # never the id: it is a credential
        return f"<Session {self.sid[:6]}… {len(self._data)} keys>"
