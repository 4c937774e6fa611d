"""The picows listeners: the compiled one (built against picows' .pxd) and the pure one take
the same frames to the same handler calls, and a session runs the same on either."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

picows = pytest.importorskip("picows")

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager  # noqa: E402
from ertcloud.client import transport_picows as tp  # noqa: E402
from ertcloud.protocol.events import Event, ProtocolViolation  # noqa: E402
from ertcloud.sim.server import SimServer  # noqa: E402

make_frame = picows.picows._make_test_ws_frame
TEXT, BINARY, CONT = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION

LISTENERS: dict[str, Any] = {"pure": tp._Listener}
if tp._COMPILED is not None:
    LISTENERS["compiled"] = tp._COMPILED
NO_EXTENSIONS = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")
WHY_NOT = "ERTCLOUD_NO_EXTENSIONS is set" if NO_EXTENSIONS else "the compiled listener is not built"
#: where the build had a compiler and picows, the compiled listener must be there (and used)
COMPILED_EXPECTED = not NO_EXTENSIONS and any(
    n.startswith("_picows_listener.") and not n.endswith((".pyx", ".pyi", ".c"))
    for n in os.listdir(os.path.dirname(tp.__file__))
)


@pytest.fixture(params=["pure", "compiled"])
def listener(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Connections made during the test use this listener class."""
    if request.param not in LISTENERS:
        assert not COMPILED_EXPECTED, "the compiled listener was built but does not load"
        pytest.skip(WHY_NOT)
    monkeypatch.setattr(tp, "_LISTENER_CLASS", LISTENERS[request.param])
    yield request.param


def test_the_compiled_listener_is_the_default_where_built() -> None:
    assert tp.LISTENER == ("compiled" if COMPILED_EXPECTED else "pure")
    assert tp._LISTENER_CLASS is LISTENERS[tp.LISTENER]


def test_no_extensions_forces_the_pure_listener() -> None:
    env = {**os.environ, "ERTCLOUD_NO_EXTENSIONS": "1"}
    code = "from ertcloud.client import transport_picows as t; print(t.LISTENER)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "pure"


def test_a_listener_built_for_another_picows_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if "compiled" not in LISTENERS:
        pytest.skip(WHY_NOT)
    assert tp._compiled_listener() is LISTENERS["compiled"]
    monkeypatch.setattr(picows, "__version__", "0.0.0")
    assert tp._compiled_listener() is None


async def feed(name: str, frames: list[Any], early: list[Any] = ()) -> tuple[list[bytes], Any]:  # type: ignore[assignment]
    """Frames to a fresh connection's listener of class ``name`` (``early`` ones before the
    reader runs); returns what its handler got, as bytes, and the connection."""
    ws = tp.PicowsWebSocket(max_message_size=64)
    ws._listener = listener = LISTENERS[name](ws)
    got: list[bytes] = []
    for f in early:
        listener.on_ws_frame(None, f)
    ws._handler = listener.handler = lambda data: got.append(bytes(data))
    for data in ws._early:
        ws._handler(memoryview(data))
    for f in frames:
        listener.on_ws_frame(None, f)
    return got, ws


@pytest.mark.parametrize("name", ["pure", "compiled"])
async def test_both_listeners_hand_over_the_same_messages(name: str) -> None:
    if name not in LISTENERS:
        pytest.skip(WHY_NOT)
    frames = [
        make_frame(TEXT, b'{"Type":"Ping"}', True, False),
        make_frame(BINARY, b"\xe9t\xe9", True, False),
        make_frame(TEXT, b'[{"a":', False, False),  # a fragmented message
        make_frame(CONT, b"1", False, False),
        make_frame(CONT, b"}]", True, False),
        make_frame(TEXT, b"", True, False),
    ]
    early = [make_frame(TEXT, b"early", True, False)]
    got, ws = await feed(name, frames, early)
    assert got == [b"early", b'{"Type":"Ping"}', b"\xe9t\xe9", b'[{"a":1}]', b""]
    assert all(type(x) is bytes for x in got)
    assert ws._parts is None and ws._error is None


async def test_a_whole_text_frame_reaches_the_handler_as_bytes() -> None:
    seen: dict[str, list[Any]] = {}
    for name, cls in LISTENERS.items():
        ws = tp.PicowsWebSocket()
        listener = cls(ws)
        seen[name] = types = []
        listener.handler = types.append
        listener.on_ws_frame(None, make_frame(TEXT, b"[]", True, False))
        seen[name] = [type(x) for x in types]
    assert all(v == [bytes] for v in seen.values()), seen


def session_for(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens, transport="picows", **kw)


async def until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.both_cores
async def test_images_follow_the_server_through_either_listener(
    listener: str, sim: SimServer
) -> None:
    async with session_for(sim) as session:
        assert type(session._ws._listener).__name__ == (  # type: ignore[union-attr]
            "CompiledListener" if listener == "compiled" else "_Listener"
        )
        await sim.faults.apply("fragment", parts=3)
        sub = session.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(timeout=10)
        await until(lambda: all(s.updates >= 2 for s in sub.streams))
        sim.streaming.config.rate = 0
        await asyncio.sleep(0.3)
        for s in sub.streams:
            assert dict(s.fields) == sim.market.get(s.name).image  # type: ignore[union-attr]
        assert session.reconnects == 0


@pytest.mark.both_cores
async def test_a_failing_frame_drops_the_connection_through_either_listener(
    listener: str, sim: SimServer
) -> None:
    """A breach raised while a frame is handled (here the field limit) ends the connection
    through the listener's failure path; the session reports it and resubscribes."""
    events: list[Event] = []
    async with session_for(sim, max_fields_per_image=3, on_event=events.append) as session:
        sub = session.subscribe(["TRI.N"])
        await until(lambda: session.reconnects >= 1)
        await sub.close()
    breaches = [e for e in events if isinstance(e, ProtocolViolation)]
    assert breaches and breaches[0].limit == 3
