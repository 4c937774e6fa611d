"""What one event-loop wakeup costs, a frame per wakeup, over a real socket, in this process.

At a paced rate with one message per frame (the 100k msgs/s latency job) every frame is its
own wakeup: the loop's ``select``, the transport's read, picows, the listener, then the
client's work. ``python -m benchmarks.wakeup`` serves the bench items from a picows server in
this process, connects each variant to it over TCP on 127.0.0.1, and then, per frame, sends
one stamped MarketPrice Update frame and runs one iteration of the event loop, which reads and
delivers it. Variants:

* ``floor``: a picows connection (this package's ``connect``) whose handler drops the frame:
  the loop, the read and picows;
* ``bare``: the bench's bare stack (msgspec decode, the callback with the stamp);
* ``client``: a :class:`~ertcloud.Session` on picows, the callback of the latency job (the
  stamp read as ``event.sim_ts``);
* ``client-nostamp``: the same callback without the stamp.

It prints this thread's CPU time per wakeup (median and min-max over rounds; the sender's
write, with the kernel's loopback work, is in every variant alike) and, with
``--callgrind``, runs each variant under ``valgrind --tool=callgrind`` counting only the
frames' part (user space: instructions per wakeup, which the machine's load does not move).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import picows

from benchmarks.hot_path import update_frames
from ertcloud.sim.bench import bench_ric, ensure_universe
from ertcloud.sim.market import Market

__all__ = ["VARIANTS", "main", "measure"]

VARIANTS = ("floor", "bare", "client", "client-nostamp")
_STAMP = 1_765_000_000_000_000_000  # 19 digits, as the simulator's SimTs


class _Server(picows.WSListener):
    """Answers a Login and item requests (Refreshes with the bench images); keeps the
    transport so that the frames can be sent from outside."""

    def __init__(self, market: Market, conns: list[picows.WSTransport]) -> None:
        self.market = market
        self.conns = conns

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.conns.append(transport)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type != picows.WSMsgType.TEXT:
            return
        msg = json.loads(frame.get_payload_as_bytes())
        for m in msg if isinstance(msg, list) else [msg]:
            if m.get("Type") in ("Pong", "Ping", "Close"):
                continue
            if m.get("Domain") == "Login":
                refresh = {
                    "ID": m["ID"],
                    "Type": "Refresh",
                    "Domain": "Login",
                    "Key": {"Name": "bench"},
                    "State": {"Stream": "Open", "Data": "Ok"},
                    "Elements": {"PingTimeout": 30},
                }
                transport.send(picows.WSMsgType.TEXT, json.dumps([refresh]).encode())
                continue
            names = m.get("Key", {}).get("Name")
            if isinstance(names, str):
                pairs = [(m["ID"], names)]
            else:  # a batch: its streams take the IDs after its own
                pairs = [(m["ID"] + 1 + i, n) for i, n in enumerate(names or [])]
            for sid, name in pairs:
                refresh = {
                    "ID": sid,
                    "Type": "Refresh",
                    "Key": {"Service": "ELEKTRON_DD", "Name": name},
                    "State": {"Stream": "Open", "Data": "Ok"},
                    "Fields": dict(self.market.instruments[name].image),
                }
                transport.send(picows.WSMsgType.TEXT, json.dumps([refresh]).encode())


def _stamped(frames: list[bytes]) -> list[bytes]:
    """Each frame with a ``SimTs`` before its end, as the latency job's frames end."""
    return [f[:-2] + b',"SimTs":%d}]' % _STAMP for f in frames]


async def _connect(variant: str, url: str, items: int, count: list[int]) -> Any:
    """A connected, refreshed variant; returns what keeps it alive (closed at the end)."""
    count[0] = 0
    if variant.startswith("client"):
        from ertcloud import Session
        from ertcloud.protocol.login import LoginParams

        session = Session(
            url, login=LoginParams(user="bench"), transport="picows", dictionary="builtin"
        )
        refreshed = asyncio.Event()
        seen = [0]

        def on_refresh(ev: Any) -> None:
            seen[0] += 1
            if seen[0] == items:
                refreshed.set()

        def on_update(ev: Any) -> None:  # the latency job's work (Counter.on_update)
            count[0] += 1
            ev.stream.fields.get("BID")
            count[1] = ev.sim_ts

        def on_unstamped(ev: Any) -> None:
            count[0] += 1
            ev.stream.fields.get("BID")

        await session.__aenter__()
        session.subscribe(
            [bench_ric(i) for i in range(items)],
            on_refresh=on_refresh,
            on_update=on_update if variant == "client" else on_unstamped,
            queue=False,
        )
        await asyncio.wait_for(refreshed.wait(), 60)
        return session
    import msgspec

    from ertcloud.client.transport_picows import connect
    from ertcloud.protocol.messages import AnyMessage, Update

    decode = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
    ws = await connect(url, protocols=["tr_json2"])
    seen = [0]
    refreshed = asyncio.get_running_loop().create_future()

    def on_message(data: Any) -> None:
        if variant == "floor":
            count[0] += 1
            if count[0] == items + 1 and not refreshed.done():  # the Login's and the items'
                refreshed.set_result(None)
            return
        out = decode(data)
        for m in out if type(out) is list else (out,):
            if type(m) is Update:
                count[0] += 1
                m.fields.get("BID")
                count[1] = m.sim_ts
            else:
                seen[0] += 1
                if seen[0] == items and not refreshed.done():
                    refreshed.set_result(None)

    task = asyncio.ensure_future(ws.run(on_message))
    ws.send_now(json.dumps({"ID": 1, "Domain": "Login", "Key": {"Name": "bench"}}).encode())
    names = [bench_ric(i) for i in range(items)]
    ws.send_now(json.dumps({"ID": 2, "Key": {"Name": names}}).encode())
    await asyncio.wait_for(refreshed, 60)
    return ws, task


async def _close(variant: str, held: Any) -> None:
    if variant.startswith("client"):
        await held.__aexit__(None, None, None)
    else:
        ws, task = held
        await ws.close()
        task.cancel()


def measure(
    variants: list[str], items: int = 500, rounds: int = 5, frames_per_run: int = 4096
) -> dict[str, list[float]]:
    """Microseconds of thread CPU time per wakeup of each variant, one value per round (the
    variants in turn within a round). Under callgrind, instructions are counted in the
    ``functools.reduce`` that runs the frames (see ``--callgrind``)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    market = Market(42)
    ensure_universe(market, items)
    conns: list[picows.WSTransport] = []
    server = loop.run_until_complete(
        picows.ws_create_server(
            lambda req: picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_101_response(
                    extra_headers={"Sec-WebSocket-Protocol": "tr_json2"}
                ),
                _Server(market, conns),
            ),
            "127.0.0.1",
            0,
        )
    )
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    out: dict[str, list[float]] = {v: [] for v in variants}
    count = [0, 0]
    payloads: list[bytes] = []
    try:
        for _ in range(rounds):
            for variant in variants:
                n0 = len(conns)
                held = loop.run_until_complete(_connect(variant, url, items, count))
                sender = conns[n0]
                if not payloads:
                    # stream IDs 3.. in the order of the names, for every variant alike
                    payloads = _stamped(update_frames(_Streams(items), market, 1))
                _warm_up(loop, sender, payloads + payloads, count)
                timer = loop.call_later(3600, lambda: None)
                spent = _run_frames(loop, sender, payloads[:frames_per_run], count)
                timer.cancel()
                pool = payloads[:frames_per_run]
                assert count[0] == len(pool), (variant, count[0])
                if variant in ("bare", "client"):  # the stamp was read, and read right
                    assert count[1] == _STAMP, (variant, count[1])
                out[variant].append(spent / len(pool) * 1e6)
                loop.run_until_complete(_close(variant, held))
    finally:
        server.close()
        for t in conns:
            t.disconnect(graceful=False)
        loop.run_until_complete(asyncio.sleep(0.01))  # the disconnections' callbacks
        loop.close()
    return out


def _warm_up(
    loop: asyncio.AbstractEventLoop, sender: Any, frames: list[bytes], count: list[int]
) -> None:
    """``frames`` sent 64 at a time, each batch read before the next: every stream's
    sequence check learns its step (the pool twice: its numbers then go back once per pass
    and stream, as the bench sender's do)."""
    count[0] = 0
    for i in range(0, len(frames), 64):
        for payload in frames[i : i + 64]:
            sender.send(picows.WSMsgType.TEXT, payload)
        while count[0] < min(i + 64, len(frames)):
            loop.run_until_complete(asyncio.sleep(0))


def _run_frames(
    loop: asyncio.AbstractEventLoop, sender: Any, frames: list[bytes], count: list[int]
) -> float:
    """Each frame sent, then one iteration of the loop (more only if it was not read in
    that one); the thread CPU seconds of it all. The caller keeps a timer pending, as every
    bench client has one (the session's own, a ``wait_for`` in the bare stack)."""
    send = sender.send
    text = picows.WSMsgType.TEXT
    run_once = loop._run_once  # type: ignore[attr-defined]
    count[0] = 0

    def step(n: int, payload: bytes) -> int:
        send(text, payload)
        run_once()
        while count[0] <= n:
            run_once()
        return n + 1

    asyncio.events._set_running_loop(loop)
    try:
        t0 = time.thread_time()
        functools.reduce(step, frames, 0)  # what --callgrind counts (see _callgrind)
        return time.thread_time() - t0
    finally:
        asyncio.events._set_running_loop(None)


class _Streams:
    """What :func:`benchmarks.hot_path.update_frames` reads of a protocol: its streams."""

    def __init__(self, items: int) -> None:
        m = Market(42)
        ensure_universe(m, items)
        self.streams = [
            _Stream(3 + i, bench_ric(i), tuple(m.instruments[bench_ric(i)].image))
            for i in range(items)
        ]


class _Stream:
    def __init__(self, sid: int, name: str, fields: tuple[str, ...]) -> None:
        self.id, self.name, self.fields = sid, name, fields


def _callgrind(variant: str, items: int, frames: int) -> float:
    """Instructions per wakeup of ``variant``: this module under callgrind, one run of
    ``frames`` frames, counting inside ``functools.reduce`` only."""
    with tempfile.TemporaryDirectory(prefix="ertcloud-wakeup-") as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = [
            *("valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce"),
            f"--callgrind-out-file={out}",
            *(sys.executable, "-m", "benchmarks.wakeup", "--variants", variant),
            *("--rounds", "1", "--frames", str(frames), "--items", str(items)),
        ]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"callgrind run of {variant} failed: {p.stderr[-400:]}")
        with open(out) as f:
            m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M)
        if m is None:
            raise RuntimeError("no totals in the callgrind output")
        return int(m.group(1)) / frames


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wakeup", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--frames", type=int, default=4096, help="frames (wakeups) per run")
    p.add_argument("--items", type=int, default=500)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument(
        "--callgrind", action="store_true", help="instructions per wakeup (needs valgrind)"
    )
    a = p.parse_args(argv)
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}: choose from {', '.join(VARIANTS)}")
    if a.callgrind:
        if shutil.which("valgrind") is None:
            p.error("--callgrind needs valgrind")
        print(f"{'variant':18} {'instructions/wakeup':>20}")
        for v in variants:
            print(f"{v:18} {_callgrind(v, a.items, a.frames):20,.0f}", flush=True)
        return 0
    res = measure(variants, a.items, a.rounds, a.frames)
    first: Callable[[list[float]], float] = statistics.median
    print(f"{'variant':18} {'us/wakeup':>10} {'min-max':>13}")
    for v, xs in res.items():
        print(f"{v:18} {first(xs):10.2f} {min(xs):6.2f}-{max(xs):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
