"""A session that downloads a dictionary whose RIPPLETO differs from the builtin table's
ripples by the downloaded one (the simulator serving that dictionary over real sockets)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.protocol.dictionary import Dictionary, builtin
from ertcloud.protocol.ripples import BUILTIN_RIPPLES


def served_dictionary() -> Dictionary:
    """The builtin table, except that BID ripples straight into BID_2 and TRDPRC_1 does
    not ripple."""
    b = builtin()
    changed = {"BID": "BID_2", "TRDPRC_1": None}
    fields = [
        replace(f, ripple_to=changed[f.name]) if f.name in changed else f for f in b.fields.values()
    ]
    return Dictionary(fields, b.enum_tables, version="7.7.7", enum_version=b.enum_version)


async def test_downloaded_dictionary_sets_the_ripple_rules(
    make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERTCLOUD_DICTIONARY", "download")
    async with make_sim(server={"dictionary": served_dictionary()}) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app")
        )
        async with Session(sim.websocket_url, tokens=tokens, dictionary_cache=tmp_path) as s:
            d = await s.dictionaries.ready()
            assert d.version == "7.7.7"
            rules = s.protocol.streams.ripples
            assert rules.chains["BID"] == ("BID_2",) and "TRDPRC_1" not in rules.chains
            assert rules.chains["ASK"] == BUILTIN_RIPPLES.chains["ASK"]
