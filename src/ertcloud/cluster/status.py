"""``ertcloud cluster status``: the live workers of a group, their leases and rates."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .config import ClusterConfig
from .connect import connect_nats, jetstream_errors, replicas_for
from .lease import LeaseTable

__all__ = ["cluster_status", "format_status"]


async def cluster_status(cfg: ClusterConfig) -> dict[str, Any]:
    """Members (as they last reported), items held per member, and the stream's state."""
    from nats.js.errors import NotFoundError

    nc = await connect_nats(cfg, name="ertcloud-status")
    try:
        js = nc.jetstream(timeout=10.0)
        leases = LeaseTable(js, cfg, "", replicas_for(cfg, nc))
        with jetstream_errors(cfg):
            await leases.open()
        members = await leases.members()
        owners = await leases.owners()
        try:
            info = await js.stream_info(cfg.stream)
            stream = {
                "messages": info.state.messages,
                "last_seq": info.state.last_seq,
                "replicas": info.config.num_replicas,
            }
        except NotFoundError:
            stream = {"messages": 0, "last_seq": 0, "replicas": 0}
    finally:
        await nc.close()
    held = Counter(owners.values())
    orphaned = sum(n for w, n in held.items() if w not in members)
    return {
        "group": cfg.group,
        "members": members,
        "leases": dict(held),
        "orphaned": orphaned,
        "stream": stream,
    }


def format_status(st: dict[str, Any]) -> str:
    """A table of the workers, then a summary line."""
    now = time.time()
    lines = [
        f"{'WORKER':<16} {'HOST':<16} {'LEASES':>7} {'MSG/S':>8} {'QUEUED':>7} "
        f"{'ACK MS':>7} {'SEEN':>6}"
    ]
    for name, m in sorted(st["members"].items()):
        seen = now - float(m.get("at") or now)
        lines.append(
            f"{name:<16} {str(m.get('host', '?'))[:16]:<16} {st['leases'].get(name, 0):>7} "
            f"{float(m.get('rate') or 0):>8.1f} {int(m.get('queued') or 0):>7} "
            f"{float(m.get('ack_ms') or 0):>7.2f} {seen:>5.1f}s"
        )
    s = st["stream"]
    lines.append(
        f"group {st['group']}: {len(st['members'])} worker(s), "
        f"{sum(st['leases'].values())} leases ({st['orphaned']} of departed workers), "
        f"stream {s['messages']} messages, last seq {s['last_seq']}, R{s['replicas']}"
    )
    return "\n".join(lines)
