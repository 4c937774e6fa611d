"""Connecting to the NATS servers of a cluster, and the stream and buckets it uses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import ConfigError
from .config import ClusterConfig

__all__ = [
    "connect_nats",
    "ensure_stream",
    "jetstream_errors",
    "key_value",
    "no_jetstream",
    "replicas_for",
]


async def connect_nats(cfg: ClusterConfig, name: str = "ertcloud", timeout: float = 5.0) -> Any:
    """A nats-py connection to any of the cluster's servers (reconnecting to the others
    when one goes away). Raises :class:`ConfigError` when none can be reached."""
    try:
        import nats
    except ImportError:  # pragma: no cover - nats-py is a dependency of the nats extra
        raise ConfigError("the cluster needs nats-py: pip install 'ertcloud[nats]'") from None

    errors: list[BaseException] = []
    refused = asyncio.Event()

    async def _error(exc: BaseException) -> None:  # nats-py logs a traceback by default
        errors.append(exc)
        if len(errors) >= 2 * len(cfg.servers):  # each server failed twice: no use waiting
            refused.set()

    connecting = asyncio.ensure_future(
        nats.connect(
            servers=list(cfg.servers),
            name=name,
            connect_timeout=min(timeout, 3.0),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            error_cb=_error,
        )
    )
    gave_up = asyncio.ensure_future(refused.wait())
    try:
        await asyncio.wait(
            [connecting, gave_up], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            raise TimeoutError()
        return connecting.result()
    except Exception as exc:
        last = errors[-1] if errors else exc
        name = type(last).__name__
        text = str(last) or (f"no answer in {timeout:g} s" if "Timeout" in name else name)
        raise ConfigError(f"cannot reach NATS at {cfg.display}: {text}") from None
    finally:
        gave_up.cancel()
        connecting.cancel()  # when this task is cancelled itself


def no_jetstream(cfg: ClusterConfig) -> ConfigError:
    """The error of a NATS whose JetStream API does not answer."""
    return ConfigError(
        f"no JetStream answers at {cfg.display}: start nats-server with -js "
        "(or a jetstream block in its configuration)"
    )


@contextmanager
def jetstream_errors(cfg: ClusterConfig) -> Iterator[None]:
    """JetStream's API not answering at all (a server without JetStream) as a
    :class:`ConfigError`."""
    from nats.errors import NoRespondersError
    from nats.js.errors import ServiceUnavailableError

    try:
        yield
    except (ServiceUnavailableError, NoRespondersError):
        raise no_jetstream(cfg) from None


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
