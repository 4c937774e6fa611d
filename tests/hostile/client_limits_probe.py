"""Run in a child process by the client-limit tests, so that its peak memory is its own:
``python client_limits_probe.py URL TRANSPORT``. Subscribes to one item, waits until a
limit breach was reported and the item came back on a new connection, then prints one
JSON line: what it saw and its peak resident memory (VmHWM)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ertcloud import Session
from ertcloud.protocol.events import Event, ProtocolViolation
from ertcloud.protocol.streams import Phase


def peak_rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


async def main(url: str, transport: str, timeout: float = 15.0) -> dict[str, Any]:
    violations: list[dict[str, Any]] = []

    def on_event(ev: Event) -> None:
        if isinstance(ev, ProtocolViolation) and ev.limit is not None:
            violations.append({"reason": ev.reason, "limit": ev.limit})

    loop = asyncio.get_running_loop()
    async with Session(url, transport=transport, on_event=on_event, connect_timeout=5) as s:
        sub = s.subscribe("HOSTILE.N", queue=False, on_refresh=lambda ev: None)
        [stream] = sub.streams
        deadline = loop.time() + timeout

        def done() -> bool:
            return bool(violations) and s.recoveries >= 1 and stream.refreshes >= 2

        while not done():
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        return {
            "violations": violations,
            "recoveries": s.recoveries,
            "refreshes": stream.refreshes,
            "open": stream.phase is Phase.OPEN,
            "breaches": s.limit_breaches,
            "peak_rss_kb": peak_rss_kb(),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))), flush=True)
