"""Where a cluster lives: ``nats://host:port[,host:port...]?group=NAME&...``.

Query options: ``group`` (default ``default``), ``stream`` and ``prefix`` (as the ``nats``
sink: ``ERTCLOUD``, ``ertcloud``), ``bucket`` (the lease buckets' name, default
``ertcloud_<group>``), ``latest`` (latest-image bucket, default ``ertcloud_latest``),
``ttl`` (lease lifetime in seconds, default 5) and ``replicas`` (default 3 on a NATS
cluster, 1 on a single server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ..exceptions import ConfigError

__all__ = ["ClusterConfig", "parse_cluster_url"]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ClusterConfig:
    """A parsed cluster URL."""

    servers: tuple[str, ...]
    group: str = "default"
    stream: str = "ERTCLOUD"
    prefix: str = "ertcloud"
    bucket: str = ""
    latest: str = "ertcloud_latest"
    ttl: float = 5.0
    replicas: int | None = None  # None: 3 on a cluster, 1 on a single server

    @property
    def lease_bucket(self) -> str:
        return self.bucket or f"ertcloud_{self.group}"

    @property
    def members_bucket(self) -> str:
        return f"{self.lease_bucket}_members"

    @property
    def display(self) -> str:
        """The servers without credentials (for messages)."""
        return ",".join(re.sub(r"://[^@/]*@", "://***@", s) for s in self.servers)


def parse_cluster_url(url: str, **overrides: object) -> ClusterConfig:
    """A :class:`ClusterConfig` from ``nats://h1:p1,h2:p2?group=g&ttl=3``; ``overrides``
    (non-None values) win over the query."""
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls", "ws", "wss"):
        raise ConfigError(f"cluster URL must start with nats://, not {url!r}")
    hosts = [h for h in parts.netloc.split(",") if h]
    if not hosts:
        raise ConfigError(f"no NATS server in {url!r}")
    auth = ""
    if "@" in hosts[0]:
        auth, hosts[0] = hosts[0].rsplit("@", 1)
        auth += "@"
    servers = tuple(f"{parts.scheme}://{auth}{h}" for h in hosts)
    q: dict[str, object] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    q.update({k: v for k, v in overrides.items() if v is not None})
    known = {"group", "stream", "prefix", "bucket", "latest", "ttl", "replicas"}
    unknown = set(q) - known
    if unknown:
        raise ConfigError(f"unknown cluster option(s): {', '.join(sorted(unknown))}")
    try:
        ttl = float(str(q.get("ttl", 5.0)))
        replicas = int(str(q["replicas"])) if "replicas" in q else None
    except ValueError:
        raise ConfigError("cluster options ttl and replicas must be numbers") from None
    if ttl < 1:
        raise ConfigError("the lease ttl must be at least 1 s")
    if replicas is not None and not 1 <= replicas <= 5:
        raise ConfigError("replicas must be between 1 and 5")
    cfg = ClusterConfig(
        servers=servers,
        group=str(q.get("group", "default")),
        stream=str(q.get("stream", "ERTCLOUD")),
        prefix=str(q.get("prefix", "ertcloud")),
        bucket=str(q.get("bucket", "")),
        latest=str(q.get("latest", "ertcloud_latest")),
        ttl=ttl,
        replicas=replicas,
    )
    for what, value in (("group", cfg.group), ("bucket", cfg.lease_bucket)):
        if not _NAME.match(value):
            raise ConfigError(f"cluster {what} {value!r}: use letters, digits, _ and -")
    return cfg
