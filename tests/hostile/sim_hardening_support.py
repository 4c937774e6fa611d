"""Helpers of the simulator hardening tests: a simulator process, bare sockets speaking
just enough HTTP and WebSocket to misbehave, and the process's memory figures."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cli_forkserver
from support import SimProcess, cli_env, ertcloud_cmd

from ertcloud.sim.market import Market


def start_sim(*args: str, nofile: int | None = None, stderr: Path | None = None) -> SimProcess:
    """``ertcloud sim --port 0 ARGS`` (stop it with :func:`stop_sim`), optionally with a
    file descriptor limit of ``nofile`` and its stderr written to a file. It is forked from
    the fork server (``cli_forkserver``) unless it needs a limit of its own: the simulator
    reads ``RLIMIT_NOFILE`` when it starts."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    cmd = ["sim", "--port", "0", *args]
    err = open(stderr, "wb") if stderr is not None else open(os.devnull, "wb")
    try:
        proc = _forked(cmd, err.fileno()) if nofile is None else None
        if proc is None:
            proc = subprocess.Popen(
                ertcloud_cmd(*cmd),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=cli_env(),
                preexec_fn=limit if nofile is not None else None,
            )
    finally:
        err.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise AssertionError("simulator did not start")
    return SimProcess(proc, json.loads(line))


def _forked(args: list[str], stderr: int) -> subprocess.Popen[str] | None:
    """``ertcloud ARGS`` forked from the fork server with its stdout on a pipe and its
    stderr on ``stderr``; None where the fork server does not apply."""
    return cli_forkserver.start_with(args, cli_env(), stderr)


def stop_sim(sp: SimProcess) -> None:
    sp.stop()
    if sp.proc.stdout is not None:
        sp.proc.stdout.close()


def users_file(tmp: Path) -> str:
    path = tmp / "users.json"
    path.write_text(json.dumps({"demo": "demo", "raw": "raw"}))
    return str(path)


def http_json(url: str, data: bytes | None = None, **headers: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def health(sp: SimProcess) -> dict[str, Any]:
    status, body = http_json(f"http://127.0.0.1:{sp.port}/health")
    assert status == 200
    return dict(body)


def password_token(sp: SimProcess, user: str = "demo", password: str = "demo") -> str:
    form = f"grant_type=password&username={user}&password={password}&client_id=x&scope=trapi"
    status, body = http_json(
        sp.info["token_url"],
        form.encode(),
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    return str(body["access_token"])


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def ws_frame(payload: bytes, *, opcode: int = 0x1, rsv1: bool = False) -> bytes:
    """One masked client frame (mask key 0, so the payload goes as is)."""
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def raw_websocket(
    port: int, *, rcvbuf: int | None = None, deflate: bool = False, timeout: float = 10
) -> socket.socket:
    """A blocking socket past the WebSocket handshake of ``/WebSocket`` (tr_json2)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    sock.sendall(
        (
            f"GET /WebSocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: tr_json2\r\n{ext}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"handshake refused: {head!r}")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    if deflate:
        assert b"permessage-deflate" in head.lower(), head
    return sock


def send_json(sock: socket.socket, obj: Any) -> None:
    sock.sendall(ws_frame(json.dumps(obj).encode()))


def login_msg(token: str) -> dict[str, Any]:
    return {
        "ID": 1,
        "Domain": "Login",
        "Key": {"Elements": {"ApplicationId": "256", "AuthenticationToken": token}},
    }


def peer_closed(sock: socket.socket, timeout: float) -> bool:
    """True once the peer closed or reset ``sock`` (reading and discarding what comes)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


ALL_RICS = list(Market(42).instruments)
EQUITIES = [r for r in ALL_RICS if r.endswith((".N", ".O", ".L"))]


def stall_client(port: int, token: str) -> socket.socket:
    """A client that logs in, asks for a lot and then never reads again (tiny buffer)."""
    sock = raw_websocket(port, rcvbuf=4096)
    send_json(sock, login_msg(token))
    sid = 10
    for _ in range(6):  # the same items on several streams: six times the updates
        send_json(sock, {"ID": sid, "Key": {"Name": ALL_RICS}})
        sid += len(ALL_RICS) + 1
    send_json(sock, {"ID": 5000, "Domain": "MarketByOrder", "Key": {"Name": EQUITIES}})
    return sock
