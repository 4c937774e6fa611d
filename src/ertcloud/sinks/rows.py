"""What a sink stores: one :class:`Row` per message received, and the tables derived from it.

Every sink keeps the raw messages (``messages``: sequence, receive time, item, the message's
``Fields`` and its JSON). The database sinks also keep three derived tables: ``quotes``
(BID/ASK changes), ``trades`` (Trade updates with a price) and ``book`` (one row per
order-book map entry of MarketByPrice/MarketByOrder items).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..protocol import codec
from ..protocol.dictionary import builtin
from ..protocol.messages import Refresh, Status, Update

__all__ = [
    "BAR_COLUMNS",
    "BOOK_COLUMNS",
    "COLUMNS",
    "NEWS_COLUMNS",
    "QUOTE_COLUMNS",
    "QUOTE_TYPED",
    "TRADE_COLUMNS",
    "TRADE_TYPED",
    "Row",
    "book_rows",
    "derived_row",
    "quote_row",
    "row_from_message",
    "trade_row",
]

#: Columns of the ``messages`` table, in order.
COLUMNS = ("seq", "ts", "kind", "domain", "ric", "service", "update_type", "fields", "raw")
#: Typed columns of ``quotes`` and ``trades``: (column, field). Their SQL types follow the
#: field's dictionary type (DATE, TIME, BIGINT for INT/UINT, DOUBLE for REAL).
QUOTE_TYPED = (("quote_date", "QUOTE_DATE"), ("quote_time", "QUOTIM"), ("quotim_ms", "QUOTIM_MS"))
TRADE_TYPED = (("trade_date", "TRADE_DATE"), ("trade_time", "SALTIM"), ("saltim_ms", "SALTIM_MS"))
QUOTE_COLUMNS = (
    "seq", "ts", "ric", "bid", "ask", "bidsize", "asksize", *(c for c, _ in QUOTE_TYPED)
)  # fmt: skip
TRADE_COLUMNS = ("seq", "ts", "ric", "price", "size", *(c for c, _ in TRADE_TYPED))
BOOK_COLUMNS = ("seq", "ts", "ric", "domain", "action", "key", "fields")
NEWS_COLUMNS = (
    "seq",
    "ts",
    "ric",
    "guid",
    "created",
    "urgency",
    "headline",
    "subjects",
    "rics",
    "body",
)
BAR_COLUMNS = (
    "seq",
    "ts",
    "ric",
    "start_ts",
    "end_ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "count",
    "source",
)

_QUOTE_FIELDS = ("BID", "ASK", "BIDSIZE", "ASKSIZE")
_BOOK_DOMAINS = frozenset({"MarketByPrice", "MarketByOrder", "MarketMaker"})


@dataclass(frozen=True, slots=True)
class Row:
    """One message received on an item stream.

    ``seq`` grows by one per message and keeps growing across runs of a recorder;
    ``ts`` is the receive time (seconds since the epoch); ``kind`` is the message Type
    (Refresh, Update, Status); ``fields`` the message's Fields (None when it has none);
    ``raw`` the message as compact JSON, exactly as the client decoded it."""

    seq: int
    ts: float
    kind: str
    domain: str
    ric: str
    service: str | None
    update_type: str | None
    fields: dict[str, Any] | None
    raw: str

    def as_tuple(self) -> tuple[Any, ...]:
        """The row with ``fields`` as JSON text (the storage form), in :data:`COLUMNS` order."""
        return (
            self.seq,
            self.ts,
            self.kind,
            self.domain,
            self.ric,
            self.service,
            self.update_type,
            fields_json(self.fields),
            self.raw,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(COLUMNS, self.as_tuple(), strict=True))

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Row:
        """Build a row back from its storage form (``fields`` as JSON text or a dict)."""
        f = values.get("fields")
        fields = json.loads(f) if isinstance(f, str) else f
        service = values.get("service")
        update_type = values.get("update_type")
        return cls(
            seq=int(values["seq"]),
            ts=float(values["ts"]),
            kind=str(values["kind"]),
            domain=str(values["domain"]),
            ric=str(values["ric"]),
            service=None if service in (None, "") else str(service),
            update_type=None if update_type in (None, "") else str(update_type),
            fields=fields,
            raw=str(values["raw"]),
        )


def fields_json(fields: dict[str, Any] | None) -> str | None:
    if fields is None:
        return None
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def row_from_message(
    seq: int,
    ts: float,
    message: Refresh | Update | Status,
    *,
    ric: str,
    domain: str = "MarketPrice",
    service: str | int | None = None,
) -> Row:
    """The row for one item message (``ric``/``domain``/``service`` come from its stream)."""
    key = message.key
    if service is None and key is not None:
        service = key.service
    utype = message.update_type if isinstance(message, Update) else None
    fields = message.fields if isinstance(message, (Refresh, Update)) else None
    return Row(
        seq=seq,
        ts=ts,
        kind=type(message).__name__,
        domain=domain,
        ric=ric,
        service=None if service is None else str(service),
        update_type=None if utype is None else str(utype),
        fields=dict(fields) if fields is not None else None,
        raw=codec.encode_one(message).decode(),
    )


_INT64_MAX = 2**63 - 1


def _typed(f: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    """The values of typed columns, decoded by the field dictionary; a value that does
    not fit its type is left out (NULL): the raw JSON keeps it."""
    d = builtin()
    out: list[Any] = []
    for _, name in columns:
        v = d.decode(name, f.get(name))
        kind = d.fields[name].type
        ok = (
            isinstance(v, dt.time)
            if kind == "TIME"
            else isinstance(v, dt.date)
            if kind == "DATE"
            else type(v) is int and abs(v) <= _INT64_MAX
            if kind in ("INT", "UINT")
            else type(v) is float
        )
        out.append(v if ok else None)
    return tuple(out)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def quote_row(row: Row) -> tuple[Any, ...] | None:
    """A ``quotes`` row when the message changes BID, ASK or their sizes."""
    f = row.fields
    if not f or row.domain != "MarketPrice" or not any(k in f for k in _QUOTE_FIELDS):
        return None
    return (
        row.seq, row.ts, row.ric, *(_num(f.get(k)) for k in _QUOTE_FIELDS), *_typed(f, QUOTE_TYPED)
    )  # fmt: skip


def trade_row(row: Row) -> tuple[Any, ...] | None:
    """A ``trades`` row for a Trade update that carries a price (TRDPRC_1)."""
    f = row.fields
    if not f or row.kind != "Update" or row.update_type != "Trade":
        return None
    price = _num(f.get("TRDPRC_1"))
    if price is None:
        return None
    return (row.seq, row.ts, row.ric, price, _num(f.get("TRDVOL_1")), *_typed(f, TRADE_TYPED))


def derived_row(row: Row) -> tuple[str, tuple[Any, ...]] | None:
    """``("news", row)`` for a reassembled story (kind ``Story``), ``("bars", row)`` for a
    bar (kind ``Bar``): rows the recorder derives, with their values in ``fields``."""
    table = {"Story": "news", "Bar": "bars"}.get(row.kind)
    f = row.fields
    if table is None or f is None:
        return None
    cols = NEWS_COLUMNS if table == "news" else BAR_COLUMNS
    # the bar's start and end are columns start_ts and end_ts (END is an SQL keyword)
    return table, (row.seq, row.ts, row.ric, *(f.get(c.removesuffix("_ts")) for c in cols[3:]))


def book_rows(row: Row) -> list[tuple[Any, ...]]:
    """One ``book`` row per map entry of an order-book message (action, key, fields)."""
    if row.domain not in _BOOK_DOMAINS or row.kind == "Status":
        return []
    try:
        msg = json.loads(row.raw)
    except ValueError:
        return []
    entries = (msg.get("Map") or {}).get("Entries") if isinstance(msg, dict) else None
    out: list[tuple[Any, ...]] = []
    for e in entries or []:
        if not isinstance(e, dict):
            continue
        key = e.get("Key")
        out.append(
            (
                row.seq,
                row.ts,
                row.ric,
                row.domain,
                str(e.get("Action", "")),
                key if isinstance(key, str) else json.dumps(key),
                fields_json(e.get("Fields")),
            )
        )
    return out
