from . import ir_attachment  # noqa: F401
