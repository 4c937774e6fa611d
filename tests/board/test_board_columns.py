"""What a person watching the board sees: at 80 and 120 columns the most useful columns
and the SIMULATED label; sizes, signed changes, decimals per instrument, the time of the
last update, the reason an item is refused; and rows going Stale while the connection is
lost, until their next Refresh."""

from __future__ import annotations

import asyncio
import html
import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from rich.text import Text

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.sim.server import SimServer
from ertcloud.tui.model import BoardItem, decimals_of

if TYPE_CHECKING:
    from textual.pilot import Pilot
    from textual.widgets import DataTable

    from ertcloud.tui.board import QuoteBoard

# Textual (and the board) are imported in the tests that use it: every xdist worker collects
# this module, one runs it.

RICS = ["TRI.N", "EUR=", "JPY=", "NO.SUCH"]


def _factory(sim: SimServer) -> Any:
    def make(trace: Any) -> Session:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", client_id="b")
        )
        return Session(sim.websocket_url, tokens=tokens, trace=trace)

    return make


def _text(table: DataTable[Any], ric: str, col: str) -> str:
    v = table.get_cell(ric, col)
    assert isinstance(v, Text)
    return v.plain


def _screen_text(app: QuoteBoard) -> str:
    """The rendered screen as text (from Textual's SVG screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def _until(pilot: Pilot[Any], ok: Callable[[], bool], what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def test_columns_are_dropped_least_useful_first() -> None:
    from ertcloud.tui.board import COLUMNS, fit_columns

    keys = [[c.key for c in fit_columns(w)] for w in (40, 80, 120, 200)]
    assert keys[0][:2] == ["ric", "bid"]
    for narrow, wide in itertools.pairwise(keys):
        assert set(narrow) <= set(wide)
    assert keys[-1] == [c.key for c in COLUMNS]
    for w in (60, 80, 100, 120, 160):
        cols = fit_columns(w)
        assert sum(c.width + 2 for c in cols) <= w - 2
        assert [c.key for c in cols] == [c.key for c in COLUMNS if c in cols]  # display order


@pytest.mark.parametrize(
    ("size", "present", "absent"),
    [
        ((80, 24), ["RIC", "Bid", "Ask", "%Chg", "Time", "Status"], ["Trend", "Name", "BidSz"]),
        (
            (120, 24),
            ["RIC", "Bid", "BidSz", "Ask", "AskSz", "Last", "Chg", "%Chg", "Time", "Status"],
            ["Trend"],
        ),
    ],
)
async def test_board_at_80_and_120_columns(
    make_sim: Any, size: tuple[int, int], present: list[str], absent: list[str]
) -> None:
    from textual.widgets import DataTable

    from ertcloud.tui.board import QuoteBoard

    async with make_sim(server={"rate": 10.0}) as sim:
        app = QuoteBoard(_factory(sim), RICS, banner="SIMULATED data", refresh_interval=0.1)
        async with app.run_test(size=size) as pilot:
            table = app.query_one(DataTable)
            await _until(
                pilot,
                lambda: (
                    all(app.items[r].updates >= 1 for r in RICS[:3])
                    and app.items["NO.SUCH"].status != "Pending"
                ),
                "prices",
            )
            await pilot.pause(0.3)
            titles = [str(c.label) for c in table.columns.values()]
            assert [t for t in present if t not in titles] == []
            assert [t for t in absent if t in titles] == []
            assert table.virtual_size.width <= table.size.width  # no sideways scrolling
            screen = _screen_text(app)
            lines = screen.splitlines()
            assert any("SIMULATED data" in ln and "connected" in ln for ln in lines), screen
            header = next(ln for ln in lines if "RIC" in ln and "Status" in ln)
            for t in present:
                assert t in header
            assert "NotFound" in screen and "Closed/Suspect" not in screen
            # decimals per instrument: EUR= is quoted to 4+ places, TRI.N to 2
            eur_bid = _text(table, "EUR=", "bid")
            assert len(eur_bid.split(".")[1]) >= 4, eur_bid
            assert len(_text(table, "TRI.N", "bid").split(".")[1]) >= 2
            pct = _text(table, "TRI.N", "pct")
            assert re.fullmatch(r"[+-]\d+\.\d\d%", pct) or pct == "+0.00%", pct
            assert re.fullmatch(r"\d\d:\d\d:\d\d", _text(table, "TRI.N", "time"))
            if "BidSz" in present:
                assert re.fullmatch(r"[\d,.]+[KM]?", _text(table, "TRI.N", "bidsize"))
                assert _text(table, "TRI.N", "chg")[0] in "+-"
            await pilot.press("q")


async def test_rows_go_stale_while_the_connection_is_lost(make_sim: Any) -> None:
    from textual.widgets import DataTable

    from ertcloud.tui.board import QuoteBoard

    async with make_sim(server={"rate": 10.0}) as sim:
        app = QuoteBoard(_factory(sim), RICS[:2], refresh_interval=0.05)
        async with app.run_test(size=(120, 24)) as pilot:
            table = app.query_one(DataTable)

            def statuses() -> set[str]:
                return {_text(table, r, "state") for r in RICS[:2]}

            await _until(pilot, lambda: statuses() == {"Ok"}, "Ok rows")
            before = {r: app.items[r].last_update for r in RICS[:2]}
            await sim.faults.apply("refuse")
            await sim.faults.apply("drop")
            await _until(pilot, lambda: statuses() == {"Stale"}, "stale rows")
            assert app.connection != "connected"
            assert all(app.items[r].stale for r in RICS[:2])
            await pilot.pause(0.5)
            assert statuses() == {"Stale"}  # not Ok again while nothing can connect
            await sim.faults.clear("refuse")
            await _until(pilot, lambda: statuses() == {"Ok"}, "rows refreshed again")
            after = {r: app.items[r].last_update for r in RICS[:2]}
            assert all(after[r] > before[r] for r in RICS[:2])  # type: ignore[operator]
            await pilot.press("q")


def test_model_status_reasons_and_decimals() -> None:
    item = BoardItem("NO.SUCH")
    item.set_state("Closed", "Suspect", "NotFound", "**The record could not be found")
    assert item.status == "NotFound" and item.closed
    item.mark_stale()
    assert not item.stale  # a closed item is not waiting for anything
    ok = BoardItem("EUR=")
    ok.apply({"BID": 1.0834, "ASK": 1.0836, "NETCHNG_1": -0.0012}, refresh=True, now=1.0)
    ok.set_state("Open", "Ok")
    assert ok.decimals == 4 and ok.shown_status == "Ok" and ok.last_update == 1.0
    assert ok.pct_change is not None and ok.pct_change < 0
    ok.mark_stale()
    assert ok.shown_status == "Stale"
    ok.apply({"BID": 1.0835}, now=2.0)
    assert ok.stale  # an Update does not bring back a whole image
    ok.apply({"BID": 1.0835, "ASK": 1.0837}, refresh=True, now=3.0)
    assert not ok.stale and ok.shown_status == "Ok"
    assert decimals_of(173.4) == 1 and decimals_of(150) == 0 and decimals_of(1e-7) == 0
