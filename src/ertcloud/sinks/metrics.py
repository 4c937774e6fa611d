"""``/health`` and Prometheus ``/metrics`` of a running recorder (aiohttp, loopback)."""

from __future__ import annotations

import time

from aiohttp import web

from ..config import MAX_SILENCE
from .recorder import Recorder

__all__ = ["MAX_SILENCE", "HttpEndpoint", "MetricsServer", "health", "prometheus_text"]


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
        "ertcloud_record_disconnects_total",
        "counter",
        "Connections lost while recording (each written as Status rows).",
        [("", st.disconnects)],
    )
    metric(
        "ertcloud_record_sequence_gaps_total",
        "counter",
        "Sequence gaps seen on items (each written as a Status row).",
        [("", st.gaps)],
    )
    metric(
        "ertcloud_record_seconds_since_last_message",
        "gauge",
        "Seconds since the last item message (-1: none yet).",
        [("", -1 if st.last_message is None else round(time.monotonic() - st.last_message, 3))],
    )

    def per_sink(name: str, kind: str, help_: str, attr: str) -> None:
        metric(
            name,
            kind,
            help_,
            [(f'{{sink="{_esc(s.name)}"}}', float(getattr(s, attr))) for s in runner.stats],
        )

    per_sink("ertcloud_record_sink_up", "gauge", "1 while the sink takes writes.", "up")
    per_sink(
        "ertcloud_record_sink_failed_batches_total",
        "counter",
        "Batch writes that failed (and are retried).",
        "failed_batches",
    )
    per_sink("ertcloud_record_sink_retries_total", "counter", "Retried batch writes.", "retries")
    per_sink(
        "ertcloud_record_sink_spilled_rows_total",
        "counter",
        "Rows that went to the spill file while the sink was behind.",
        "spilled",
    )
    per_sink(
        "ertcloud_record_sink_dropped_rows_total",
        "counter",
        "Rows this sink will never get: backlog and spill file full, or not written by the end.",
        "lost",
    )
    per_sink("ertcloud_record_sink_backlog_rows", "gauge", "Rows waiting for this sink.", "backlog")
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


def health(
    rec: Recorder, max_silence: float | None = MAX_SILENCE
) -> tuple[bool, dict[str, object]]:
    """Whether the recorder is healthy, and the JSON body of ``/health``.

    Unhealthy (with the reasons in ``reasons``): disconnected; no item message for more
    than ``max_silence`` seconds (None: never); a sink failing right now; rows lost."""
    st = rec.stats
    runner = rec.runner
    now = time.monotonic()
    silent = None if st.last_message is None else now - st.last_message
    if silent is None and st.connects:
        silent = now - st.started  # connected, yet nothing ever came
    reasons: list[str] = []
    if not st.connected:
        reasons.append("disconnected")
    if max_silence is not None and silent is not None and silent > max_silence:
        reasons.append(f"no message for {silent:.1f} s (max {max_silence:g} s)")
    failing = runner.down
    for s in runner.stats:
        if not s.up:
            reasons.append(f"sink {s.name} failing: {s.last_error}")
    if runner.lost:
        reasons.append(f"{runner.lost} rows lost")
    with_data, subscribed = rec.items
    body: dict[str, object] = {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "connected": st.connected,
        "items": subscribed,
        "items_with_data": with_data,
        "messages": st.messages,
        "rows_written": runner.rows_written,
        "queued": runner.queued,
        "dropped": runner.dropped,
        "lost": runner.lost,
        "failing_sinks": failing,
        "seconds_since_last_message": (
            None if st.last_message is None else round(now - st.last_message, 3)
        ),
        "max_silence": max_silence,
    }
    return not reasons, body


class HttpEndpoint:
    """``GET /health`` and ``GET /metrics`` on ``host:port`` (0: a free port, read back into
    ``port`` once started); subclasses answer the two requests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
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
        raise NotImplementedError

    async def _metrics(self, request: web.Request) -> web.Response:
        raise NotImplementedError


class MetricsServer(HttpEndpoint):
    """Serves ``GET /health`` (JSON; 503 with ``reasons`` while disconnected, silent for
    more than ``max_silence`` seconds, a sink is failing or rows were lost) and
    ``GET /metrics`` for one recorder."""

    def __init__(
        self,
        recorder: Recorder,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_silence: float | None = MAX_SILENCE,
    ) -> None:
        super().__init__(host, port)
        self.recorder = recorder
        self.max_silence = max_silence

    async def _health(self, request: web.Request) -> web.Response:
        ok, body = health(self.recorder, self.max_silence)
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=prometheus_text(self.recorder).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
