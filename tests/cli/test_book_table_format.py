"""``subscribe --domain MarketByPrice|MarketByOrder --format table`` shows the book: the
top price levels of both sides on the Refresh, then per Update what changed and the best
prices (it used to print rows of dashes: the MarketPrice columns of a Map item)."""

from __future__ import annotations

import re

import pytest
from support import run_cli

LEVEL = re.compile(
    r"^\s+level (\d)\s+(\d+)\s+([\d,]+)\s+(\d+\.\d+) \| (\d+\.\d+)\s+([\d,]+)\s+(\d+)$"
)


@pytest.mark.parametrize("domain", ["MarketByPrice", "marketbyorder"])
def test_book_table_shows_levels_and_changes(domain: str) -> None:
    r = run_cli(
        "subscribe", "TRI.N", "--domain", domain, "--format", "table", "--count", "3"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "book" in lines[0]
    assert not any(set(ln.split()[3:]) == {"-"} for ln in lines[1:] if len(ln.split()) > 3)
    refresh = next(ln for ln in lines if " REFRESH " in ln)
    assert re.search(r"\d+ bid / \d+ ask levels", refresh), refresh
    levels = [m for ln in lines if (m := LEVEL.match(ln))]
    assert [int(m.group(1)) for m in levels] == [1, 2, 3, 4, 5], r.stdout
    bids = [float(m.group(4)) for m in levels]
    asks = [float(m.group(5)) for m in levels]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]  # the book is not crossed
    updates = [ln for ln in lines if " UPDATE " in ln]
    assert len(updates) == 2
    for ln in updates:
        assert re.search(r"best \d+\.\d+ x [\d,]+ \| \d+\.\d+ x [\d,]+", ln), ln
        assert re.search(r"(Add|Update|Delete) ", ln), ln
