"""Images of the non-MarketPrice domains the simulator serves: the Source directory, the
Map domains (MarketByPrice, MarketByOrder, MarketMaker, SymbolList) and their split into
multi-part refreshes that each fit in ``MaxMsgSize``.

No I/O: functions that build :mod:`ertcloud.protocol.messages` structs.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from ..protocol import codec
from ..protocol.messages import Key, Qos, Refresh, State

__all__ = [
    "CAPABILITIES",
    "book_summary",
    "directory_refresh",
    "market_maker_diff",
    "market_maker_entries",
    "split_refresh",
]

#: Domains the simulated service provides (Source directory ``Capabilities``).
CAPABILITIES = (5, 6, 7, 8, 9, 10, 22, 33)
_FILTER_INFO = 1
_FILTER_STATE = 2
_FILTER_LOAD = 8
_QOS_LIST: list[dict[str, Any]] = [
    {"Timeliness": "Realtime", "Rate": "TickByTick"},
    {"Timeliness": "Delayed", "Rate": "TickByTick", "TimeInfo": 15},
]
_SUMMARY_FIELDS = (
    "PROD_PERM",
    "DSPLY_NAME",
    "CURRENCY",
    "LOT_SIZE_A",
    "RECORDTYPE",
    "RDN_EXCHD2",
    "PROV_SYMB",
    "MNEMONIC",
    "LIST_MKT",
)


def split_refresh(first: Refresh, entries: list[dict[str, Any]], max_size: int) -> list[Refresh]:
    """Split a Map refresh into parts whose JSON (inside a frame's ``[...]``) each fit in
    ``max_size`` bytes.

    ``first`` carries everything of part 0 except ``Map.Entries`` (Key, Qos, Summary,
    CountHint...). A single part keeps ``first`` as it is; otherwise part 0 gets
    ``Complete: false`` and ``PartNumber: 0``, later parts only ``PartNumber``,
    ``ClearCache: false``, the State and the Map entries; the last part has no
    ``Complete`` (true). An entry larger than the budget travels alone.
    """
    head = dict(first.map or {})
    probe = msgspec.structs.replace(
        first,
        map={**head, "Entries": []},
        complete=False,
        part_number=999_999,
        clear_cache=False,
    )
    budget = max(max_size - 2 - len(codec.encode_one(probe)), 1)
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for e in entries:
        n = len(msgspec.json.encode(e)) + 1
        if chunks[-1] and size + n > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(e)
        size += n
    if len(chunks) == 1:
        return [msgspec.structs.replace(first, map={**head, "Entries": entries})]
    parts = [
        msgspec.structs.replace(
            first, map={**head, "Entries": chunks[0]}, complete=False, part_number=0
        )
    ]
    last = len(chunks) - 1
    for i, chunk in enumerate(chunks[1:], 1):
        parts.append(
            Refresh(
                id=first.id,
                domain=first.domain,
                state=first.state,
                solicited=first.solicited,
                private=first.private,
                clear_cache=False,
                part_number=i,
                complete=None if i == last else False,
                map={"KeyType": head.get("KeyType", "Buffer"), "Entries": chunk},
            )
        )
    return parts


def book_summary(image: dict[str, Any], ms: int) -> dict[str, Any]:
    """Summary fields of a MarketByPrice / MarketByOrder / MarketMaker refresh."""
    out = {k: image[k] for k in _SUMMARY_FIELDS if k in image}
    out["TIMACT_MS"] = ms
    out["BOOK_STATE"] = "N"
    return out


def _mm_key(mmid: str) -> str:
    return base64.b64encode(mmid.encode()).decode()


def market_maker_entries(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A MarketMaker image as Map ``Add`` entries keyed by the participant id."""
    return [{"Action": "Add", "Key": _mm_key(m), "Fields": f} for m, f in sorted(table.items())]


def market_maker_diff(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], ms: int
) -> list[dict[str, Any]]:
    """Entries that turn the MarketMaker table ``old`` into ``new``."""
    out: list[dict[str, Any]] = [
        {"Action": "Delete", "Key": _mm_key(m)} for m in sorted(old) if m not in new
    ]
    for m, f in sorted(new.items()):
        before = old.get(m)
        if before is None:
            out.append({"Action": "Add", "Key": _mm_key(m), "Fields": f})
            continue
        changed = {k: v for k, v in f.items() if before.get(k) != v}
        if changed:
            if "BID" in changed or "BIDSIZE" in changed:
                changed["BID_TIM_MS"] = ms
            if "ASK" in changed or "ASKSIZE" in changed:
                changed["ASK_TIM_MS"] = ms
            changed["TIMACT_MS"] = ms
            changed["MMID"] = m
            out.append({"Action": "Update", "Key": _mm_key(m), "Fields": changed})
    return out


def directory_refresh(
    sid: int,
    services: dict[str, int],
    *,
    filter_: int | None,
    streaming: bool,
    private: bool = False,
) -> Refresh:
    """The Source directory: one Map entry per service (keyed by service id) holding a
    FilterList with the Info, State and Load filters the request's ``Filter`` selects."""
    mask = 0x3F if filter_ is None else filter_
    entries: list[dict[str, Any]] = []
    for name, service_id in services.items():
        filters: list[dict[str, Any]] = []
        if mask & _FILTER_INFO:
            filters.append(
                {
                    "ID": _FILTER_INFO,
                    "Action": "Set",
                    "Elements": {
                        "Name": name,
                        "Vendor": "ertcloud simulator",
                        "IsSource": 1,
                        "Capabilities": {"Type": "UInt", "Data": list(CAPABILITIES)},
                        "DictionariesUsed": {"Type": "AsciiString", "Data": ["RWFFld", "RWFEnum"]},
                        "DictionariesProvided": {
                            "Type": "AsciiString",
                            "Data": ["RWFFld", "RWFEnum"],
                        },
                        "QoS": {"Type": "Qos", "Data": _QOS_LIST},
                        "SupportsQoSRange": 0,
                        "ItemList": f"{name}_ITEM_LIST",
                        "SupportsOutOfBandSnapshots": 0,
                        "AcceptingConsumerStatus": 0,
                    },
                }
            )
        if mask & _FILTER_STATE:
            filters.append(
                {
                    "ID": _FILTER_STATE,
                    "Action": "Set",
                    "Elements": {"ServiceState": 1, "AcceptingRequests": 1},
                }
            )
        if mask & _FILTER_LOAD:
            filters.append(
                {
                    "ID": _FILTER_LOAD,
                    "Action": "Set",
                    "Elements": {"OpenLimit": 50_000, "OpenWindow": 1000, "LoadFactor": 1},
                }
            )
        entries.append({"Action": "Add", "Key": service_id, "FilterList": {"Entries": filters}})
    return Refresh(
        id=sid,
        domain="Source",
        key=Key(filter=mask),
        state=State(stream="Open" if streaming else "NonStreaming", data="Ok", text="All is well"),
        qos=Qos(timeliness="Realtime", rate="TickByTick"),
        private=True if private else None,
        map={"KeyType": "UInt", "Entries": entries},
    )
