"""Field knowledge comes from the dictionary in use: a simulator serving a dictionary with
a field the builtin table lacks takes a View by that field's FID and a post of it from a
session that downloaded the dictionary; a field no dictionary has is refused before it is
sent, in one line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.exceptions import ConfigError
from ertcloud.protocol.dictionary import Dictionary, FieldInfo, builtin
from ertcloud.protocol.events import ItemRefreshed
from ertcloud.protocol.fields import post_problem

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)

CUSTOM = FieldInfo("MY_SPREAD", 30001, "REAL", description="a field of this server only")


def _server_dictionary() -> Dictionary:
    b = builtin()
    return Dictionary(
        [*b.fields.values(), CUSTOM],
        b.enum_tables,
        version="9.1.0",
        enum_version=b.enum_version,
        source="server",
    )


def _session(sim: Any, tmp_path: Path, dictionary: str) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "x"))
    return Session(
        sim.websocket_url, tokens=tokens, dictionary=dictionary, dictionary_cache=tmp_path
    )


async def test_view_and_post_of_a_field_only_the_server_dictionary_has(
    make_sim: Any, tmp_path: Path
) -> None:
    assert builtin().lookup(CUSTOM.fid) is None
    async with (
        make_sim(server={"dictionary": _server_dictionary()}) as sim,
        _session(sim, tmp_path, "download") as s,
    ):
        d = await s.dictionaries.ready()
        assert d.lookup(30001) == CUSTOM
        full = s.subscribe("TRI.N")
        await full.wait_complete(10)
        ack = await s.post(full.streams[0], {"MY_SPREAD": 0.25}, timeout=10)
        assert ack is not None and not ack.nak_code
        # the posted value reaches the image (so a View can select it)
        for _ in range(200):
            if full.streams[0].fields.get("MY_SPREAD") == 0.25:
                break
            await asyncio.sleep(0.05)
        assert full.streams[0].fields.get("MY_SPREAD") == 0.25

        refreshes: list[ItemRefreshed] = []
        viewed = s.subscribe("TRI.N", fields=[30001, 22], on_refresh=refreshes.append)
        await viewed.wait_complete(10)
        assert refreshes and refreshes[0].message.fields is not None
        assert set(refreshes[0].message.fields) == {"MY_SPREAD", "BID"}
        assert refreshes[0].message.fields["MY_SPREAD"] == 0.25


async def test_an_unknown_field_is_refused_in_one_line(make_sim: Any, tmp_path: Path) -> None:
    async with (
        make_sim(server={"dictionary": _server_dictionary()}) as sim,
        _session(sim, tmp_path, "builtin") as s,
    ):
        sub = s.subscribe("TRI.N")
        await sub.wait_complete(10)
        # the builtin table is the dictionary in use here: it does not know MY_SPREAD
        for fields in ({"NO_SUCH_FIELD": 1.0}, {"MY_SPREAD": 1.0}, {"BID": "cheap"}):
            with pytest.raises(ConfigError) as err:
                await s.post(sub.streams[0], fields, timeout=10)
            text = str(err.value)
            assert "\n" not in text and text.startswith("post to TRI.N refused: ")
            assert next(iter(fields)) in text
        ack = await s.post("TRI.N", {"BID": 1.5}, timeout=10)
        assert ack is not None and not ack.nak_code


def test_post_problem_follows_the_dictionary_given() -> None:
    assert post_problem({"MY_SPREAD": 1.0}, _server_dictionary()) is None
    assert post_problem({"MY_SPREAD": None}) == (
        "unknown field 'MY_SPREAD' (not in the builtin dictionary)"
    )
    assert post_problem({"ASK": 1, "BID": float("nan")}) == "BID is a REAL field: nan does not fit"
    assert post_problem({"QUOTIM_MS": 1.5}, _server_dictionary()) is not None
    assert post_problem({"QUOTIM_MS": 5, "CURRENCY": "USD", "TRADE_DATE": "2024-01-02"}) is None
