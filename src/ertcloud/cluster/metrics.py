"""Prometheus ``/metrics`` and ``/health`` of a cluster worker (aiohttp)."""

from __future__ import annotations

import time

from aiohttp import web

from ..sinks.metrics import HttpEndpoint
from .worker import Worker

__all__ = ["WorkerMetricsServer", "worker_metrics_text"]


def worker_metrics_text(w: Worker) -> str:
    """The worker's counters in the Prometheus text format (0.0.4)."""
    p = w.publisher
    label = f'{{worker="{w.name}",group="{w.cfg.group}"}}'
    samples = [
        ("ertcloud_cluster_items", "gauge", "Items this worker holds a lease on.", len(w.held)),
        ("ertcloud_cluster_members", "gauge", "Live workers in the group.", len(w.members)),
        ("ertcloud_cluster_messages_total", "counter", "Item messages received.",
         w.stats.messages),
        ("ertcloud_cluster_published_total", "counter", "Messages stored in the stream.",
         p.published if p else 0),
        ("ertcloud_cluster_duplicates_total", "counter", "Publishes the stream de-duplicated.",
         p.duplicates if p else 0),
        ("ertcloud_cluster_publish_retries_total", "counter", "Publishes retried.",
         p.retries if p else 0),
        ("ertcloud_cluster_publish_queue", "gauge", "Messages waiting to be published (lag).",
         p.queued if p else 0),
        ("ertcloud_cluster_claims_total", "counter", "Item leases taken.", w.stats.claimed),
        ("ertcloud_cluster_releases_total", "counter", "Item leases given up.", w.stats.released),
        ("ertcloud_cluster_lease_losses_total", "counter", "Times the member lease expired.",
         w.stats.lease_losses),
        ("ertcloud_cluster_leases_taken_total", "counter",
         "Items stopped because another worker took their lease.", w.stats.taken),
        ("ertcloud_cluster_uptime_seconds", "gauge", "Seconds since the worker started.",
         round(time.time() - w.stats.started, 3)),
    ]  # fmt: skip
    out: list[str] = []
    for name, kind, help_, value in samples:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{label} {value:g}"]
    return "\n".join(out) + "\n"


class WorkerMetricsServer(HttpEndpoint):
    """``GET /metrics`` and ``GET /health`` (503 while the worker has no live lease)."""

    def __init__(self, worker: Worker, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.worker = worker

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=worker_metrics_text(self.worker).encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def _health(self, request: web.Request) -> web.Response:
        w = self.worker
        leases = w.leases
        age = None if leases is None else time.monotonic() - leases.last_renewed
        ok = age is not None and age < w.cfg.ttl
        body = {
            "status": "ok" if ok else "degraded",
            "worker": w.name,
            "items": len(w.held),
            "members": sorted(w.members),
            "seconds_since_renewal": None if age is None else round(age, 3),
        }
        return web.json_response(body, status=200 if ok else 503)
