from . import models  # noqa: F401
from .hooks import uninstall_hook  # noqa: F401
