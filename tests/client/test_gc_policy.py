"""What keeps a session's latency tails short: the collector policy (``Session(gc_freeze=...)``,
ertcloud.client.gc_policy: the heap frozen once a burst of images is over, given back at the
session's end), and no per-frame slow path that builds the Update a second time."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from support import until

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.client.gc_policy import DEFAULT_MIN_IMAGES, HeapFreezer
from ertcloud.client.integrity import IntegrityMonitor
from ertcloud.exceptions import ConfigError
from ertcloud.protocol import codec
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.events import ItemUpdated
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.sim.server import SimServer


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """gc.freeze is for the whole process: every test starts and ends with nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezes_once_the_burst_is_over_and_not_during_it() -> None:
    f = HeapFreezer(100)
    f.images = 60
    assert not f.tick()  # the burst goes on
    f.images = 150
    assert not f.tick()  # still growing at this tick
    assert gc.get_freeze_count() == 0
    assert f.tick()  # no new image since the last tick: the burst is over
    assert f.freezes == 1 and gc.get_freeze_count() > 0
    assert not f.tick()  # nothing new: frozen once
    assert f.freezes == 1


def test_a_small_burst_leaves_the_collector_alone() -> None:
    f = HeapFreezer(100)
    f.images = 99
    assert not f.tick()
    assert not f.tick()
    assert f.freezes == 0 and gc.get_freeze_count() == 0


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_a_later_burst_collects_what_the_former_freeze_kept() -> None:
    f = HeapFreezer(10)
    f.images = 10
    f.tick()
    f.tick()
    assert f.freezes == 1
    node = _Node()  # a reference cycle, frozen by the next line, then garbage
    gc.freeze()
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is not None  # out of the collector's reach while frozen
    f.images = 25  # a second burst (a reconnect's new images)
    f.tick()
    f.tick()
    assert f.freezes == 2 and gc.get_freeze_count() > 0
    assert gone() is None  # collected before the heap was frozen again


def test_release_gives_the_heap_back() -> None:
    f = HeapFreezer(1)
    f.release()  # never froze: nothing to give back, nothing changed
    f.images = 1
    f.tick()
    f.tick()
    assert gc.get_freeze_count() > 0
    f.release()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_bad_thresholds_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="gc_freeze"):
        Session("ws://127.0.0.1:1/WebSocket", gc_freeze=bad)  # type: ignore[arg-type]


def test_the_default_and_the_way_out() -> None:
    on = Session("ws://127.0.0.1:1/WebSocket")
    assert on.gc is not None and on.gc.min_images == DEFAULT_MIN_IMAGES
    assert Session("ws://127.0.0.1:1/WebSocket", gc_freeze=None).gc is None


@pytest.mark.both_cores
async def test_a_session_freezes_after_its_images_and_releases_at_its_end(sim: SimServer) -> None:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    names = ["TRI.N", "IBM.N", "T.N", "MSFT.O", "AAPL.O"]
    async with Session(sim.websocket_url, tokens=tokens, gc_freeze=len(names)) as session:
        assert session.gc is not None
        sub = session.subscribe(names)
        await sub.wait_complete(timeout=10)
        assert session.gc.images >= len(names)
        freezer = session.gc
        await until(lambda: freezer.freezes == 1, 10, "the freeze after the images")
        assert gc.get_freeze_count() > 0
        # the images are among the frozen objects: no collection walks them any more
        young = {id(o) for g in range(3) for o in gc.get_objects(g)}
        assert all(id(s) not in young for s in sub.streams)
        async for _ in sub:  # Updates keep flowing into the frozen images
            break
    assert gc.get_freeze_count() == 0


_LOGIN = (
    b'{"ID":1,"Type":"Refresh","Domain":"Login","Key":{"Name":"u"},'
    b'"State":{"Stream":"Open","Data":"Ok"},"Elements":{"PingTimeout":30}}'
)


def _update(sid: int, seq: int) -> bytes:
    return b'[{"Type":"Update","ID":%d,"SeqNumber":%d,"Fields":{"BID":%d.5}}]' % (sid, seq, seq)


def _holds_its_frame(ev: object) -> bool:
    return any(type(x) is bytes for x in gc.get_referents(ev))


def test_the_sequence_checks_slow_path_leaves_the_message_unread(receive_core: str) -> None:
    """The session's gap check takes ``IntegrityMonitor.observe`` whenever an Update's
    sequence number is not the expected next one (a bench pool's numbers go back at each
    wrap: one Update in eight). It reads ``event.seq_number``: the compiled core's event
    then never builds the Update from the frame (a second decode of it)."""
    proto = ClientProtocol()
    proto.connection_made(0.0)
    proto.start_login("t")
    proto.receive(_LOGIN, 0.0)
    proto.request(["A.N"])
    proto.data_to_send(0.0)
    (stream,) = proto.streams
    fields = {"BID": 1.0}
    refresh = Refresh(id=stream.id, key=Key(name="A.N"), state=State("Open", "Ok"), fields=fields)
    proto.receive(codec.encode([refresh]), 0.0)
    got: list[ItemUpdated] = []
    stream.deliver = got.append  # as a subscription's stream: the compiled loop's events
    monitor = IntegrityMonitor()
    for seq in (10, 20, 30, 5):  # the last goes back: the slow path
        proto.receive(_update(stream.id, seq), 0.0)
    for ev in got[:3]:
        monitor.observe(ev)
    ev = got[3]
    lazy = _holds_its_frame(ev)
    assert lazy == (receive_core == "compiled")
    monitor.observe(ev)
    assert monitor.out_of_order == 1
    assert _holds_its_frame(ev) == lazy  # the message was not read
    assert ev.message.seq_number == 5 and ev.stream.fields["BID"] == 5.5
