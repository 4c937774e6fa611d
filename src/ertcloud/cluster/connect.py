"""Connecting to the NATS servers of a cluster, and the stream and buckets it uses."""

from __future__ import annotations

import asyncio
from typing import Any

from ..exceptions import ConfigError
from .config import ClusterConfig

__all__ = ["connect_nats", "ensure_stream", "key_value", "replicas_for"]


async def connect_nats(cfg: ClusterConfig, name: str = "ertcloud", timeout: float = 5.0) -> Any:
    """A nats-py connection to any of the cluster's servers (reconnecting to the others
    when one goes away). Raises :class:`ConfigError` when none can be reached."""
    try:
        import nats
    except ImportError:  # pragma: no cover - nats-py is a dependency of the nats extra
        raise ConfigError("the cluster needs nats-py: pip install 'ertcloud[nats]'") from None

    errors: list[BaseException] = []

    async def _error(exc: BaseException) -> None:  # nats-py logs a traceback by default
        errors.append(exc)

    try:
        return await asyncio.wait_for(
            nats.connect(
                servers=list(cfg.servers),
                name=name,
                connect_timeout=min(timeout, 3.0),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                error_cb=_error,
            ),
            timeout,
        )
    except Exception as exc:
        last = errors[-1] if errors else exc
        text = str(last) or type(last).__name__
        raise ConfigError(f"cannot reach NATS at {cfg.display}: {text}") from None


def replicas_for(cfg: ClusterConfig, nc: Any) -> int:
    """Replicas of streams and buckets: as configured, else 3 on a cluster, 1 alone."""
    if cfg.replicas is not None:
        return cfg.replicas
    info = getattr(nc, "_server_info", None) or {}
    return 3 if info.get("cluster") else 1


async def ensure_stream(js: Any, cfg: ClusterConfig, replicas: int) -> None:
    """The stream of item messages (created when missing; an existing one is used as is)."""
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(cfg.stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=cfg.stream,
                subjects=[f"{cfg.prefix}.>"],
                num_replicas=replicas,
                duplicate_window=120.0,
            )
        )


async def key_value(
    js: Any, bucket: str, replicas: int, *, ttl: float | None = None, description: str = ""
) -> Any:
    """A key-value bucket, created when missing."""
    from nats.js.errors import BucketNotFoundError, NotFoundError

    try:
        return await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_key_value(
            bucket=bucket, history=1, ttl=ttl, replicas=replicas, description=description
        )
