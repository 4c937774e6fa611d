"""A throw-away three-node NATS JetStream cluster on loopback, for the cluster tests and
benchmark: three ``nats-server`` processes with routes to each other, each with its store
in a temporary folder. Client and monitoring ports are the kernel's pick (``-1``, read
back from the server's ports file); the route ports must be known before the servers
start, so they are ports that were free a moment ago, and a cluster whose server could
not bind one starts again on others."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from local_servers import ServerError, free_port, nats_server_bin

START_TIMEOUT = 60.0
START_TRIES = 3


class NatsNode:
    """One server of the cluster (``kill`` it to test failover, ``start`` it again)."""

    def __init__(self, name: str, base: Path, routes: list[str], cluster_port: int) -> None:
        self.name = name
        self.base = base
        self.port = -1  # client port: the kernel's pick at the first start, kept after
        self.http_port = -1
        self.cluster_port = cluster_port
        self.routes = routes
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        ports = self.base / "ports"
        ports.mkdir(exist_ok=True)
        for f in ports.glob("*.ports"):
            f.unlink()
        self.proc = subprocess.Popen(
            [str(nats_server_bin()), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-m", str(self.http_port), "-n", self.name, "--cluster_name", "ertcloud-test",
             "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
             "--routes", ",".join(self.routes), "-sd", str(self.base / "js"),
             "-l", str(self.base / "server.log"), "--ports_file_dir", str(ports)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def listening(self) -> bool:
        """The listeners are up (the ports file is written then): learn their ports."""
        for f in (self.base / "ports").glob("*.ports"):
            try:
                got = json.loads(f.read_text())
                self.port = int(got["nats"][0].rsplit(":", 1)[1])
                self.http_port = int(got["monitoring"][0].rsplit(":", 1)[1])
                return True
            except (OSError, ValueError, KeyError, IndexError):
                return False
        return False

    def healthy(self) -> bool:
        """JetStream on this node is up and current (``/healthz``)."""
        if self.http_port < 0 and not self.listening():
            return False
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/healthz", timeout=1
            ) as r:
                return bool(r.status == 200 and json.loads(r.read()).get("status") == "ok")
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def kill(self) -> None:
        """``kill -9``: no goodbye to the others."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NatsCluster:
    """``with NatsCluster() as c: c.url`` (all three servers, comma-separated)."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.base = Path(tempfile.mkdtemp(prefix="ertcloud-natsc-"))
        self.nodes: list[NatsNode] = []
        self._tries = 0

    def _layout(self) -> None:
        """Fresh nodes (and stores) on route ports free a moment ago."""
        self._tries += 1
        cports = [free_port() for _ in range(self.size)]
        self.nodes = []
        for i in range(self.size):
            routes = [f"nats://127.0.0.1:{p}" for j, p in enumerate(cports) if j != i]
            d = self.base / f"try{self._tries}" / f"n{i + 1}"
            d.mkdir(parents=True)
            self.nodes.append(NatsNode(f"n{i + 1}", d, routes, cports[i]))

    @property
    def url(self) -> str:
        return "nats://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> NatsCluster:
        try:
            while True:
                self._layout()
                for n in self.nodes:
                    n.start()
                deadline = time.monotonic() + START_TIMEOUT
                while not all(n.healthy() for n in self.nodes):
                    exited = any(n.proc is not None and n.proc.poll() is not None
                                 for n in self.nodes)  # fmt: skip
                    if time.monotonic() > deadline or exited:
                        logs = "".join(
                            (n.base / "server.log").read_text(errors="replace")[-1500:]
                            for n in self.nodes
                            if (n.base / "server.log").is_file()
                        )
                        taken = exited and "address already in use" in logs
                        if taken and self._tries < START_TRIES:
                            break  # a route port was taken meanwhile: again, on others
                        raise ServerError(f"the NATS cluster did not come up:\n{logs}")
                    time.sleep(0.1)
                else:
                    return self
                self._stop_nodes()
        except BaseException:
            self.stop()
            raise

    def _stop_nodes(self) -> None:
        for n in self.nodes:
            n.stop()

    def stop(self) -> None:
        self._stop_nodes()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
