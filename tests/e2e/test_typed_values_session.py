"""``Session(dictionary=...)`` against the simulator over real sockets: the download at
login with its on-disk cache by version, the builtin table, a file, and the fallback (one
warning) when the server refuses the Dictionary domain."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.protocol.dictionary import Dictionary, DictionaryError, builtin
from ertcloud.sim.server import SimServer


def session_for(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens, **kw)


def cached(folder: Path) -> list[Path]:
    return sorted(folder.glob("dictionary-*.json"))


async def test_download_at_login_then_from_the_cache(
    make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERTCLOUD_DICTIONARY")  # the default: download
    sent: list[bytes] = []

    def trace(kind: str, detail: Any) -> None:
        if kind == "sent":
            sent.append(bytes(detail) if not isinstance(detail, str) else detail.encode())

    async with make_sim(server={"dictionary_part_entries": 64}) as sim:
        async with session_for(sim, dictionary_cache=tmp_path, trace=trace) as s:
            d = await s.dictionaries.ready()
            assert d.source == "download" and s.dictionary is d
            assert len(d) == len(builtin()) and d.version == builtin().version
            assert d.enum_value("CURRENCY", "USD") == 840
            assert d.lookup(22) is not None and d.lookup(22).ripple_to == "BID_1"  # type: ignore[union-attr]
        files = cached(tmp_path)
        assert len(files) == 1 and builtin().version in files[0].name
        first = b"".join(sent)
        assert first.count(b'"Domain":"Dictionary"') == 4  # Info, then Normal, for both
        sent.clear()
        async with session_for(sim, dictionary_cache=tmp_path, trace=trace) as s:
            d2 = await s.dictionaries.ready()
            assert d2.source == "download (cached)"
            assert {n: f.fid for n, f in d2.fields.items()} == {
                n: f.fid for n, f in d.fields.items()
            }
        assert b"".join(sent).count(b'"Domain":"Dictionary"') == 2  # the Info summaries only
        # the dictionary requests leave the ids of the user's items alone
        async with session_for(sim, dictionary_cache=tmp_path) as s:
            sub = s.subscribe("TRI.N")
            await s.dictionaries.ready()
            await sub.wait_complete(10)
            assert sub.streams[0].id == 2


async def test_environment_chooses_the_default(
    make_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_sim() as sim:
        monkeypatch.setenv("ERTCLOUD_DICTIONARY", "builtin")
        async with session_for(sim, dictionary_cache=tmp_path) as s:
            assert (await s.dictionaries.ready()).source == "builtin"
        monkeypatch.setenv("ERTCLOUD_DICTIONARY", "download")
        async with session_for(sim, dictionary_cache=tmp_path) as s:
            assert (await s.dictionaries.ready()).source == "download"


async def test_refused_download_falls_back_with_one_warning(
    make_sim: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ertcloud.client")
    async with make_sim(server={"serve_dictionary": False}) as sim:
        async with session_for(sim, dictionary="download", dictionary_cache=tmp_path) as s:
            d = await s.dictionaries.ready()
            assert d is builtin()
            # the session still works
            sub = s.subscribe("TRI.N", snapshot=True)
            async for ev in sub:
                assert ev.stream.name == "TRI.N"
                break
    warnings = [r for r in caplog.records if "dictionary" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "builtin" in warnings[0].getMessage()
    assert not cached(tmp_path)


async def test_builtin_and_file_sources_send_no_request(make_sim: Any, tmp_path: Path) -> None:
    path = tmp_path / "dict.json"
    mine = Dictionary.from_json(builtin().to_json())
    mine.version = "9.9.9"
    path.write_text(mine.to_json(), encoding="utf-8")
    sent: list[Any] = []
    async with make_sim() as sim:
        async with session_for(
            sim, dictionary="builtin", trace=lambda k, d: sent.append(d) if k == "sent" else None
        ) as s:
            assert await s.dictionaries.ready() is builtin()
        async with session_for(sim, dictionary=path) as s:
            d = await s.dictionaries.ready()
            assert d.version == "9.9.9" and d.source == str(path)
    assert not any(b"Dictionary" in (x if isinstance(x, bytes) else str(x).encode()) for x in sent)
    with pytest.raises(DictionaryError, match="cannot read dictionary"):
        Session("ws://127.0.0.1:1/WebSocket", dictionary=tmp_path / "missing.json")


class SilentOnDictionary:
    """A server that logs in and answers nothing else, or (``garbage``) answers the
    Dictionary requests with a refresh whose entries cannot be read."""

    def __init__(self, garbage: bool) -> None:
        self.garbage = garbage
        self.requests: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("tr_json2",))
        await ws.prepare(request)
        async for msg in ws:
            data = json.loads(msg.data)
            for m in data if isinstance(data, list) else [data]:
                if m.get("Domain") == "Login":
                    await ws.send_str(json.dumps([{
                        "ID": m["ID"], "Type": "Refresh", "Domain": "Login",
                        "State": {"Stream": "Open", "Data": "Ok"}, "Key": {"Name": "u"},
                        "Elements": {"PingTimeout": 30, "MaxMsgSize": 61430},
                    }]))  # fmt: skip
                elif m.get("Type", "Request") == "Request":
                    self.requests.append(m)
                    if self.garbage:
                        series = {"Summary": {"Elements": {"Version": "1.0"}},
                                  "Entries": [{"Elements": {"NAME": "X"}}]}  # fmt: skip
                        await ws.send_str(json.dumps([{
                            "ID": m["ID"], "Type": "Refresh", "Domain": "Dictionary",
                            "Key": m["Key"], "Series": series,
                            "State": {"Stream": "NonStreaming", "Data": "Ok"},
                        }]))  # fmt: skip
        return ws

    async def __aenter__(self) -> SilentOnDictionary:
        app = web.Application()
        app.router.add_get("/WebSocket", self.ws)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"ws://127.0.0.1:{self.runner.addresses[0][1]}/WebSocket"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.mark.parametrize("garbage", [False, True], ids=["no answer", "unreadable"])
async def test_silent_or_garbled_server_falls_back(
    garbage: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ertcloud.client")
    async with SilentOnDictionary(garbage) as server:
        s = Session(server.url, reconnect=False, dictionary="download", dictionary_cache=tmp_path)
        s.dictionaries.timeout = 0.5
        async with s:
            assert await asyncio.wait_for(s.dictionaries.ready(), 10) is builtin()
    assert {m["Key"]["Name"] for m in server.requests} == {"RWFFld", "RWFEnum"}
    assert all(m["Domain"] == "Dictionary" for m in server.requests)
    # Info first; only a readable summary leads to the Normal request
    assert {m["Key"]["Filter"] for m in server.requests} == ({0, 7} if garbage else {0})
    warnings = [r for r in caplog.records if "dictionary download failed" in r.getMessage()]
    assert len(warnings) == 1
    assert not cached(tmp_path)
