# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""anthem songs: `anthem odoo.addons.cloud_platform.songs::install` in a deploy script."""


def install(ctx):
    """Set the attachment location for the running environment and migrate the attachments."""
    ctx.env["cloud.platform"].install()
