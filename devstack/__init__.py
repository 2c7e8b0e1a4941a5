"""Real servers on loopback for the test suite and `python -m devstack run`.

Not part of odoo_cloud: a development harness. Each server is a class with start() (blocks until the
server really answers), stop(), version and ports, its data and log file under a base directory.
"""

from ._base import Server, announce, set_announcer
from ._process import ServerStartError, stop_all
from .keystone import KeystoneSwift
from .postgres import PostgresServer
from .redis import RedisServer
from .redis_cluster import RedisClusterServer
from .seaweedfs import SeaweedFSServer
from .statsd import StatsdListener
from .swift import SwiftServer

__all__ = [
    "KeystoneSwift",
    "PostgresServer",
    "RedisClusterServer",
    "RedisServer",
    "SeaweedFSServer",
    "Server",
    "ServerStartError",
    "StatsdListener",
    "SwiftServer",
    "announce",
    "set_announcer",
    "stop_all",
]
