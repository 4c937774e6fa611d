"""The live quote board: a Textual app over a :class:`~ertcloud.client.session.Session`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Static

from ..client.session import Session
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from .model import BoardItem

__all__ = ["COLUMNS", "Column", "QuoteBoard", "fit_columns"]


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    #: lower is kept first when the terminal is narrow
    rank: int
    field: str | None = None


#: Every column, in display order. A narrow terminal keeps the lowest ranks that fit.
COLUMNS: tuple[Column, ...] = (
    Column("ric", "RIC", 10, 0),
    Column("name", "Name", 14, 10, "DSPLY_NAME"),
    Column("bid", "Bid", 10, 1, "BID"),
    Column("bidsize", "BidSz", 7, 8, "BIDSIZE"),
    Column("ask", "Ask", 10, 2, "ASK"),
    Column("asksize", "AskSz", 7, 9, "ASKSIZE"),
    Column("last", "Last", 10, 6, "TRDPRC_1"),
    Column("chg", "Chg", 8, 7, "NETCHNG_1"),
    Column("pct", "%Chg", 7, 4),
    Column("trend", "Trend", 14, 12),
    Column("updates", "Upd", 5, 11),
    Column("time", "Time", 8, 5),
    Column("state", "Status", 11, 3),
)

_PAD = 2  # a DataTable cell has one space of padding each side


def fit_columns(width: int) -> list[Column]:
    """The columns that fit ``width`` cells, most important first, in display order."""
    room = width - 2  # the scroll bar and a margin
    chosen: set[str] = set()
    for c in sorted(COLUMNS, key=lambda c: c.rank):
        if c.width + _PAD <= room:
            chosen.add(c.key)
            room -= c.width + _PAD
    return [c for c in COLUMNS if c.key in chosen]


def _size(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "" if v is None else str(v).strip()
    n = float(v)
    if abs(n) >= 10_000_000:
        return f"{n / 1e6:,.0f}M"
    if abs(n) >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n:,.0f}"


def _price(v: Any, decimals: int, signed: bool = False) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "" if v is None else str(v).strip()
    return f"{v:{'+' if signed else ''},.{decimals}f}"


class QuoteBoard(App[None]):
    """Prices of a few items, live: up-ticks green, down-ticks red, sizes, change and %
    change with their sign, a sparkline of recent prices, the time of each item's last
    update and its status (why, when not Ok; Stale from a lost connection until the item
    is refreshed again). Columns are dropped, least useful first, to fit the terminal.
    ``q`` quits."""

    TITLE = "ertcloud board"
    CSS = """
    #connection { height: 1; padding: 0 1; background: $boost; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(
        self,
        make_session: Callable[[Callable[[str, Any], None]], Session],
        rics: Sequence[str],
        *,
        banner: str | None = None,
        refresh_interval: float = 0.25,
    ) -> None:
        super().__init__()
        self._make_session = make_session
        self.rics = list(dict.fromkeys(rics))
        self.items = {r: BoardItem(r) for r in self.rics}
        self.banner = banner
        self.refresh_interval = refresh_interval
        self.connection = "connecting"
        self.session: Session | None = None
        self.error: str | None = None
        self.shown: list[Column] = []
        self._dirty: set[str] = set()
        self._updates = 0
        self._rate_mark = (time.monotonic(), 0)
        self._rate = 0.0

    def compose(self) -> ComposeResult:
        yield Static(self._connection_text(), id="connection")
        yield DataTable(zebra_stripes=True, cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        self._layout(self.size.width)
        self.set_interval(self.refresh_interval, self._redraw)
        self.run_worker(self._run(), exclusive=True, exit_on_error=False)

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        cols = fit_columns(width)
        if cols == self.shown:
            return
        self.shown = cols
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for c in cols:
            table.add_column(c.title, key=c.key, width=c.width)
        for ric in self.rics:
            table.add_row(*self._cells(self.items[ric]), key=ric)

    async def _run(self) -> None:
        session = self._make_session(self._on_trace)
        self.session = session
        try:
            await session.start()
        except Exception as exc:
            # The first connection failed (bad credentials, unreachable host): leave with
            # the reason, which the command prints as its one-line error.
            self.error = str(exc) or type(exc).__name__
            self.connection = "failed"
            self.exit(return_code=1)
            return
        session.subscribe(
            self.rics,
            on_refresh=self._on_event,
            on_update=self._on_event,
            on_status=self._on_event,
            queue=False,
        )

    async def on_unmount(self) -> None:
        if self.session is not None:
            await self.session.close()

    def _on_trace(self, kind: str, detail: Any) -> None:
        if kind == "connected":
            self.connection = "connected"
        elif kind == "closed":
            self.connection = "disconnected"
            self._all_stale()
        elif kind == "reconnecting":
            self.connection = f"reconnecting in {detail:.1f} s"
            self._all_stale()

    def _all_stale(self) -> None:
        for item in self.items.values():
            if not item.stale:
                item.mark_stale()
                self._dirty.add(item.ric)

    def _on_event(self, ev: Any) -> None:
        item = self.items.get(ev.stream.name)
        if item is None:
            return
        if isinstance(ev, ItemRefreshed):
            item.apply(dict(ev.message.fields or {}), refresh=True)
        elif isinstance(ev, ItemUpdated):
            item.apply(dict(ev.message.fields or {}))
            self._updates += 1
        elif not isinstance(ev, (ItemStatus, StreamClosed)):
            return
        st = ev.stream.state
        if st is not None:
            item.set_state(st.stream, st.data, st.code, st.text)
        self._dirty.add(item.ric)

    def _connection_text(self) -> Text:
        colour = {"connected": "green", "connecting": "yellow"}.get(self.connection, "red")
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.banner:  # first, so that a narrow terminal never cuts it off
            t.append(f"{self.banner} · ", style="bold yellow")
        t.append("● ", style=colour)
        t.append(self.connection, style=f"bold {colour}")
        t.append(f" · {len(self.rics)} items · {self._rate:.1f} updates/s")
        if self.error:
            t.append(f" · {self.error}", style="red")
        if self.session is not None and self.session.url:
            t.append(f" · {self.session.url}")
        return t

    def _cell(self, c: Column, item: BoardItem) -> Text:
        dim = " dim" if item.stale else ""
        if c.key == "ric":
            return Text(item.ric, style="bold" + dim)
        if c.key == "trend":
            return Text(item.spark(c.width), style="cyan" + dim)
        if c.key == "updates":
            return Text(str(item.updates), justify="right", style=dim.strip())
        if c.key == "time":
            t = item.last_update
            shown = time.strftime("%H:%M:%S", time.localtime(t)) if t is not None else ""
            return Text(shown, justify="right", style=dim.strip())
        if c.key == "state":
            status = item.shown_status
            style = "green" if status == "Ok" else "red" if item.closed else "yellow"
            return Text(status, style=style)
        if c.key == "pct":
            pct = item.pct_change
            style = "" if pct is None else "green" if pct > 0 else "red" if pct < 0 else ""
            text = "" if pct is None else f"{pct:+.2f}%"
            return Text(text, style=style + dim, justify="right")
        assert c.field is not None
        v = item.fields.get(c.field)
        if c.key == "name":
            return Text("" if v is None else str(v).strip(), style=dim.strip())
        if c.key in ("bidsize", "asksize"):
            return Text(_size(v), justify="right", style=dim.strip())
        tick = item.ticks.get(c.field, 0)
        if c.key == "chg" and isinstance(v, (int, float)):
            tick = 1 if v > 0 else -1 if v < 0 else 0
        style = "green" if tick > 0 else "red" if tick < 0 else ""
        text = _price(v, item.decimals, signed=c.key == "chg")
        return Text(text, style=(style + dim).strip(), justify="right")

    def _cells(self, item: BoardItem) -> list[Text]:
        return [self._cell(c, item) for c in self.shown]

    def _redraw(self) -> None:
        now = time.monotonic()
        t0, n0 = self._rate_mark
        if now - t0 >= 1.0:
            self._rate = (self._updates - n0) / (now - t0)
            self._rate_mark = (now, self._updates)
        self.query_one("#connection", Static).update(self._connection_text())
        table = self.query_one(DataTable)
        dirty, self._dirty = self._dirty, set()
        for ric in dirty:
            for c in self.shown:
                table.update_cell(ric, c.key, self._cell(c, self.items[ric]))
