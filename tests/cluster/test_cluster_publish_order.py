"""The publisher keeps each item's messages in order and without gaps whatever publishes
fail: against a stand-in for JetStream that de-duplicates by ``Nats-Msg-Id`` like the
server and fails chosen publishes (before storing them, as during a leader election, or
after, as when only the acknowledgement is lost)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.cluster.publish import Outgoing, Publisher, msg_id

pytestmark = pytest.mark.unit


@dataclass
class Ack:
    duplicate: bool


class FlakyStream:
    """Stores by message id once; ``plan`` says, per try (then ``"ok"``), whether it fails
    before storing (``"lost"``), after storing (``"noack"``) or not at all (``"ok"``)."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan
        self.tries = 0
        self.ids: set[str] = set()
        self.stored: list[dict[str, Any]] = []
        self.down = False

    async def publish(self, subject: str, data: bytes, **kw: Any) -> Ack:
        import json

        what = self.plan[self.tries] if self.tries < len(self.plan) else "ok"
        self.tries += 1
        await asyncio.sleep(0.001 * (self.tries % 3))  # acks come back in any order
        if self.down or what == "lost":
            raise TimeoutError("no response from stream")
        mid = kw["headers"]["Nats-Msg-Id"]
        dup = mid in self.ids
        if not dup:
            self.ids.add(mid)
            self.stored.append(json.loads(data))
        if what == "noack":
            raise TimeoutError("ack lost")
        return Ack(dup)


def outgoing(ric: str, sn: int, epoch: int = 1, kind: str = "Update") -> Outgoing:
    body = {"kind": kind, "ric": ric, "sn": sn, "epoch": epoch, "fields": {"BID": sn}}
    return Outgoing(f"t.MarketPrice.{ric}", f"MarketPrice.{ric}", body,
                    msg_id("MarketPrice", ric, kind, sn, epoch, 0))  # fmt: skip


def per_item(stored: list[dict[str, Any]]) -> dict[tuple[str, int], list[int]]:
    out: dict[tuple[str, int], list[int]] = defaultdict(list)
    for b in stored:
        out[(b["ric"], b["epoch"])].append(b["sn"])
    return out


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(st.sampled_from(["ok", "ok", "ok", "lost", "noack"]), max_size=40),
    flow=st.lists(st.sampled_from("ABC"), min_size=1, max_size=60),
)
def test_each_item_stored_in_order_once(plan: list[str], flow: list[str]) -> None:
    async def main() -> FlakyStream:
        js = FlakyStream(plan)
        pub = Publisher(js, "S", window=8)
        pub.start()
        sn: dict[str, int] = defaultdict(int)
        for ric in flow:
            sn[ric] += 1
            pub.submit(outgoing(ric, sn[ric]))
            if sn[ric] % 4 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(pub.close(), 30)
        return js

    js = asyncio.run(main())
    sent = {(r, 1): list(range(1, flow.count(r) + 1)) for r in set(flow)}
    assert per_item(js.stored) == sent


def test_a_failed_publish_is_stored_before_the_next_of_its_item() -> None:
    """The first try of each item's first Update is lost: the second Update, already on
    its way in a window that publishes everything at once, must not overtake it."""

    async def main() -> FlakyStream:
        js = FlakyStream(["lost", "lost", "ok", "ok", "ok", "ok", "ok", "ok"])
        pub = Publisher(js, "S")
        pub.start()
        for sn in (1, 2, 3):
            pub.submit(outgoing("A", sn))
            pub.submit(outgoing("B", sn))
        await asyncio.wait_for(pub.close(), 30)
        return js

    js = asyncio.run(main())
    assert per_item(js.stored) == {("A", 1): [1, 2, 3], ("B", 1): [1, 2, 3]}


def test_one_epoch_does_not_suppress_another() -> None:
    """A worker that lost its lease may still publish an Update that the new owner
    publishes too, under its own epoch: both are stored, each in its epoch."""
    assert msg_id("MarketPrice", "A", "Update", 17, 5, 0) != msg_id(
        "MarketPrice", "A", "Update", 17, 6, 0
    )

    async def main() -> FlakyStream:
        js = FlakyStream([])
        pub = Publisher(js, "S")
        pub.start()
        pub.submit(outgoing("A", 17, epoch=5))  # the old owner, late
        pub.submit(outgoing("A", 1, epoch=6, kind="Refresh"))
        pub.submit(outgoing("A", 17, epoch=6))
        await asyncio.wait_for(pub.close(), 30)
        return js

    js = asyncio.run(main())
    assert per_item(js.stored) == {("A", 5): [17], ("A", 6): [1, 17]}


def test_discard_ends_an_item_without_a_gap() -> None:
    """During an outage nothing is stored; discarding an item drops its waiting messages
    and stops retrying the one in flight, and the other items are kept."""

    async def main() -> tuple[FlakyStream, Publisher, int]:
        js = FlakyStream([])
        js.down = True
        pub = Publisher(js, "S", limit=6)
        pub.start()
        for sn in (1, 2, 3):
            pub.submit(outgoing("A", sn))
            pub.submit(outgoing("B", sn))
        assert pub.full
        await asyncio.sleep(0.2)  # the heads are in flight, retried
        n = pub.discard("MarketPrice.A")
        assert not pub.full and pub.queued == 4  # A's head in flight, B's three
        pub.submit(outgoing("A", 9, epoch=2, kind="Refresh"))
        js.down = False
        await asyncio.wait_for(pub.close(), 30)
        return js, pub, n

    js, pub, n = asyncio.run(main())
    assert n == 2  # the head in flight is not counted: it may be stored yet
    got = per_item(js.stored)
    assert got[("B", 1)] == [1, 2, 3]
    assert got[("A", 2)] == [9]
    assert got.get(("A", 1), []) in ([], [1])  # a prefix of the epoch, never a gap
    assert pub.queued == 0
