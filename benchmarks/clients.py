"""The clients under test, one measurement per process.

``python -m benchmarks.clients --client ertcloud|ertcloud-aiohttp|baseline|lseg-data|discard
--mode tput|lat|mem ...`` prints one JSON result line (``--serve``: one per job line on stdin).

* ``ertcloud``: :class:`ertcloud.Session` (full path: decode, record cache, typed events to a
  callback) on its default transport; ``ertcloud-aiohttp`` forces the aiohttp one.
* ``baseline``: written like the vendor's examples: websocket-client ``WebSocketApp`` in a
  thread, ``json.loads``, a dict per item as the record cache, the same callback work.
* ``lseg-data``: the official library's platform session pointed at the simulator.
* ``bare``: the stack ertcloud's fast path stands on, alone: picows frames decoded by
  msgspec into the typed messages and handed to the same callback, with no record cache, no
  events and no stream state. No client on this stack can be faster: it bounds what the
  full path can reach against the parse-only ceiling.
* ``discard``: a raw socket that reads and drops everything (the simulator's ceiling); in
  latency runs it scans the stamps out of the raw bytes (the machine's latency floor).
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
import re
import socket
import sys
import threading
import time
from typing import Any

from benchmarks import tails
from benchmarks.common import Counter, Job, emit, fetch_token, settle

CONTROL_USER = "control"  # the runner starts the simulator with this user too
BENCH = 251  # the simulator's bench-mode Generic domain (ertcloud.sim.bench)


def bench_ric(i: int) -> str:
    return f"BENCH{i}.BX"


# -- ertcloud ---------------------------------------------------------------------------


async def run_ertcloud(job: Job, transport: str | None) -> dict[str, Any]:
    from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager

    t_start = time.perf_counter()
    tokens = TokenManager(
        TokenClient(job.token_url), PasswordCredentials("demo", "demo", client_id="bench")
    )
    kw: dict[str, Any] = {"transport": transport} if transport else {}
    session = Session(job.ws_url, tokens=tokens, **kw)
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_generic(g: Any) -> None:
        if g.domain == BENCH:
            replies.put_nowait(dict(g.elements or {}))

    session.on_generic = on_generic
    counter = Counter(latency=job.mode == "lat")
    refreshed = 0
    first_refresh = 0.0
    all_refreshed = asyncio.Event()

    def on_refresh(ev: Any) -> None:
        nonlocal refreshed, first_refresh
        refreshed += 1
        if refreshed == 1:
            first_refresh = time.perf_counter()
        if refreshed == job.items:
            all_refreshed.set()

    def on_update(ev: Any) -> None:
        counter.on_update(ev.stream.name, ev.stream.fields, None)

    def on_stamped_update(ev: Any) -> None:
        # ``ev.sim_ts``, not ``ev.message.sim_ts``: the compiled core read the stamp with the
        # frame, and would build the whole Update for ``message`` (a second decode the bare
        # stack does not pay)
        counter.on_update(ev.stream.name, ev.stream.fields, ev.sim_ts)

    async with session:
        login_id = session.protocol.login.id
        session.send_generic(login_id, domain=BENCH, elements={"Universe": job.items})
        await asyncio.wait_for(replies.get(), 120)
        rss0 = settle()
        t_sub = time.perf_counter()
        session.subscribe(
            [bench_ric(i) for i in range(job.items)],
            fields=job.view,
            on_refresh=on_refresh,
            on_update=on_stamped_update if job.mode == "lat" else on_update,
            queue=False,
        )
        await asyncio.wait_for(all_refreshed.wait(), 300)
        t_all = time.perf_counter()
        out: dict[str, Any] = {"transport": getattr(session, "transport_name", "aiohttp")}
        if job.mode == "mem":
            rss1 = settle()
            out.update(
                items=job.items,
                bytes_per_item=(rss1 - rss0) / job.items,
                first_refresh_s=first_refresh - t_sub,
                all_refreshed_s=t_all - t_sub,
                start_to_first_refresh_s=first_refresh - t_start,
                start_to_all_refreshed_s=t_all - t_start,
            )
            return out
        counter.start_stream()
        session.send_generic(login_id, domain=BENCH, elements=job.bench_elements())
        reply = await asyncio.wait_for(replies.get(), job.seconds + 120)
        counter.end_stream()
    return _result(job, counter, reply, out)


def _result(
    job: Job, counter: Counter, reply: dict[str, Any], out: dict[str, Any]
) -> dict[str, Any]:
    out["received"] = counter.count
    out["sent"] = reply.get("Sent", 0)
    if counter.cpu_s > 0 and counter.count:
        # everything the process did per message while the stream ran (reads, loop, idle
        # wake-ups): at a paced rate, what decides whether a client keeps up
        out["cpu_us_per_msg"] = counter.cpu_s / counter.count * 1e6
    if counter.diag:
        out["diag"] = counter.diag
    if job.mode == "lat":
        out.update(counter.latencies())
    else:
        # the sender's stream, on this process's clock (a client stopped before the reply:
        # the stream's Seconds, which a stream without a Messages limit runs for)
        secs = float(reply.get("Seconds") or (0 if job.messages else job.seconds))
        if counter.requested and secs > 0:
            counter.until = counter.requested + secs
        out["msgs_per_s"] = counter.rate()
        out["rate_windows"] = counter.rate_windows()
    return out


# -- bare stack: picows + msgspec, nothing else ------------------------------------------


async def run_bare(job: Job) -> dict[str, Any]:
    import msgspec

    from ertcloud.client.transport_picows import connect
    from ertcloud.protocol.messages import AnyMessage, Generic, Ping, Refresh, Update

    decode = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
    counter = Counter(latency=job.mode == "lat")
    rics = [bench_ric(i) for i in range(job.items)]
    names = {3 + i: r for i, r in enumerate(rics)}  # the batch's streams: IDs 3, 4, ...
    ws = await connect(job.ws_url, protocols=["tr_json2"])
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    refreshed = 0

    def send(msg: dict[str, Any]) -> None:
        ws.send_now(json.dumps(msg).encode())

    def generic(elements: dict[str, Any]) -> None:
        send({"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": elements})

    def on_message(data: memoryview) -> None:
        nonlocal refreshed
        out = decode(data)
        for m in out if type(out) is list else (out,):
            if type(m) is Update:
                counter.on_update(names[m.id], m.fields, m.sim_ts)
            elif type(m) is Refresh:
                if m.id == 1:
                    generic({"Universe": job.items})
                    continue
                refreshed += 1
                if refreshed == job.items:
                    counter.start_stream()
                    generic(job.bench_elements())
            elif type(m) is Generic and m.domain == BENCH:
                el = dict(m.elements or {})
                if "Universe" in el:
                    send({"ID": 2, "Key": {"Name": rics}})
                elif not done.done():
                    counter.end_stream()
                    done.set_result(el)
            elif type(m) is Ping:
                send({"Type": "Pong"})

    send(_login(fetch_token(job.token_url)))
    reader = asyncio.ensure_future(ws.run(on_message))
    reply = await asyncio.wait_for(done, job.seconds + 120)
    await ws.close()
    reader.cancel()
    return _result(job, counter, reply, {"transport": "picows"})


# -- vendor-example baseline ------------------------------------------------------------


def run_baseline(job: Job) -> dict[str, Any]:
    sys.modules.setdefault("wsaccel", None)  # type: ignore[arg-type]  # a plain install
    import websocket  # websocket-client, as in the vendor's examples

    token = fetch_token(job.token_url)
    counter = Counter(latency=job.mode == "lat")
    cache: dict[int, dict[str, Any]] = {}
    names: dict[int, str] = {}
    done = threading.Event()
    reply: dict[str, Any] = {}
    refreshed = 0

    def send(ws: Any, msg: dict[str, Any]) -> None:
        ws.send(json.dumps(msg))

    def on_open(ws: Any) -> None:
        send(
            ws,
            {
                "ID": 1,
                "Domain": "Login",
                "Key": {
                    "NameType": "AuthnToken",
                    "Elements": {
                        "ApplicationId": "256",
                        "Position": "127.0.0.1/net",
                        "AuthenticationToken": token,
                    },
                },
            },
        )

    def process(ws: Any, m: dict[str, Any]) -> None:
        nonlocal refreshed
        t = m.get("Type")
        if t == "Update":
            mid = m["ID"]
            rec = cache.get(mid)
            if rec is None:
                return
            f = m.get("Fields")
            if f:
                rec.update(f)
            counter.on_update(names[mid], rec, m.get("SimTs"))
        elif t == "Refresh":
            if m.get("Domain") == "Login":
                send(
                    ws,
                    {
                        "ID": 1,
                        "Type": "Generic",
                        "Domain": BENCH,
                        "Elements": {"Universe": job.items},
                    },
                )
                return
            cache[m["ID"]] = dict(m.get("Fields") or {})
            refreshed += 1
            if refreshed == job.items:
                counter.start_stream()
                send(
                    ws,
                    {"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": job.bench_elements()},
                )
        elif t == "Generic" and m.get("Domain") == BENCH:
            el = m.get("Elements") or {}
            if "Universe" in el:
                rics = [bench_ric(i) for i in range(job.items)]
                for i, r in enumerate(rics):
                    names[3 + i] = r
                req: dict[str, Any] = {"ID": 2, "Key": {"Name": rics}}
                if job.view:
                    req["View"] = job.view
                send(ws, req)
            else:
                counter.end_stream()
                reply.update(el)
                done.set()
        elif t == "Ping":
            send(ws, {"Type": "Pong"})

    def on_message(ws: Any, message: str) -> None:
        for m in json.loads(message):
            process(ws, m)

    app = websocket.WebSocketApp(
        job.ws_url,
        header=["User-Agent: Python"],
        subprotocols=["tr_json2"],
        on_open=on_open,
        on_message=on_message,
    )
    th = threading.Thread(target=app.run_forever, daemon=True)
    th.start()
    if job.stop_after > 0:
        counter.sample_until(done, job.stop_after)
        counter.end_stream()
        app.close(timeout=0)  # not read what is still queued for a close frame
    else:
        done.wait(job.seconds + 120)
        app.close()
    return _result(job, counter, reply, {})


# -- lseg-data --------------------------------------------------------------------------


def run_lseg(job: Job) -> dict[str, Any]:
    import lseg.data as ld  # the official library (optional)

    base = job.token_url.split("/auth/", 1)[0]
    ld.get_config()["sessions.platform.default.base-url"] = base
    session = ld.session.platform.Definition(
        app_key="bench",
        grant=ld.session.platform.GrantPassword(username="demo", password="demo"),
        signon_control=True,
    ).get_session()
    session.open()
    counter = Counter(latency=job.mode == "lat")
    refreshed = threading.Event()
    seen: set[str] = set()

    def on_refresh(fields: Any, name: str, stream: Any) -> None:
        seen.add(name)
        if len(seen) >= job.items:
            refreshed.set()

    def on_update(fields: Any, name: str, stream: Any) -> None:
        counter.on_update(name, fields, None)

    stream = ld.content.pricing.Definition(
        universe=[bench_ric(i) for i in range(job.items)], fields=job.view
    ).get_stream(session=session)
    stream.on_refresh(on_refresh)
    stream.on_update(on_update)
    control = _Control(job)  # creates the universe before the stream opens
    stream.open(with_updates=True)
    refreshed.wait(120)
    counter.start_stream()
    reply = control.start({**job.bench_elements(), "Scope": "others"})
    time.sleep(0.5)  # the library's dispatch thread may lag behind the socket
    counter.end_stream()
    stream.close()
    session.close()
    return _result(job, counter, reply, {})


class _Control:
    """A side connection (raw socket) for bench requests on behalf of others."""

    def __init__(self, job: Job) -> None:
        self.sock = _ws_connect(job.ws_url)
        token = fetch_token(job.token_url, CONTROL_USER, CONTROL_USER)  # a second user
        _ws_send(self.sock, _login(token))
        _read_until(self.sock, b'"Login"')
        _ws_send(
            self.sock,
            {"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": {"Universe": job.items}},
        )
        _read_until(self.sock, b'"Universe"')

    def start(self, elements: dict[str, Any]) -> dict[str, Any]:
        _ws_send(self.sock, {"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": elements})
        tail = _read_until(self.sock, b'"Sent"', discard=False)
        return _reply_of(tail)


# -- discard reader: the simulator's ceiling ---------------------------------------------


def run_discard(job: Job) -> dict[str, Any]:
    sock = _ws_connect(job.ws_url)
    _ws_send(sock, _login(fetch_token(job.token_url)))
    _read_until(sock, b'"Login"')
    _ws_send(
        sock, {"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": {"Universe": job.items}}
    )
    _read_until(sock, b'"Universe"')
    _ws_send(sock, {"ID": 2, "Key": {"Name": [bench_ric(i) for i in range(job.items)]}})
    counter = Counter(latency=job.mode == "lat")
    counter.start_stream()
    _ws_send(sock, {"ID": 1, "Type": "Generic", "Domain": BENCH, "Elements": job.bench_elements()})
    if job.mode == "lat":
        reply = _stamps_until_reply(sock, counter)
        counter.end_stream()
        sock.close()
        return _result(job, counter, reply, {})
    reply = _reply_of(_read_until(sock, b'"Sent"', discard=False))
    counter.end_stream()
    sock.close()
    secs = float(reply.get("Seconds") or 0)
    rate = reply.get("Sent", 0) / secs if secs > 0 else 0.0
    out = {"sent": reply.get("Sent", 0), "bytes": reply.get("Bytes", 0), "msgs_per_s": rate}
    return {**out, "diag": counter.diag}


_STAMP = re.compile(rb'"SimTs":(\d+)\}')


def _stamps_until_reply(sock: socket.socket, counter: Counter) -> dict[str, Any]:
    """The latency floor: the time from each stamp to the read that brought it, with no
    WebSocket parsing or decoding (stamps are found in the raw bytes)."""
    pending = b""
    while True:
        chunk = sock.recv(1 << 20)
        now = time.time_ns()
        if not chunk:
            raise ConnectionError("connection closed")
        data = pending + chunk
        end = 0
        for m in _STAMP.finditer(data):
            counter.lat_ns.append(now - int(m.group(1)))
            end = m.end()
        counter.count = len(counter.lat_ns)
        at = data.find(b'"Sent"', end)
        if at >= 0:
            more = data[at:]
            while b"}" not in more:
                more += sock.recv(4096)
            return _reply_of(more)
        pending = data[max(end, len(data) - 64) :]


def _login(token: str) -> dict[str, Any]:
    return {
        "ID": 1,
        "Domain": "Login",
        "Key": {
            "NameType": "AuthnToken",
            "Elements": {
                "ApplicationId": "256",
                "Position": "127.0.0.1/net",
                "AuthenticationToken": token,
            },
        },
    }


def _ws_connect(url: str) -> socket.socket:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: tr_json2\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("handshake failed")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
    return sock


def _ws_send(sock: socket.socket, msg: dict[str, Any]) -> None:
    payload = json.dumps(msg).encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    sock.sendall(head + b"\0\0\0\0" + payload)  # a zero mask leaves the payload as is


def _read_until(sock: socket.socket, marker: bytes, discard: bool = True) -> bytes:
    """Read (and drop) until ``marker``; returns what follows it up to a closing brace."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    tail = b""
    keep = len(marker) + 8
    while True:
        n = sock.recv_into(buf)
        if not n:
            raise ConnectionError("connection closed")
        if buf.find(marker, 0, n) >= 0 or marker in tail + bytes(view[: min(n, keep)]):
            data = tail + bytes(view[:n])
            if discard:
                return b""
            more = data[data.index(marker) :]
            while b"}" not in more:
                more += sock.recv(4096)
            return more
        tail = bytes(view[max(0, n - keep) : n])


def _reply_of(data: bytes) -> dict[str, Any]:
    text = data.decode("utf-8", "replace")
    body = "{" + text[: text.index("}") + 1]
    out: dict[str, Any] = json.loads(body)
    return out


def serve() -> None:
    """``--serve``: run the jobs given one a line on stdin (each line a JSON list of the
    arguments one process would take) and answer each with one line: the result, or
    ``{"error": ...}``. ``python -m benchmarks --quick`` runs its throughput and latency
    jobs so, without a process start-up per job."""
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever a library prints stays off the answers
    sys.modules.setdefault("wsaccel", None)  # type: ignore[arg-type]  # as run_baseline
    for name in ("ertcloud", "aiohttp", "msgspec", "ertcloud.client.transport_picows", "websocket"):
        try:  # once, before the first job, not within its figures
            importlib.import_module(name)
        except ImportError:
            pass
    for line in sys.stdin:
        try:
            answer = measure(Job.parse(json.loads(line)))
        except (Exception, SystemExit) as exc:  # reported to the runner
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> None:
    if (sys.argv[1:] if argv is None else argv) == ["--serve"]:
        serve()
        return
    emit(measure(Job.parse(argv)))


def measure(job: Job) -> dict[str, Any]:
    """Run one job in this process; its result."""
    traced = job.mode == "lat" and os.environ.get(tails.ENV)
    if traced:
        tails.install()
    if job.client == "ertcloud":
        result = asyncio.run(run_ertcloud(job, None))
    elif job.client.startswith("ertcloud-"):
        result = asyncio.run(run_ertcloud(job, job.client.split("-", 1)[1]))
    elif job.client == "baseline":
        result = run_baseline(job)
    elif job.client == "lseg-data":
        result = run_lseg(job)
    elif job.client == "bare":
        result = asyncio.run(run_bare(job))
    elif job.client == "discard":
        result = run_discard(job)
    else:
        raise SystemExit(f"unknown client {job.client}")
    result.update(client=job.client, mode=job.mode, per_frame=job.per_frame, domain=job.domain)
    if traced:
        result["tails"] = tails.dump(f"{job.client}-{job.rate:.0f}")
    return result


if __name__ == "__main__":
    main()
