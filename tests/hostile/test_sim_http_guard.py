"""Slowloris and connection floods do not stop the simulator answering other clients: a
header timeout, and a connection cap that makes room by closing idle connections."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
import urllib.request
from pathlib import Path

from ertcloud.sim.guard import RateLimitFilter

from .sim_hardening_support import (
    health,
    http_json,
    password_token,
    peer_closed,
    raw_websocket,
    start_sim,
    stop_sim,
)


def _slowloris(port: int, count: int, stop: threading.Event, opened: list[int]) -> None:
    """Keep ``count`` connections sending a request head one header a second, reopening
    the ones the server closes."""
    socks: list[socket.socket | None] = [None] * count
    try:
        while not stop.is_set():
            for i, s in enumerate(socks):
                try:
                    if s is None:
                        s = socket.create_connection(("127.0.0.1", port), timeout=2)
                        s.sendall(b"POST /auth/oauth2/v1/token HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                        socks[i] = s
                        opened[0] += 1
                    else:
                        s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    if s is not None:
                        s.close()
                    socks[i] = None
            stop.wait(1.0)
    finally:
        for s in socks:
            if s is not None:
                s.close()


def test_slowloris_does_not_stop_the_token_endpoint(tmp_path: Path) -> None:
    # few descriptors: without a cap under the limit, accepting fails with EMFILE
    log = tmp_path / "sim.log"
    sp = start_sim("--header-timeout", "10", "--log-level", "INFO", nofile=128, stderr=log)
    stop = threading.Event()
    opened = [0]
    attack = threading.Thread(target=_slowloris, args=(sp.port, 300, stop, opened))
    try:
        attack.start()
        deadline = time.monotonic() + 15
        while opened[0] < 200:  # the attack is on
            assert time.monotonic() < deadline, opened
            time.sleep(0.05)
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            password_token(sp)
            worst = max(worst, time.monotonic() - t0)
        print(f"token endpoint under slowloris: slowest answer {worst:.2f} s")
        assert worst < 5
        h = health(sp)["http"]
        assert h["evicted"] > 0
    finally:
        stop.set()
        attack.join(10)
        stop_sim(sp)
    size = log.stat().st_size
    print(f"simulator log during the attack: {size} bytes")
    assert size < 100_000  # rate-limited: no flood


def test_a_connection_that_sends_no_request_is_closed_after_the_header_timeout() -> None:
    sp = start_sim("--header-timeout", "2")
    try:
        sock = socket.create_connection(("127.0.0.1", sp.port), timeout=5)
        t0 = time.monotonic()
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # and never the rest
            assert peer_closed(sock, 10)
        finally:
            sock.close()
        assert 1.5 < time.monotonic() - t0 < 8
    finally:
        stop_sim(sp)


def test_connection_cap_refuses_when_every_connection_is_busy() -> None:
    sp = start_sim("--max-connections", "5")
    socks = []
    try:
        socks = [raw_websocket(sp.port) for _ in range(5)]
        status, _ = http_json(f"http://127.0.0.1:{sp.port}/health")
        assert status == 503
        socks.pop().close()
        deadline = time.monotonic() + 10
        while True:
            status, body = http_json(f"http://127.0.0.1:{sp.port}/health")
            if status == 200:
                break
            assert time.monotonic() < deadline, "no room after a connection closed"
            time.sleep(0.2)
        assert body["connections"] == 4 and body["http"]["refused"] >= 1
    finally:
        for s in socks:
            s.close()
        stop_sim(sp)


def test_tls_handshakes_that_never_start_make_room_at_the_cap() -> None:
    sp = start_sim("--tls-self-signed", "--max-connections", "5")
    socks: list[socket.socket] = []
    try:
        # five connections that never send a ClientHello hold every place
        socks = [socket.create_connection(("127.0.0.1", sp.port), timeout=5) for _ in range(5)]
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        url = f"https://127.0.0.1:{sp.port}/health"
        with urllib.request.urlopen(url, timeout=10, context=unverified) as r:
            assert r.status == 200
            assert json.loads(r.read())["http"]["evicted"] == 1
        assert peer_closed(socks[0], 10)  # the oldest one made room
    finally:
        for s in socks:
            s.close()
        stop_sim(sp)


def test_repeated_log_messages_are_rate_limited() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("ertcloud.test.flood")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    now = [0.0]
    flt = RateLimitFilter(burst=5, window=0.5, clock=lambda: now[0])
    logger.addFilter(flt)
    try:
        for _ in range(10_000):
            logger.error("socket.accept() out of system resource: %s", "EMFILE")
        logger.error("another message")
        assert len(records) == 6
        now[0] = 0.6
        logger.error("socket.accept() out of system resource: %s", "EMFILE")
        assert "9995 more like this were not logged" in records[-1].getMessage()
        # asyncio's messages differ only in descriptors and addresses: they count as one
        for fd in range(100):
            logger.error(f"Exception in callback accept(<socket fd={fd}, laddr=0x{fd:x}>)\n...")
        assert len(records) == 12
    finally:
        logger.removeFilter(flt)
        logger.removeHandler(handler)
