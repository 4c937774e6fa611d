"""Reading the cluster's merged stream: ``async for m in consume(url): ...``.

The stream holds every item's messages in the order they were stored, so each item's
messages arrive in order. ``start`` is ``"now"`` (only new messages), ``"all"``, a stream
sequence number (``int``: from that message on) or a ``datetime``. An ordered consumer
keeps the order across server failover; a consumer that was away resumes from the
sequence number after the last one it saw (:attr:`ClusterMessage.seq`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..exceptions import ConfigError
from ..sinks.nats_stream import subject_token
from ..sinks.rows import COLUMNS, Row
from .config import ClusterConfig, parse_cluster_url
from .connect import connect_nats, jetstream_errors

__all__ = ["ClusterMessage", "consume", "last_stored"]


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One stored item message: ``seq`` is its stream sequence number, ``sn`` the
    service's SeqNumber, ``epoch`` the lease epoch of the worker that published it."""

    seq: int
    subject: str
    kind: str
    domain: str
    ric: str
    sn: int | None
    epoch: int | None
    worker: str | None
    ts: float
    fields: dict[str, Any] | None
    body: dict[str, Any]

    def row(self) -> Row:
        """The message as a sink row, with the stream sequence number as ``seq``."""
        values = {k: self.body.get(k) for k in COLUMNS} | {"seq": self.seq}
        return Row.from_values(values)


def _deliver(start: str | int | datetime) -> dict[str, Any]:
    """The subscribe options of ``start`` (a sequence or time start goes in the
    consumer's config: nats-py's ``subscribe`` takes no start option of its own)."""
    from nats.js.api import ConsumerConfig, DeliverPolicy

    if start == "now":
        return {"deliver_policy": DeliverPolicy.NEW}
    if start == "all":
        return {"deliver_policy": DeliverPolicy.ALL}
    if isinstance(start, datetime):
        when = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        return {
            "config": ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=when.astimezone(timezone.utc),
            )
        }
    if isinstance(start, int) and start > 0:
        return {
            "config": ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            )
        }
    raise ConfigError(
        f"start must be 'now', 'all', a sequence number >= 1 or a datetime: {start!r}"
    )


def _no_stream(cfg: ClusterConfig) -> ConfigError:
    return ConfigError(
        f"no stream {cfg.stream} at {cfg.display}: no worker has published to it yet "
        "(or ?stream= names another)"
    )


async def last_stored(cfg: ClusterConfig) -> int:
    """The stream sequence of the last stored message; :class:`ConfigError` when NATS is
    out of reach or the stream does not exist."""
    from nats.js.errors import NotFoundError

    nc = await connect_nats(cfg, name="ertcloud-consumer")
    try:
        with jetstream_errors(cfg):
            info = await nc.jetstream(timeout=10.0).stream_info(cfg.stream)
    except NotFoundError:
        raise _no_stream(cfg) from None
    finally:
        await nc.close()
    return int(info.state.last_seq)


async def consume(
    cluster: str | ClusterConfig,
    *,
    rics: Sequence[str] | None = None,
    domain: str = "MarketPrice",
    start: str | int | datetime = "now",
) -> AsyncIterator[ClusterMessage]:
    """The cluster's item messages (all items, or ``rics`` of ``domain``), from ``start``.
    :class:`ConfigError` when NATS is out of reach or the stream does not exist."""
    from nats.js.errors import NotFoundError

    cfg = parse_cluster_url(cluster) if isinstance(cluster, str) else cluster
    opts = _deliver(start)
    nc = await connect_nats(cfg, name="ertcloud-consumer")
    try:
        js = nc.jetstream(timeout=10.0)
        if rics:
            subject = f"{cfg.prefix}.{subject_token(domain)}.*"
            wanted = {subject_token(r) for r in rics}
            if len(wanted) == 1:
                subject = f"{cfg.prefix}.{subject_token(domain)}.{next(iter(wanted))}"
        else:
            subject, wanted = f"{cfg.prefix}.>", set()
        try:
            with jetstream_errors(cfg):
                sub = await js.subscribe(
                    subject, stream=cfg.stream, ordered_consumer=True, idle_heartbeat=2.0, **opts
                )
        except NotFoundError:
            raise _no_stream(cfg) from None
        try:
            while True:
                msg = await sub.next_msg(timeout=None)
                if wanted and msg.subject.rsplit(".", 1)[-1] not in wanted:
                    continue
                d = json.loads(msg.data)
                meta = msg.metadata
                yield ClusterMessage(
                    seq=int(meta.sequence.stream),
                    subject=msg.subject,
                    kind=str(d.get("kind")),
                    domain=str(d.get("domain")),
                    ric=str(d.get("ric")),
                    sn=d.get("sn"),
                    epoch=d.get("epoch"),
                    worker=d.get("worker"),
                    ts=float(d.get("ts") or 0.0),
                    fields=d.get("fields"),
                    body=d,
                )
        finally:
            try:
                await sub.unsubscribe()
            except Exception:
                pass
    finally:
        await nc.close()
