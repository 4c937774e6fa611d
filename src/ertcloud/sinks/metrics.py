"""``/health`` and Prometheus ``/metrics`` of a running recorder (aiohttp, loopback)."""

from __future__ import annotations

import time

from aiohttp import web

from .recorder import Recorder

__all__ = ["MetricsServer", "prometheus_text"]


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(rec: Recorder) -> str:
    """The recorder's counters in the Prometheus text exposition format (0.0.4)."""
    st = rec.stats
    runner = rec.runner
    with_data, subscribed = rec.items
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            out.append(f"{name}{labels} {value:g}")

    metric(
        "ertcloud_record_messages_total",
        "counter",
        "Item messages received, by type.",
        [
            ('{type="Refresh"}', st.refreshes),
            ('{type="Update"}', st.updates),
            ('{type="Status"}', st.statuses),
        ],
    )
    metric("ertcloud_record_items", "gauge", "Items subscribed.", [("", subscribed)])
    metric("ertcloud_record_items_with_data", "gauge", "Items with an image.", [("", with_data)])
    metric(
        "ertcloud_record_connected",
        "gauge",
        "1 while logged in to the streaming server.",
        [("", 1 if st.connected else 0)],
    )
    metric(
        "ertcloud_record_connects_total",
        "counter",
        "WebSocket connections made.",
        [("", st.connects)],
    )
    metric(
        "ertcloud_record_queue_rows", "gauge", "Rows waiting for the sinks.", [("", runner.queued)]
    )
    metric(
        "ertcloud_record_dropped_rows_total",
        "counter",
        "Rows dropped: queue full.",
        [("", runner.dropped)],
    )
    metric(
        "ertcloud_record_rows_written_total",
        "counter",
        "Rows written, by sink.",
        [(f'{{sink="{_esc(s.name)}"}}', s.rows_written) for s in runner.stats],
    )
    metric(
        "ertcloud_record_sink_errors_total",
        "counter",
        "Failed writes or flushes, by sink.",
        [(f'{{sink="{_esc(s.name)}"}}', s.errors) for s in runner.stats],
    )
    metric(
        "ertcloud_record_uptime_seconds",
        "gauge",
        "Seconds since the recorder started.",
        [("", round(time.monotonic() - st.started, 3))],
    )
    return "\n".join(out) + "\n"


class MetricsServer:
    """Serves ``GET /health`` (JSON; 503 while disconnected or a sink is failing) and
    ``GET /metrics`` for one recorder."""

    def __init__(self, recorder: Recorder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.recorder = recorder
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        rec = self.recorder
        st = rec.stats
        failing = [s.name for s in rec.runner.stats if s.errors]
        with_data, subscribed = rec.items
        ok = st.connected and not failing
        body = {
            "status": "ok" if ok else "degraded",
            "connected": st.connected,
            "items": subscribed,
            "items_with_data": with_data,
            "messages": st.messages,
            "rows_written": rec.runner.rows_written,
            "queued": rec.runner.queued,
            "dropped": rec.runner.dropped,
            "failing_sinks": failing,
            "seconds_since_last_message": (
                None if st.last_message is None else round(time.monotonic() - st.last_message, 3)
            ),
        }
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=prometheus_text(self.recorder).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
