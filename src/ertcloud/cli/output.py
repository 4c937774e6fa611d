"""Printing in the vendor examples' format, with secrets redacted by default, or as one
short line per message (``LinePrinter``); both can count what they print (``Tally``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..auth.grants import redact

__all__ = ["LinePrinter", "Printer", "Tally", "pretty"]

#: the fields a one-line view shows first, when a message has them
_KEY_FIELDS = ("BID", "ASK", "BIDSIZE", "ASKSIZE", "TRDPRC_1", "TRDVOL_1", "NETCHNG_1")


def pretty(obj: Any) -> str:
    """The examples' pretty-printer: sorted keys, indent 2, no space after ``:``."""
    return json.dumps(obj, sort_keys=True, indent=2, separators=(",", ":"))


@dataclass
class Tally:
    """What went by: per item its Refreshes and Updates, Pings, and the time span."""

    names: dict[int, str] = field(default_factory=dict)  # stream id -> item name
    refreshes: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    pings: int = 0
    started: float = field(default_factory=time.monotonic)

    def sent(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        key, sid = msg.get("Key"), msg.get("ID")
        if isinstance(key, dict) and isinstance(sid, int) and msg.get("Domain") != "Login":
            name = key.get("Name")
            if isinstance(name, str):
                self.names[sid] = name

    def name_of(self, msg: dict[str, Any]) -> str | None:
        key = msg.get("Key")
        if isinstance(key, dict) and isinstance(key.get("Name"), str):
            return str(key["Name"])
        sid = msg.get("ID")
        return self.names.get(sid) if isinstance(sid, int) else None

    def received(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        kind = msg.get("Type")
        if kind == "Ping":
            self.pings += 1
            return
        if msg.get("Domain") == "Login" or msg.get("ID") == 1:
            return
        name = self.name_of(msg)
        if name is None:
            return
        counts = {"Refresh": self.refreshes, "Update": self.updates, "Status": self.statuses}
        target = counts.get(str(kind))
        if target is not None:
            target[name] = target.get(name, 0) + 1

    @property
    def items(self) -> list[str]:
        return list(dict.fromkeys([*self.refreshes, *self.updates, *self.statuses]))

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Printer:
    """Writes ``SENT:`` / ``RECEIVED: `` blocks and the examples' status lines."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        show_secrets: bool = False,
        label: str = "",
        tally: Tally | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.show_secrets = show_secrets
        self.label = label  # " on session1" for multi-session output
        self.tally = tally

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def block(self, header: str, obj: Any) -> None:
        self.out.write(header + "\n" + pretty(redact(obj, self.show_secrets)) + "\n")
        self.out.flush()

    def sent(self, data: bytes | str) -> None:
        obj = _loads(data)
        items = obj if isinstance(obj, list) else [obj]
        if self.tally is not None:
            for m in items:
                self.tally.sent(m)
        for m in items:  # the examples print each sent message on its own
            self.block(f"SENT{self.label}:", m)

    def received(self, data: bytes | str) -> None:
        obj = _loads(data)
        if self.tally is not None:
            for m in obj if isinstance(obj, list) else [obj]:
                self.tally.received(m)
        self.block(f"RECEIVED{self.label}: " if not self.label else f"RECEIVED{self.label}:", obj)


class LinePrinter(Printer):
    """One short line per message: ``<- TRI.N Update Quote BID 173.36 ASK 173.40``; the
    status lines as they are; the token reply as one line, redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.tally is None:
            self.tally = Tally()  # for the item names of Updates, which carry only an ID

    def block(self, header: str, obj: Any) -> None:
        if self.show_secrets:
            super().block(header, obj)
            return
        head = header.removesuffix(" RECEIVED:").removesuffix(":")
        if isinstance(obj, dict) and "expires_in" in obj:
            head += f" (a token for {obj['expires_in']} s)"
        self.line(head)

    def sent(self, data: bytes | str) -> None:
        assert self.tally is not None
        self._lines(data, "->", self.tally.sent)

    def received(self, data: bytes | str) -> None:
        assert self.tally is not None
        self._lines(data, "<-", self.tally.received)

    def _lines(self, data: bytes | str, arrow: str, count: Callable[[Any], None]) -> None:
        obj = _loads(data)
        for m in obj if isinstance(obj, list) else [obj]:
            count(m)
            self.line(f"{arrow} {self._describe(m)}")

    def _describe(self, m: Any) -> str:
        if not isinstance(m, dict):
            return json.dumps(m)[:200]
        assert self.tally is not None
        kind = str(m.get("Type", "?"))
        if m.get("Domain") == "Login":
            parts = ["Login", kind]
        else:
            name = self.tally.name_of(m)
            parts = [name or f"#{m.get('ID')}", kind]
        if kind == "Update" and m.get("UpdateType"):
            parts.append(str(m["UpdateType"]))
        state = m.get("State")
        if isinstance(state, dict):
            st = f"{state.get('Stream', '')}/{state.get('Data', '')}".strip("/")
            if state.get("Data") not in (None, "Ok") and state.get("Text"):
                st += f" ({state['Text']})"
            parts.append(st)
        fields = m.get("Fields")
        if isinstance(fields, dict):
            shown = [k for k in _KEY_FIELDS if k in fields] or list(fields)[:4]
            parts += [f"{k} {fields[k]}" for k in shown[:6]]
            if kind == "Refresh":
                parts.append(f"({len(fields)} fields)")
        entries = (m.get("Map") or {}).get("Entries") if isinstance(m.get("Map"), dict) else None
        if isinstance(entries, list):
            parts.append(f"({len(entries)} book entries)")
        return "  ".join(parts)


def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return {"<unparsable frame>": text[:500]}


#: domains whose items are order books (a Map of price levels or orders)
BOOK_DOMAINS = frozenset({"MarketByPrice", "MarketByOrder", "MarketMaker"})
BOOK_DEPTH = 5  # levels per side a Refresh shows


def book_header() -> str:
    """The ``--format table`` header for order-book items."""
    return f"{'time':<8} {'RIC':<12} {'event':<8} book: levels, best bid | best ask, changes"


def _qty(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"


def _key(entry: dict[str, Any]) -> str:
    """A map entry's key as a person reads it: buffer keys are base64 of text such as
    ``173.380000B`` (price and side) or an order id."""
    import base64
    import binascii

    key = entry.get("Key")
    if not isinstance(key, str):
        return json.dumps(key)
    try:
        text = base64.b64decode(key, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return key
    return text if text.isprintable() and text else key


def book_table_lines(prefix: str, kind: str, stream: Any, message: Any) -> list[str] | None:
    """``--format table`` lines for an order-book item (None for other items): a Refresh
    shows the top levels of both sides, an Update the entries it changed and the best
    prices after it."""
    from ..protocol.book import OrderBook
    from ..tui.model import decimals_of

    if getattr(stream, "domain", None) not in BOOK_DOMAINS and getattr(stream, "map", None) is None:
        return None
    image = getattr(stream, "map", None)
    book = OrderBook.from_map(image) if image is not None else OrderBook((), ())
    bb, ba = book.best_bid, book.best_ask
    d = max([2, *(decimals_of(lv.price) for lv in (*book.bids, *book.asks))])
    d = min(d, 6)
    best = " | ".join(
        f"{lv.price:.{d}f} x {_qty(lv.size)}" if lv is not None else "-" for lv in (bb, ba)
    )
    levels = f"{len(book.bids)} bid / {len(book.asks)} ask levels"
    entries = image.entries if image is not None else {}
    if kind == "REFRESH":
        lines = [f"{prefix} {levels}, {len(entries)} entries; best {best}"]
        for i in range(min(BOOK_DEPTH, max(len(book.bids), len(book.asks)))):
            b = book.bids[i] if i < len(book.bids) else None
            a = book.asks[i] if i < len(book.asks) else None
            left = f"{b.orders:>4} {_qty(b.size):>10} {b.price:>12.{d}f}" if b else " " * 28
            right = f"{a.price:<12.{d}f} {_qty(a.size):>10} {a.orders:>4}" if a else ""
            lines.append(f"{'':<8} {'':<12} {'level ' + str(i + 1):<8} {left} | {right}")
        return lines
    changes: list[str] = []
    mp = getattr(message, "map", None)
    raw_entries = mp.get("Entries") if isinstance(mp, dict) else None
    for e in raw_entries if isinstance(raw_entries, list) else []:
        if not isinstance(e, dict):
            continue
        f: dict[str, Any] = e["Fields"] if isinstance(e.get("Fields"), dict) else {}
        price = f.get("ORDER_PRC")
        where = f"{f.get('ORDER_SIDE', '')} {price}".strip() if price is not None else _key(e)
        size = f.get("ACC_SIZE", f.get("ORDER_SIZE"))
        what = f"{e.get('Action', '')} {where}".strip()
        changes.append(what + (f" x {_qty(float(size))}" if isinstance(size, (int, float)) else ""))
    shown = ", ".join(changes[:3]) + (f" (+{len(changes) - 3} more)" if len(changes) > 3 else "")
    return [f"{prefix} best {best}" + (f"; {shown}" if shown else "")]
