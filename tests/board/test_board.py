"""The quote board, driven headlessly by Textual's pilot against the in-process simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.text import Text

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.sim.server import SimServer
from ertcloud.tui.model import BoardItem, sparkline

if TYPE_CHECKING:
    from textual.widgets import DataTable

# Textual (and the board) are imported in the tests that drive it: every xdist worker
# collects this module, one runs it.

RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", ".DJI", "NO.SUCH"]


def _factory(sim: SimServer, password: str = "demo") -> Any:
    def make(trace: Any) -> Session:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", password, client_id="b")
        )
        return Session(sim.websocket_url, tokens=tokens, trace=trace)

    return make


def _cell(table: DataTable[Any], ric: str, col: str) -> Text:
    v = table.get_cell(ric, col)
    assert isinstance(v, Text)
    return v


async def test_board_shows_live_prices_ticks_and_states(make_sim: Any, tmp_path: Path) -> None:
    from textual.widgets import DataTable, Static

    from ertcloud.tui.board import QuoteBoard

    async with make_sim(server={"rate": 20.0}) as sim:
        app = QuoteBoard(_factory(sim), RICS, refresh_interval=0.1)
        async with app.run_test(size=(170, 14)) as pilot:
            table = app.query_one(DataTable)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while loop.time() < deadline:
                await pilot.pause(0.1)
                items = [app.items[r] for r in RICS[:5]]
                if all(i.updates >= 3 and len(i.history) >= 3 for i in items) and any(
                    i.ticks for i in items
                ):
                    break
            await pilot.pause(0.3)
            assert app.connection == "connected"
            conn = app.query_one("#connection", Static).render()
            assert "connected" in str(conn) and sim.websocket_url in str(conn)
            assert str(_cell(table, "TRI.N", "state")) == "Ok"
            assert str(_cell(table, "TRI.N", "bid")) != ""
            assert str(_cell(table, "NO.SUCH", "state")) == "NotFound"
            # up/down ticks are coloured
            styles = {
                str(_cell(table, r, c).style)
                for r in RICS[:5]
                for c in ("bid", "ask", "last")
                if app.items[r].ticks
            }
            assert styles & {"green", "red"}, styles
            spark = str(_cell(table, "TRI.N", "trend"))
            assert len(spark) >= 3 and set(spark) <= set("▁▂▃▄▅▆▇█")
            svg = app.save_screenshot("board.svg", str(tmp_path))
            text = await asyncio.to_thread(Path(svg).read_text)
            assert text.startswith("<svg") and "TRI.N" in text
            await pilot.press("q")
        assert app.session is not None and app.session._closed.is_set()


async def test_board_reports_a_failed_login(sim: SimServer) -> None:
    from ertcloud.tui.board import QuoteBoard

    app = QuoteBoard(_factory(sim, password="wrong"), ["TRI.N"])
    async with app.run_test() as pilot:
        for _ in range(100):
            if app.error:
                break
            await pilot.pause(0.1)
    assert app.error and app.connection == "failed"
    assert app.return_code == 1


def test_model_ticks_and_sparkline() -> None:
    item = BoardItem("X")
    item.apply({"BID": 10.0, "ASK": 10.2}, refresh=True)
    item.apply({"BID": 10.1})
    item.apply({"ASK": 10.1})
    assert item.ticks == {"BID": 1, "ASK": -1}
    assert item.updates == 2 and list(item.history) == pytest.approx([10.1, 10.15, 10.1])
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5]) == "▄▄"
    assert sparkline([]) == ""
    item.apply({"TRDPRC_1": 11}, refresh=True)
    assert item.ticks == {} and item.price == 11.0
