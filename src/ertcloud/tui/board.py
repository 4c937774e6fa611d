"""The live quote board: a Textual app over a :class:`~ertcloud.client.session.Session`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Static

from ..client.session import Session
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from .model import BoardItem

__all__ = ["COLUMNS", "QuoteBoard"]

#: (column key, title, field shown or None for a computed column, width)
COLUMNS: tuple[tuple[str, str, str | None, int], ...] = (
    ("ric", "RIC", None, 11),
    ("name", "Name", "DSPLY_NAME", 16),
    ("bid", "Bid", "BID", 10),
    ("ask", "Ask", "ASK", 10),
    ("last", "Last", "TRDPRC_1", 10),
    ("chg", "Chg", "NETCHNG_1", 8),
    ("trend", "Trend", None, 20),
    ("updates", "Updates", None, 7),
    ("state", "Status", None, 16),
)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v).strip()


class QuoteBoard(App[None]):
    """Prices of a few items, live: up-ticks green, down-ticks red, a sparkline of recent
    prices, the state of every stream and of the connection. ``q`` quits."""

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
        self._dirty: set[str] = set()
        self._updates = 0
        self._rate_mark = (time.monotonic(), 0)
        self._rate = 0.0

    def compose(self) -> ComposeResult:
        yield Static(self._connection_text(), id="connection")
        yield DataTable(zebra_stripes=True, cursor_type="none")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, title, _, width in COLUMNS:
            table.add_column(title, key=key, width=width)
        for ric in self.rics:
            table.add_row(*self._cells(self.items[ric]), key=ric)
        self.set_interval(self.refresh_interval, self._redraw)
        self.run_worker(self._run(), exclusive=True, exit_on_error=False)

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
        elif kind == "reconnecting":
            self.connection = f"reconnecting in {detail:.1f} s"

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
            item.state = f"{st.stream}/{st.data}"
            if st.text and st.data != "Ok":
                item.state += f" {st.text}"
        self._dirty.add(item.ric)

    def _connection_text(self) -> Text:
        colour = {"connected": "green", "connecting": "yellow"}.get(self.connection, "red")
        t = Text()
        t.append("● ", style=colour)
        t.append(self.connection, style=f"bold {colour}")
        if self.session is not None and self.session.url:
            t.append(f" · {self.session.url}")
        t.append(f" · {len(self.rics)} items · {self._rate:.1f} updates/s")
        if self.error:
            t.append(f" · {self.error}", style="red")
        if self.banner:
            t.append(f" · {self.banner}", style="bold yellow")
        return t

    def _cells(self, item: BoardItem) -> list[Text]:
        out: list[Text] = []
        for key, _, fname, _ in COLUMNS:
            if key == "ric":
                out.append(Text(item.ric, style="bold"))
            elif key == "trend":
                out.append(Text(item.spark(), style="cyan"))
            elif key == "updates":
                out.append(Text(str(item.updates), justify="right"))
            elif key == "state":
                ok = item.state.startswith("Open/Ok")
                out.append(Text(item.state, style="green" if ok else "yellow"))
            else:
                assert fname is not None
                v = item.fields.get(fname)
                tick = item.ticks.get(fname, 0)
                if key == "chg" and isinstance(v, (int, float)):
                    tick = 1 if v > 0 else -1 if v < 0 else 0
                style = "green" if tick > 0 else "red" if tick < 0 else ""
                justify = "left" if key == "name" else "right"
                out.append(Text(_fmt(v), style=style, justify=justify))  # type: ignore[arg-type]
        return out

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
            for (key, _, _, _), cell in zip(COLUMNS, self._cells(self.items[ric]), strict=True):
                table.update_cell(ric, key, cell)
