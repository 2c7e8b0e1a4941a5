"""A real Redis Cluster on loopback: N masters, each with R replicas, joined by `redis-cli --cluster create`.

Every node is Debian's redis-server with `--cluster-enabled yes` on a free port, its own directory and
`nodes.conf`, so a node killed with SIGKILL and started again rejoins the cluster it knew (as a replica
of the node promoted in its place). `cluster-node-timeout` is short (1 s by default) so that a failover
takes a second or two: tests can kill the master of a slot and wait for its replica to take over.
Optionally TLS only (`tls=True`: a self-signed CA and server certificate, TLS on the client, cluster bus
and replication links), to test `rediss://`/`ODOO_SESSION_REDIS_SSL` against a real cluster.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ._base import Server
from ._process import (
    ServerStartError,
    free_port_with_grpc_twin,
    run_checked,
    spawn,
    tail,
    terminate,
    wait_ready,
)
from .paths import system_bin

#: Redis Cluster's number of hash slots
SLOTS = 16384


@dataclass
class ClusterNode:
    """One redis-server of the cluster: its port, directory and process (None while stopped)."""

    port: int
    directory: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"


class RedisClusterServer(Server):
    """`masters` masters with `replicas` replicas each; `nodes` in creation order (masters first)."""

    name = "redis-cluster"

    def __init__(self, base_dir: Path | str, *, masters: int = 3, replicas: int = 1,
                 node_timeout_ms: int = 1000, tls: bool = False, name: str | None = None):
        if name:
            self.name = name
        super().__init__(base_dir)
        self.host = "127.0.0.1"
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.tls = tls
        # each node also listens on port + 10000 (the cluster bus): both must be free and <= 65535
        self.nodes = [ClusterNode(free_port_with_grpc_twin(), self.data_dir / f"node-{i}")
                      for i in range(masters * (1 + replicas))]
        self._created = False

    # ------------------------------------------------------------------ description
    @property
    def ports(self) -> dict[str, int]:
        return {f"node{i}": node.port for i, node in enumerate(self.nodes)}

    @property
    def port(self) -> int:
        """The first node: any node works as a startup node for a cluster client."""
        return self.nodes[0].port

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "ca.crt"

    @cached_property
    def version(self) -> str:
        out = subprocess.run([system_bin("redis-server"), "--version"], check=False, capture_output=True,
                             text=True).stdout
        return next((part[2:] for part in out.split() if part.startswith("v=")), out.strip())

    def log_files(self) -> list[Path]:
        return [self.log_path] + [node.log_path for node in self.nodes]

    # ------------------------------------------------------------------ talking to one node
    def cli(self, node: ClusterNode, *args: str, timeout: float = 5.0) -> str:
        """`redis-cli -p PORT args...` against one node; its stdout (raises when redis-cli fails)."""
        result = subprocess.run([str(system_bin("redis-cli")), *self._cli_connection(node), *args],
                                check=True, capture_output=True, text=True, timeout=timeout)
        return result.stdout

    def _cli_connection(self, node: ClusterNode) -> list[str]:
        argv = ["-h", self.host, "-p", str(node.port)]
        if self.tls:
            argv += ["--tls", "--cacert", str(self.ca_path)]
        return argv

    def info(self, node: ClusterNode, section: str) -> dict[str, str]:
        """INFO <section> of one node as a dict; section "cluster" is CLUSTER INFO."""
        args = ("CLUSTER", "INFO") if section == "cluster" else ("INFO", section)
        fields = {}
        for line in self.cli(node, *args).splitlines():
            key, sep, value = line.strip().partition(":")
            if sep:
                fields[key] = value
        return fields

    def alive(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.proc is not None and node.proc.poll() is None]

    def _cluster_nodes(self) -> list[tuple[str, int, set[str], str, list[tuple[int, int]]]]:
        """CLUSTER NODES as a live node sees it: (id, port, flags, master id, slot ranges) per node."""
        table = []
        for line in self.cli(self.alive()[0], "CLUSTER", "NODES").splitlines():
            parts = line.split()
            port = int(parts[1].split("@")[0].rpartition(":")[2])
            ranges = []
            for spec in parts[8:]:
                if not spec.startswith("["):  # "[slot->-id]": a slot being migrated
                    first, _, last = spec.partition("-")
                    ranges.append((int(first), int(last or first)))
            table.append((parts[0], port, set(parts[2].split(",")), parts[3], ranges))
        return table

    def topology(self) -> dict[int, tuple[int, list[int]]]:
        """{master port: (its number of slots, [replica ports])} of the nodes not flagged failed."""
        table = [row for row in self._cluster_nodes() if "fail" not in row[2]]
        replicas: dict[str, list[int]] = {}
        for _node_id, port, flags, master_id, _ranges in table:
            if "slave" in flags:
                replicas.setdefault(master_id, []).append(port)
        return {port: (sum(last - first + 1 for first, last in ranges), replicas.get(node_id, []))
                for node_id, port, flags, _master, ranges in table if "master" in flags and ranges}

    def master_of_slot(self, slot: int) -> ClusterNode:
        """The node serving `slot` right now, as a live node sees it."""
        for _node_id, port, flags, _master, ranges in self._cluster_nodes():
            if "master" in flags and "fail" not in flags and any(a <= slot <= b for a, b in ranges):
                return self.node_at(port)
        raise LookupError(f"slot {slot} is served by no node")

    def node_at(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    # ------------------------------------------------------------------ start / stop
    def _start(self) -> None:
        if self.tls and not self.ca_path.exists():
            self._make_certificates()
        for node in self.nodes:
            self._start_node(node)
        for node in self.nodes:
            wait_ready(f"{self.name} node {node.port}", lambda n=node: self._ping(n), procs=[node.proc],
                       log_path=node.log_path, timeout=15)
        if not self._created:
            run_checked([system_bin("redis-cli"), *self._cli_connection(self.nodes[0]), "--cluster", "create",
                         *(node.address for node in self.nodes), "--cluster-replicas", str(self.replicas),
                         "--cluster-yes"], self.log_path, what="redis-cli --cluster create")
            self._created = True
        self.wait_healthy()

    def _start_node(self, node: ClusterNode) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        argv = [system_bin("redis-server"), "--bind", self.host, "--save", "", "--appendonly", "no",
                "--dir", str(node.directory), "--daemonize", "no", "--protected-mode", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # a replica whose master died long ago may still be promoted (tests kill masters on purpose)
                "--cluster-replica-validity-factor", "0",
                # replicas sync at once (the default waits 5 s for more replicas to share one transfer)
                "--repl-diskless-sync-delay", "0"]
        if self.tls:
            argv += ["--port", "0", "--tls-port", str(node.port), "--tls-cluster", "yes",
                     "--tls-replication", "yes", "--tls-auth-clients", "no",
                     "--tls-cert-file", str(self.data_dir / "server.crt"),
                     "--tls-key-file", str(self.data_dir / "server.key"),
                     "--tls-ca-cert-file", str(self.ca_path)]
        else:
            argv += ["--port", str(node.port)]
        node.proc = spawn(argv, node.log_path, cwd=node.directory)

    def _ping(self, node: ClusterNode) -> bool:
        return self.cli(node, "PING", timeout=2).strip() == "PONG"

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every live node says cluster_state:ok, all slots are served, and every master has its replicas
        with their replication link up."""
        deadline = time.monotonic() + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = self._health_problem()
            if not problem:
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {node.log_path}\n{tail(node.log_path, 10)}" for node in self.nodes)
        raise ServerStartError(f"{self.name} not healthy after {timeout:.0f} s: {problem}\n{logs}")

    def _health_problem(self) -> str:
        try:
            for node in self.alive():
                state = self.info(node, "cluster")
                if state.get("cluster_state") != "ok" or state.get("cluster_slots_ok") != str(SLOTS):
                    slots_ok = state.get("cluster_slots_ok")
                    return f"node {node.port}: {state.get('cluster_state')}, {slots_ok} slots ok"
            topology = self.topology()
            if len(topology) != self.masters:
                return f"{len(topology)} masters serving slots, want {self.masters}"
            for master, (_slots, replicas) in topology.items():
                if len(replicas) < self.replicas:
                    return f"master {master} has {len(replicas)} replicas, want {self.replicas}"
                for port in replicas:
                    if self.info(self.node_at(port), "replication").get("master_link_status") != "up":
                        return f"replica {port} of {master}: replication link down"
        except (subprocess.SubprocessError, OSError, IndexError, ValueError, StopIteration) as exc:
            return f"{type(exc).__name__}: {exc}"
        return ""

    def kill_node(self, node: ClusterNode) -> None:
        """SIGKILL one node (a crash: no goodbye to the cluster, no save)."""
        terminate(node.proc, sig=signal.SIGKILL)
        node.proc = None

    def restart_node(self, node: ClusterNode) -> None:
        """Start a killed node again on its port; it rejoins from its nodes.conf."""
        self._start_node(node)
        wait_ready(f"{self.name} node {node.port}", lambda: self._ping(node), procs=[node.proc],
                   log_path=node.log_path, timeout=15)

    def wait_promoted(self, old_master: ClusterNode, slot: int, timeout: float = 30.0) -> ClusterNode:
        """After `old_master` died: wait until another node serves `slot` and the cluster is ok again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.master_of_slot(slot)
                state = self.info(owner, "cluster").get("cluster_state")
            except (subprocess.SubprocessError, LookupError):
                owner, state = None, None
            if owner is not None and owner is not old_master and state == "ok":
                return owner
            time.sleep(0.05)
        raise ServerStartError(f"no replica took over slot {slot} within {timeout:.0f} s")

    def _stop(self) -> None:
        for node in self.nodes:
            terminate(node.proc)
            node.proc = None

    # ------------------------------------------------------------------ TLS material
    def _make_certificates(self) -> None:
        def openssl(*args: str) -> None:
            run_checked(["openssl", *args], self.log_path, what="openssl", cwd=self.data_dir)

        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # RSA keygen costs seconds of CPU
        openssl("req", "-x509", *ec, "-nodes", "-days", "1", "-subj", "/CN=test-ca",
                "-keyout", "ca.key", "-out", "ca.crt")
        (self.data_dir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("req", *ec, "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "san.cnf", "-out", "server.crt")

