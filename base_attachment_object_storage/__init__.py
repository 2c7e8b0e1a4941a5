from . import models  # noqa: F401
from .hooks import post_init_hook, uninstall_hook  # noqa: F401
