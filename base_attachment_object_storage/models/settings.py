"""The process's settings, read once: the environment does not change while Odoo runs.

Kept apart from the models so the addons and their tests share one cache
(tests reset it after changing os.environ).
"""
from __future__ import annotations

import threading
from typing import Optional

from odoo_cloud.config import Settings, load_settings

_lock = threading.Lock()
_settings: Optional[Settings] = None


def storage_settings() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings and the stores built from them."""
    global _settings
    from odoo_cloud.storage import factory

    with _lock:
        _settings = None
    factory.reset()
