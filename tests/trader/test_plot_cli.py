"""The trader commands end to end: ``chain`` (against an ``ertcloud sim`` process and the
embedded simulator), ``subscribe --expand``, ``news``, ``bars``, ``record --bars`` with
the ``news`` and ``bars`` tables, and ``plot``; bad input is one line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import reap, run_cli, start_cli

from ertcloud.sinks import load


def connect(sp: Any) -> list[str]:
    info = sp.info
    return [
        "--url",
        info["websocket_url"],
        "--auth_url",
        info["token_url"],
        "--user",
        "demo",
        "--password",
        "demo",
        "--clientid",
        "app",
    ]


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("ertcloud: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_chain_against_a_simulator_process(sim_process: Any) -> None:
    sp = sim_process()
    r = run_cli("chain", "0#.DJI", *connect(sp))
    assert r.returncode == 0, r.stderr
    rics = r.stdout.split()
    assert len(rics) == len(set(rics)) >= 29 and "TRI.N" in rics and "IBM.N" in rics
    r = run_cli("chain", "0#NOPE", *connect(sp))
    assert r.returncode == 1
    assert "0#NOPE is not available" in one_line_error(r.stderr)
    r = run_cli("chain", "TRI.N", *connect(sp))
    assert r.returncode == 1 and "not a chain record" in one_line_error(r.stderr)


def test_subscribe_expand_opens_the_constituents() -> None:
    chain = run_cli("chain", "0#.FTSE")
    assert chain.returncode == 0, chain.stderr
    r = run_cli("subscribe", "0#.FTSE", "--expand", "--snapshot", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    got = [e["ric"] for e in events if e["event"] == "refresh"]
    assert sorted(got) == sorted(chain.stdout.split())
    assert len(got) > 14  # two linked records (long template)


def test_news_prints_headlines_and_filters_them() -> None:
    r = run_cli("news", "--count", "3", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(rows) == 3 and all(row["headline"] and row["rics"] for row in rows)
    r = run_cli("news", "--subject", "US", "--count", "2", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(rows) == 2 and all("N2:US" in row["subjects"].split() for row in rows)


def test_live_bars() -> None:
    r = run_cli("bars", "TRI.N", "EUR=", "--interval", "1s", "--count", "4", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    bars = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(bars) == 4 and {b["ric"] for b in bars} <= {"TRI.N", "EUR="}
    for b in bars:
        assert b["end"] - b["start"] == 1.0
        assert b["low"] <= min(b["open"], b["close"]) <= max(b["open"], b["close"]) <= b["high"]
        if b["ric"] == "EUR=":
            assert b["source"] == "quote" and b["volume"] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["bars", "TRI.N", "--interval", "7x"],
        ["record", "TRI.N", "--bars", "7x", "--duration", "1"],
        ["plot", "nowhere.db", "TRI.N", "-o", "x.png", "--interval", "7x"],
    ],
)
def test_a_bad_interval_is_one_line(args: list[str], tmp_path: Path) -> None:
    r = run_cli(*args)
    assert r.returncode == 2
    assert "invalid interval '7x'" in one_line_error(r.stderr)


def test_record_bars_and_news_then_plot(tmp_path: Path) -> None:
    db = tmp_path / "ticks.db"
    news = tmp_path / "news.db"
    # the news recording runs meanwhile: two 4 s recordings in 4 s (the seeded market trades
    # TRI.N twice in its first 2 s)
    news_proc = start_cli(
        "record", "MRN_STORY", "--domain", "NewsTextAnalytics", "--to", str(news),
        "--duration", "4", "--progress-interval", "0",
    )  # fmt: skip
    try:
        r = run_cli(
            "record", "TRI.N", "--to", str(db), "--bars", "1s", "--duration", "4",
            "--progress-interval", "0",
        )  # fmt: skip
        _, news_err = news_proc.communicate(timeout=60)
    finally:
        reap(news_proc)
    assert r.returncode == 0, r.stderr
    bars = load(str(db), table="bars")
    trades = load(str(db), table="trades")
    assert len(bars) >= 2 and len(trades) >= 1
    assert bars["volume"].sum() == trades["size"].sum()  # every trade in one bar
    assert (bars["end_ts"] - bars["start_ts"] == 1.0).all()

    png = tmp_path / "tri.png"
    r = run_cli("plot", str(db), "TRI.N", "-o", str(png), "--interval", "1s")
    assert r.returncode == 0, r.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000

    r = run_cli("plot", str(db), "IBM.N", "-o", str(png))
    assert r.returncode == 2 and "no messages of IBM.N" in one_line_error(r.stderr)
    r = run_cli("plot", str(tmp_path / "missing.jsonl"), "TRI.N", "-o", str(png))
    assert r.returncode == 2 and "no such recording" in one_line_error(r.stderr)
    assert not (tmp_path / "missing.jsonl").exists()

    assert news_proc.returncode == 0, news_err
    stories = load(str(news), table="news")
    assert len(stories) >= 1
    assert all(stories["headline"].str.len() > 0) and all(stories["ric"] == "MRN_STORY")
    assert all(g.startswith("SIM") for g in stories["guid"])
