"""The simulator's Dictionary domain over a real WebSocket: RWFFld and RWFEnum at each
filter, version information, multi-part refreshes, refusals, and the shapes the vendor's
Python library needs (Key.Name echoed, Domain and Data Ok, dotted integer versions)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from rawclient import Raw, connect

from ertcloud.protocol.dictionary import Dictionary, builtin
from ertcloud.sim.server import SimServer

Pred = Callable[[dict[str, Any]], bool]


def on(sid: int) -> Pred:
    return lambda m: m.get("ID") == sid and m.get("Type") in ("Refresh", "Status")


async def fetch(raw: Raw, sid: int, name: str, filter_: int | None = 7, **key: Any) -> list[Any]:
    k: dict[str, Any] = {"Name": name, "NameType": "Name", **key}
    if filter_ is not None:
        k["Filter"] = filter_
    await raw.send(
        {"ID": sid, "Type": "Request", "Domain": "Dictionary", "Key": k, "Streaming": False}
    )
    parts = [await raw.next(on(sid), 10)]
    while parts[-1]["Type"] == "Refresh" and parts[-1].get("Complete") is False:
        parts.append(await raw.next(on(sid), 10))
    return parts


@pytest.fixture
async def raw(make_sim: Callable[..., SimServer]) -> AsyncIterator[Raw]:
    async with make_sim() as sim, aiohttp.ClientSession() as http:
        r = await connect(sim, http)
        yield r
        await r.ws.close()


def elements_of(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["Elements"] for p in parts for e in p["Series"].get("Entries", [])]


async def test_normal_field_dictionary_in_one_part(raw: Raw) -> None:
    (msg,) = await fetch(raw, 5, "RWFFld", 7, Service="ELEKTRON_DD")
    assert msg["Type"] == "Refresh" and msg["Domain"] == "Dictionary"
    assert msg["Key"]["Name"] == "RWFFld" and msg["Key"]["Filter"] == 7
    assert msg["State"] == {"Stream": "NonStreaming", "Data": "Ok", "Text": "All is well"}
    assert msg.get("Complete", True) is True
    summary = msg["Series"]["Summary"]["Elements"]
    assert summary["Type"] == {"Type": "Int", "Data": 1}
    version = summary["Version"]
    assert version == builtin().version and all(p.isdigit() for p in version.split("."))
    els = elements_of([msg])
    assert msg["Series"]["CountHint"] == len(els) == len(builtin()) >= 500
    bid = next(e for e in els if e["NAME"] == "BID")
    assert bid == {
        "NAME": "BID",
        "FID": {"Type": "Int", "Data": 22},
        "RIPPLETO": {"Type": "Int", "Data": 23},
        "TYPE": {"Type": "Int", "Data": 4},
        "LENGTH": 17,
        "RWFTYPE": 8,
        "RWFLEN": 7,
        "ENUMLENGTH": 0,
        "LONGNAME": bid["LONGNAME"],
    }
    assert all(-1 <= e["TYPE"]["Data"] <= 10 for e in els)
    # the refresh rebuilds the same dictionary on the client side
    d = Dictionary.from_series([msg["Series"]])
    assert d.version == version
    assert {n: (f.fid, f.type, f.ripple_to) for n, f in d.fields.items()} == {
        n: (f.fid, f.type, f.ripple_to) for n, f in builtin().fields.items()
    }


async def test_minimal_filter_leaves_out_normal_elements(raw: Raw) -> None:
    (msg,) = await fetch(raw, 5, "RWFFld", 3)
    els = elements_of([msg])
    assert len(els) == len(builtin())
    assert all("LONGNAME" not in e and "ENUMLENGTH" not in e for e in els)
    assert all(
        {"NAME", "FID", "RIPPLETO", "TYPE", "LENGTH", "RWFTYPE", "RWFLEN"} <= set(e) for e in els
    )


async def test_info_filter_has_the_summary_and_no_entries(raw: Raw) -> None:
    (fld,) = await fetch(raw, 5, "RWFFld", 0)
    (enum,) = await fetch(raw, 6, "RWFEnum", 0)
    assert fld["Series"]["Entries"] == [] and enum["Series"]["Entries"] == []
    assert fld["Series"]["Summary"]["Elements"]["Version"] == builtin().version
    el = enum["Series"]["Summary"]["Elements"]
    assert el["Type"] == {"Type": "Int", "Data": 2}
    assert el["Version"] == el["DT_Version"] == builtin().enum_version
    assert el["RT_Version"] == builtin().version


async def test_verbose_and_default_filters(raw: Raw) -> None:
    (verbose,) = await fetch(raw, 5, "RWFFld", 15)
    (default,) = await fetch(raw, 6, "RWFFld", None)  # no Filter: Normal
    assert elements_of([verbose]) == elements_of([default])
    assert all("LONGNAME" in e for e in elements_of([default]))


async def test_enum_tables(raw: Raw) -> None:
    (msg,) = await fetch(raw, 5, "RWFEnum", 7)
    tables = elements_of([msg])
    assert len(tables) == len(builtin().enum_tables)
    cur = next(t for t in tables if 15 in t["FIDS"]["Data"]["Data"])
    assert cur["VALUE"]["Type"] == "Array" and cur["VALUE"]["Data"]["Type"] == "Enum"
    pairs = dict(zip(cur["VALUE"]["Data"]["Data"], cur["DISPLAY"]["Data"]["Data"], strict=True))
    assert pairs[840] == "USD" and pairs[978] == "EUR"
    assert all(len(t["VALUE"]["Data"]["Data"]) == len(t["DISPLAY"]["Data"]["Data"]) for t in tables)


async def test_multi_part_refresh(make_sim: Callable[..., SimServer]) -> None:
    async with make_sim(server={"dictionary_part_entries": 100}) as sim:
        async with aiohttp.ClientSession() as http:
            raw = await connect(sim, http)
            parts = await fetch(raw, 7, "RWFFld", 7)
            enum = await fetch(raw, 8, "RWFEnum", 7)
            await raw.ws.close()
    n = len(builtin())
    assert len(parts) == -(-n // 100) > 1
    assert [p.get("Complete", True) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert [p["PartNumber"] for p in parts] == list(range(len(parts)))
    assert "Summary" in parts[0]["Series"] and parts[0]["Series"]["CountHint"] == n
    assert all("Summary" not in p["Series"] and "CountHint" not in p["Series"] for p in parts[1:])
    assert all(p["Key"]["Name"] == "RWFFld" for p in parts)
    d = Dictionary.from_series([p["Series"] for p in parts], [p["Series"] for p in enum])
    assert len(d) == n and d.enum_value("CURRENCY", "USD") == 840
    assert d.version == builtin().version and d.enum_version == builtin().enum_version


async def test_unknown_dictionary_name_and_refusal(make_sim: Callable[..., SimServer]) -> None:
    async with make_sim(server={"serve_dictionary": False}) as sim:
        async with aiohttp.ClientSession() as http:
            raw = await connect(sim, http)
            (refused,) = await fetch(raw, 5, "RWFFld", 7)
            await raw.ws.close()
    assert refused["Type"] == "Status"
    assert refused["State"]["Stream"] == "Closed" and refused["State"]["Data"] == "Suspect"
    async with make_sim() as sim:
        async with aiohttp.ClientSession() as http:
            raw = await connect(sim, http)
            (unknown,) = await fetch(raw, 5, "NOT_A_DICT", 7)
            # the stream id can be reused once the non-streaming refresh is done
            (again,) = await fetch(raw, 5, "RWFEnum", 7)
            await raw.ws.close()
    assert unknown["Type"] == "Status" and unknown["State"]["Code"] == "NotFound"
    assert again["Type"] == "Refresh" and again["Key"]["Name"] == "RWFEnum"


async def test_directory_lists_the_dictionaries(raw: Raw) -> None:
    await raw.send({"ID": 9, "Type": "Request", "Domain": "Source", "Key": {"Filter": 1}})
    msg = await raw.next(lambda m: m.get("ID") == 9, 10)
    info = msg["Map"]["Entries"][0]["FilterList"]["Entries"][0]["Elements"]
    assert info["DictionariesProvided"]["Data"] == ["RWFFld", "RWFEnum"]
    assert 5 in info["Capabilities"]["Data"]
