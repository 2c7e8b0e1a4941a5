"""Framework-free core of the Odoo Cloud Addons.

Nothing here imports Odoo: every behaviour is testable against real servers
without an Odoo tree, and the addons only adapt Odoo's hooks to it.
"""
__version__ = "18.0.1.0.0"
