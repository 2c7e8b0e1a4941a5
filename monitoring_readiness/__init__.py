# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""``GET /web/health/ready`` for load balancers and Kubernetes: a server-wide module
(``--load=base,web,monitoring_readiness``).

Not an Odoo controller: a route goes through database selection and session loading, which would need
Redis (the very thing being checked) and could create sessions and set cookies for every probe. The
path is answered in front of Odoo's WSGI application instead. The behaviour lives in
``odoo_cloud.readiness``.
"""
import logging

_logger = logging.getLogger(__name__)


def post_load():
    from . import hooks

    hooks.install()
