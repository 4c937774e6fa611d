"""MRN: a story cut into fragments as the service sends it, put back together whatever
the order, with duplicates, losses and garbage; and the simulator's MRN items over real
sockets."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.news import BrokenStory, NewsStory, Reassembler, fragment_fields, matches
from ertcloud.sim.server import SimServer


def story(n: int = 1, body_size: int = 3000) -> dict[str, Any]:
    rng = random.Random(n)
    body = "".join(rng.choice("abcdefghij klmnop\n") for _ in range(body_size))
    return {
        "id": f"tr:STORY{n}",
        "headline": f"Headline {n} \u00e9",
        "body": body,
        "subjects": ["R:TRI.N", "N2:US", "N2:EQTY"],
        "urgency": 3,
        "language": "en",
        "firstCreated": "2026-12-07T01:02:03.000Z",
    }


def test_fragments_carry_the_gzip_bytes_and_the_envelope_fields() -> None:
    doc = story()
    frags = fragment_fields(doc, src="HK1_PRD_A", slice_size=500)
    assert len(frags) > 2
    data = b"".join(base64.b64decode(f["FRAGMENT"]) for f in frags)
    assert data[:2] == b"\x1f\x8b"  # gzip
    assert frags[0]["TOT_SIZE"] == len(data)
    assert all("TOT_SIZE" not in f for f in frags[1:])
    assert [f["FRAG_NUM"] for f in frags] == list(range(1, len(frags) + 1))
    assert {f["GUID"] for f in frags} == {doc["id"]}
    assert {f["MRN_SRC"] for f in frags} == {"HK1_PRD_A"}
    assert json.loads(gzip.decompress(data)) == doc


def test_in_order_reassembly_gives_the_story() -> None:
    asm = Reassembler()
    out: list[Any] = []
    for f in fragment_fields(story(), src="S", slice_size=400):
        out += asm.feed(f, 0.0)
    (s,) = out
    assert isinstance(s, NewsStory)
    assert s.guid == "tr:STORY1" and s.headline == "Headline 1 \u00e9"
    assert s.rics == ("TRI.N",) and s.subjects == ("R:TRI.N", "N2:US", "N2:EQTY")
    assert matches(s, {"TRI.N"}, set()) and matches(s, set(), {"US"})
    assert not matches(s, {"IBM.N"}, set()) and not matches(s, set(), {"N2:GB"})
    assert asm.pending == 0


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_permutation_with_duplicates_gives_the_story_once(data: st.DataObject) -> None:
    docs = [story(n, body_size=data.draw(st.integers(10, 4000))) for n in (1, 2)]
    frags = [f for d in docs for f in fragment_fields(d, src="S", slice_size=300)]
    extra = data.draw(st.lists(st.sampled_from(frags), max_size=10))
    order = data.draw(st.permutations([*frags, *extra]))
    asm = Reassembler()
    out: list[Any] = []
    for f in order:
        out += asm.feed(f, 0.0)
    assert sorted(s.guid for s in out) == ["tr:STORY1", "tr:STORY2"]
    assert all(isinstance(s, NewsStory) for s in out)
    assert {s.guid: s.body for s in out} == {d["id"]: d["body"] for d in docs}
    assert asm.pending == 0 and asm.duplicates == len(extra)


def test_a_missing_fragment_breaks_the_story_at_the_timeout() -> None:
    frags = fragment_fields(story(), src="S", slice_size=300)
    asm = Reassembler(timeout=5.0)
    out: list[Any] = []
    for f in frags[:1] + frags[2:]:
        out += asm.feed(f, 100.0)
    assert out == [] and asm.pending == 1
    assert asm.expire(104.0) == []
    (broken,) = asm.expire(105.0)
    assert isinstance(broken, BrokenStory) and broken.guid == "tr:STORY1"
    assert "timed out" in broken.reason
    assert asm.feed(frags[1], 106.0) == []  # the late piece of a broken story is ignored
    assert asm.pending == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"FRAGMENT": "***"}, "not base64"),
        ({"TOT_SIZE": 0}, "bad TOT_SIZE"),
        ({"TOT_SIZE": 3}, "bytes or more"),
        ({"FRAG_NUM": 0}, "bad FRAG_NUM"),
    ],
)
def test_garbage_is_a_broken_story_not_an_exception(change: dict[str, Any], reason: str) -> None:
    frags = fragment_fields(story(), src="S", slice_size=300)
    frags[0] = {**frags[0], **change}
    asm = Reassembler()
    out: list[Any] = []
    for f in frags:
        out += asm.feed(f, 0.0)
    assert len(out) == 1 and isinstance(out[0], BrokenStory)
    assert reason in out[0].reason


def test_bytes_that_are_not_gzip_json_break_the_story() -> None:
    payload = b"not gzip at all"
    f = {"GUID": "g", "MRN_SRC": "S", "FRAG_NUM": 1, "TOT_SIZE": len(payload)}
    f["FRAGMENT"] = base64.b64encode(payload).decode()
    (out,) = Reassembler().feed(f, 0.0)
    assert isinstance(out, BrokenStory) and "does not decode" in out.reason


def test_open_stories_are_bounded() -> None:
    asm = Reassembler(max_open=3)
    out: list[Any] = []
    for n in range(5):
        first = fragment_fields(story(n), src="S", slice_size=200)[0]
        out += asm.feed(first, float(n))
    assert asm.pending == 3
    assert [b.guid for b in out] == ["tr:STORY0", "tr:STORY1"]
    assert all("too many" in b.reason for b in out)


def test_the_envelope_without_a_story_is_ignored() -> None:
    env = {"GUID": None, "FRAGMENT": None, "TOT_SIZE": 0, "FRAG_NUM": 1, "MRN_SRC": "S"}
    assert Reassembler().feed(env, 0.0) == []


def session_for(sim: SimServer) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens)


async def test_mrn_story_item_over_real_sockets(sim: SimServer) -> None:
    sim.streaming.config.rate = 20
    sim.streaming.config.news_chance = 1.0
    sim.streaming.news.shuffle = True  # the client must not depend on the order
    seen: list[Any] = []
    async with session_for(sim) as session:

        async def take() -> None:
            async for s in session.news():
                seen.append(s)
                if len(seen) >= 5:
                    return

        await asyncio.wait_for(take(), 30)
        raw = session.subscribe("MRN_STORY", domain="NewsTextAnalytics", snapshot=True)
        await raw.wait_complete(10)
        envelope = raw.streams[0].fields
    assert all(isinstance(s, NewsStory) for s in seen)
    for s in seen:
        assert s.headline and s.rics and s.rics[0] in sim.market.instruments
        assert s.data["id"] == s.guid and s.src == "SIM_PRD_A"
    assert envelope["TOT_SIZE"] == 0 and envelope["FRAGMENT"] is None
    assert envelope["MRN_TYPE"] == "STORY" and envelope["RDN_EXCHD2"] == "MRN"


async def test_mrn_updates_have_the_service_shape(sim: SimServer) -> None:
    """Domain on every message, Unspecified, DoNotCache/DoNotConflate, non-zero TOT_SIZE
    on the first fragment."""
    sim.streaming.config.rate = 20
    sim.streaming.config.news_chance = 1.0
    got: list[Any] = []
    async with session_for(sim) as session:
        done = asyncio.Event()

        def on_update(ev: Any) -> None:
            got.append(ev.message)
            if len(got) >= 6:
                done.set()

        session.subscribe("MRN_TRNA", domain="NewsTextAnalytics", on_update=on_update, queue=False)
        await asyncio.wait_for(done.wait(), 30)
    for m in got:
        assert m.domain == "NewsTextAnalytics" and m.update_type == "Unspecified"
        assert m.do_not_cache and m.do_not_conflate
        assert m.fields["MRN_TYPE"] == "TRNA" and isinstance(m.fields["GUID"], str)
    firsts = [m for m in got if m.fields["FRAG_NUM"] == 1]
    assert firsts and all(m.fields["TOT_SIZE"] > 0 for m in firsts)
    asm = Reassembler()
    stories = [s for m in got for s in asm.feed(m.fields, 0.0)]
    for s in stories:
        assert isinstance(s, NewsStory)
        assert "analyticsScores" in s.data["analytics"] and s.headline
