"""``record --cluster`` as one worker, from the command line against the embedded
simulator and a single NATS server: its session, metrics endpoint and timed stop."""

from __future__ import annotations

from support import own_names, run_cli


def test_record_cluster_worker_runs_serves_metrics_and_stops(nats_url: str) -> None:
    out = run_cli(
        "record", "--cluster", f"{nats_url}?{own_names('cli-worker')}", "--worker-name", "w1",
        "TRI.N", "IBM.N", "--duration", "4", "--metrics-port", "0", "--progress-interval", "0",
        timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert any(ln.startswith("ertcloud record: metrics at http://") for ln in lines), out.stderr
    assert any("worker w1 of group cli-worker" in ln for ln in lines), out.stderr
    stopped = [ln for ln in lines if ln.startswith("ertcloud record: worker w1 stopped: ")]
    assert stopped and int(stopped[0].split(": ")[-1].split()[0]) > 0, out.stderr


def test_hotstandby_with_one_endpoint_is_one_line(nats_url: str) -> None:
    out = run_cli(
        "record", "--cluster", f"{nats_url}?{own_names('cli-hot')}", "--worker-name", "w1",
        "TRI.N", "--hotstandby", "--duration", "4", timeout=90,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "--hotstandby needs two endpoints" in last, out.stderr
