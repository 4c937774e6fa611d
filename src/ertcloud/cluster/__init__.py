"""Sharded streaming over a NATS JetStream cluster: workers share the items by leases and
rendezvous hashing, publish to a replicated stream, and consumers read it merged."""

from __future__ import annotations

from .config import ClusterConfig, parse_cluster_url
from .consume import ClusterMessage, consume
from .rendezvous import assign, owner
from .worker import Worker

__all__ = [
    "ClusterConfig",
    "ClusterMessage",
    "Worker",
    "assign",
    "consume",
    "owner",
    "parse_cluster_url",
]
