"""A real three-node nats-server cluster on loopback, for the tests: JetStream on every node, routes
between them on free ports, each node's store in its own directory, and Docket's users and
permissions (workers/nats/authorization.conf), as compose.yaml runs it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nats.js.api import StreamInfo

from workers.embedded import AUTHORIZATION, free_port, nats_passwords, nats_server_binary, nats_users
from workers.relay import connect_nats


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def config(self) -> Path:
        return self.directory / "nats-server.conf"


class NatsCluster:
    def __init__(self, directory: Path, size: int = 3) -> None:
        self.directory = directory
        self.passwords = nats_passwords(directory)
        self.route_password = "r" + secrets.token_hex(16)
        self.nodes = [Node(f"n{i + 1}", free_port(), free_port(), directory / f"n{i + 1}") for i in range(size)]
        for node in self.nodes:
            self._write_config(node)

    def _write_config(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(
            f"nats://route:{self.route_password}@127.0.0.1:{other.cluster_port}" for other in self.nodes if other is not node
        )
        node.config.write_text(
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.port}\n"
            f"jetstream {{ store_dir: {json.dumps(str(node.directory / 'store'))} }}\n"
            "cluster {\n"
            "  name: docket-test\n"
            f"  listen: 127.0.0.1:{node.cluster_port}\n"
            f"  authorization {{ user: route, password: {self.route_password} }}\n"
            f"  routes: [{routes}]\n"
            "  no_advertise: true\n"
            "}\n"
            f"include {json.dumps(os.path.relpath(AUTHORIZATION, node.directory))}\n"
        )

    def url_for(self, user: str | None) -> str:
        """Every node, comma-separated, as DOCKET_NATS_URL lists them; as a user of authorization.conf."""
        login = "" if user is None else f"{user}:{self.passwords[user]}@"
        return ",".join(f"nats://{login}127.0.0.1:{node.port}" for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def start(self, node: Node) -> None:
        env = {variable: self.passwords[user] for user, variable in nats_users().items()}
        with open(node.directory / "nats-server.log", "ab") as log:
            node.process = subprocess.Popen([nats_server_binary(), "-c", str(node.config)], env=env, stdout=log, stderr=log)

    def kill(self, node: Node) -> None:
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)
        node.process = None

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
                node.process.wait(10)
                node.process = None

    def stream_info(self, stream: str) -> StreamInfo:
        async def info() -> StreamInfo:
            client = await connect_nats(self.url_for("admin"), "test-cluster-admin")
            try:
                return await client.jetstream(timeout=2).stream_info(stream)
            finally:
                await client.close()

        return asyncio.run(info())

    def wait_for_jetstream(self, timeout: float = 30) -> None:
        """Until the JetStream meta group has a leader: until then, no stream can be made."""

        async def ready() -> bool:
            client = await connect_nats(self.url_for("admin"), "test-cluster-admin")
            try:
                await client.jetstream(timeout=1).account_info()
                return True
            except Exception:  # noqa: BLE001 - not yet
                return False
            finally:
                await client.close()

        deadline = time.monotonic() + timeout
        while not asyncio.run(ready()):
            assert time.monotonic() < deadline, f"the cluster's JetStream was not ready within {timeout}s"
            time.sleep(0.2)


@contextmanager
def nats_cluster(directory: Path, size: int = 3) -> Iterator[NatsCluster]:
    cluster = NatsCluster(directory, size)
    try:
        for node in cluster.nodes:
            cluster.start(node)
        cluster.wait_for_jetstream()
        yield cluster
    finally:
        cluster.stop()
