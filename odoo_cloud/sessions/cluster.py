"""What the session store does differently on a Redis Cluster: walk every master, keep scripts in one slot.

A cluster spreads keys over 16384 hash slots held by several masters. Commands
on one key (the request path: the read script, SET, DEL) go where redis-py's
RedisCluster sends them. Two kinds of work need more:

- walking the prefix (vacuum, device revocation, Odoo 19's device check):
  SCAN runs per master, so every master is scanned in turn (replicas hold
  copies, not other keys);
- a script over many keys (vacuum's batch) must only touch keys of one slot:
  a batch is split by slot and the per-slot calls are pipelined to the master
  that holds them (one round trip per batch, as on a single server).

Framework-free; works on a plain `redis.Redis` too (one "master": itself).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot


def masters(client: redis.Redis | RedisCluster) -> list[redis.Redis]:
    """A plain client per master holding slots (the client itself when it is not a cluster client)."""
    if not isinstance(client, RedisCluster):
        return [client]
    return [client.get_redis_connection(node) for node in client.get_primaries()]


def ping(client: redis.Redis | RedisCluster) -> bool:
    """PING the server, or every master of a cluster (each holds a share of the sessions: one that does
    not answer means some users cannot be served). Raises redis-py's error when one cannot be reached."""
    return all(node.ping() is True for node in masters(client))


def scan(node: redis.Redis, pattern: str, count: int) -> Iterator[list[bytes]]:
    """Batches of the keys of one server matching `pattern` (SCAN: never KEYS)."""
    cursor = 0
    while True:
        cursor, keys = node.scan(cursor=cursor, match=pattern, count=count)
        if keys:
            yield keys  # type: ignore[misc]  # bytes: the client never decodes responses
        if cursor == 0:
            return


def by_slot(keys: Iterable[bytes | str]) -> list[list[bytes | str]]:
    """`keys` grouped by hash slot, in order of first appearance."""
    groups: dict[int, list[bytes | str]] = defaultdict(list)
    for key in keys:
        groups[key_slot(key.encode() if isinstance(key, str) else key)].append(key)
    return list(groups.values())


def same_slot(keys: Sequence[str]) -> bool:
    return len({key_slot(key.encode()) for key in keys}) <= 1


def eval_per_slot(node: redis.Redis, script: str, sha: str, keys: Sequence[bytes | str],
                  args: Sequence[Any]) -> list[Any]:
    """Run `script` once per slot of `keys` on `node` (the master holding them), in one pipeline;
    the script is loaded first when the node does not know it (a new or promoted master)."""
    groups = by_slot(keys)
    if not node.script_exists(sha)[0]:
        node.script_load(script)
    pipe = node.pipeline(transaction=False)
    for group in groups:
        pipe.evalsha(sha, len(group), *group, *args)
    return pipe.execute()
