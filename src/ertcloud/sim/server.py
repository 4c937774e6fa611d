"""The simulator process: gateway, discovery and streaming server on one aiohttp port.

Routes:

* ``POST /auth/oauth2/v1/token``, ``/auth/oauth2/beta1/token``, ``/auth/oauth2/v2/token``
* ``GET /streaming/pricing/v1/`` (Bearer token required)
* ``GET /WebSocket`` (sub-protocol ``tr_json2`` or ``rssl.json.v2``)
* ``POST /getToken`` (deployed-ADS style token for cookie auto-login)
* ``GET /health``
* ``GET|POST|DELETE /_sim/faults`` (fault injection; loopback clients only)

With ``endpoints > 1`` the same application listens on several ports: each port is one
streaming endpoint of the discovery document, all sharing one market and one gateway (so
an update carries the same ``SeqNumber`` on every connection, as hot standby expects).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import logging
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from yarl import URL

from ..exceptions import ConfigError, ErtcloudError
from ..protocol.messages import Key, Request
from .ads import ClientSession, ServerConfig, StreamingServer
from .faults import FAULTS, Conflator, FaultInjector
from .gateway import Gateway, load_signing_key, seed_signing_key
from .guard import ConnectionGuard, GuardedSite, RateLimitFilter, fd_headroom
from .market import Market
from .scenario import Step, run_scenario

__all__ = ["SUBPROTOCOLS", "SimOptions", "SimServer", "self_signed_context"]

log = logging.getLogger("ertcloud.sim")

SUBPROTOCOLS = ("tr_json2", "rssl.json.v2")
TOKEN_PATHS = ("/auth/oauth2/v1/token", "/auth/oauth2/beta1/token", "/auth/oauth2/v2/token")
DISCOVERY_PATH = "/streaming/pricing/v1/"
FAULTS_PATH = "/_sim/faults"
REDIRECT_PREFIX = "/_sim/moved"
#: loggers whose repeated messages are rate-limited while the simulator runs
_GUARDED_LOGGERS = ("asyncio", "aiohttp.server", "aiohttp.web", "aiohttp.websocket", "ertcloud.sim")
#: bytes buffered in a transport above which the fragmenting fault waits before writing on
_FRAGMENT_HIGH_WATER = 1 << 16
#: seconds a WebSocket close may wait for the client before the socket is aborted
CLOSE_TIMEOUT = 2.0
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")


@dataclass
class SimOptions:
    """Everything ``ertcloud sim`` can be told."""

    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=lambda: {"demo": "demo"})
    clients: dict[str, str] = field(default_factory=lambda: {"demo-client": "demo-secret"})
    token_ttl: int = 300
    refresh_ttl: int = 900
    #: ``expires_in`` of the tokens refresh grants issue (None: ``token_ttl``); shorter
    #: makes the lifetime shrink on refresh (conformance J05)
    refreshed_ttl: int | None = None
    seed: int = 42
    extra_rics: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_self_signed: bool = False
    server: ServerConfig = field(default_factory=ServerConfig)
    #: streaming endpoints (ports) to serve; discovery lists them per region
    endpoints: int = 1
    #: v2 client id -> public JWKs accepted for its JWT client assertions
    jwks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: faults switched on at start: (name, params)
    faults: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: a time-scripted fault scenario, started with the server
    scenario: list[Step] = field(default_factory=list)
    scenario_loop: float | None = None
    #: serve the items of this recording (JSON lines, CSV, DuckDB, Parquet) instead
    replay: str | None = None
    #: replay speed (2.0: twice as fast as recorded; ``math.inf``: no waiting)
    replay_speed: float = 1.0
    #: the token signing key kept in this file (created if missing), so tokens survive a
    #: restart; ``key_from_seed`` derives it from ``seed`` instead (else a fresh one)
    key_file: str | None = None
    key_from_seed: bool = False
    #: most open HTTP/WebSocket connections; at the cap, the oldest one still waiting for
    #: its request is closed for a new one, and without such a one the new one is refused
    max_connections: int = 1000
    #: seconds a connection may take to send a whole request head, or stay idle between
    #: requests; and to send a request body
    header_timeout: float = 20.0
    #: replay only this window of the recording (epoch s) and these items
    replay_from: float | None = None
    replay_to: float | None = None
    replay_rics: tuple[str, ...] = ()


class SimServer:
    """The whole simulated service in this process. ``async with SimServer(opts) as sim``."""

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = opts = options or SimOptions()
        self.gateway = Gateway(
            users=dict(opts.users),
            clients=dict(opts.clients),
            token_ttl=opts.token_ttl,
            refresh_ttl=opts.refresh_ttl,
            refreshed_ttl=opts.refreshed_ttl,
            jwks={k: list(v) for k, v in opts.jwks.items()},
        )
        if opts.key_file:
            self.gateway.signing_key = load_signing_key(opts.key_file)
        elif opts.key_from_seed:
            self.gateway.signing_key = seed_signing_key(opts.seed)
        self.gateway.on_takeover = self._kick_user
        self.market = Market(opts.seed, extra_rics=opts.extra_rics)
        if opts.replay:
            from .replay import Recording, ReplayServer

            self.streaming: StreamingServer = ReplayServer(
                self.market,
                self.gateway,
                opts.server,
                Recording.load(
                    opts.replay,
                    start=opts.replay_from,
                    end=opts.replay_to,
                    rics=opts.replay_rics,
                ),
                speed=opts.replay_speed,
            )
        else:
            self.streaming = StreamingServer(self.market, self.gateway, opts.server)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.ssl_context: ssl.SSLContext | None = None
        self.cert_file: str | None = None
        self.faults = FaultInjector(self)
        self.ports: list[int] = []
        self._sites: dict[int, GuardedSite] = {}
        self._endpoint_of: dict[ClientSession, int] = {}
        self._conflators: dict[ClientSession, tuple[Conflator, Any]] = {}
        self._scenario: asyncio.Task[None] | None = None
        self._refusing: set[int] = set()
        self._stalled: set[ClientSession] = set()
        self.guard = ConnectionGuard(fd_headroom(opts.max_connections))
        self._log_filter = RateLimitFilter()

    # -- URLs -----------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        h = self.options.host
        if h in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return f"[{h}]" if ":" in h else h

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATHS[0]

    @property
    def discovery_url(self) -> str:
        return self.base_url + DISCOVERY_PATH

    @property
    def websocket_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self._url_host}:{self.port}/WebSocket"

    @property
    def websocket_urls(self) -> list[str]:
        """The WebSocket URL of every endpoint (index 0 is :attr:`websocket_url`)."""
        scheme = "wss" if self.tls else "ws"
        return [f"{scheme}://{self._url_host}:{p}/WebSocket" for p in self.ports]

    @property
    def faults_url(self) -> str:
        return self.base_url + FAULTS_PATH

    def describe(self) -> dict[str, Any]:
        """The start-up line: what this simulator serves, as one JSON object."""
        return {
            "simulator": "ertcloud",
            "host": self._url_host.strip("[]"),
            "port": self.port,
            "tls": self.tls,
            "token_url": self.token_url,
            "token_url_beta1": self.base_url + TOKEN_PATHS[1],
            "token_url_v2": self.base_url + TOKEN_PATHS[2],
            "discovery_url": self.discovery_url,
            "websocket_url": self.websocket_url,
            "websocket_urls": self.websocket_urls,
            "ports": self.ports,
            "faults_url": self.faults_url,
            "users": sorted(self.gateway.users),
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        opts = self.options
        if opts.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
            self.ssl_context = ctx
            self.cert_file = opts.tls_cert
        elif opts.tls_self_signed:
            self._tmp = tempfile.TemporaryDirectory(prefix="ertcloud-sim-")
            self.ssl_context, self.cert_file = self_signed_context(Path(self._tmp.name), opts.host)
        if opts.endpoints < 1:
            raise ConfigError("endpoints must be at least 1")
        app = web.Application()
        for p in TOKEN_PATHS:
            app.router.add_post(p, self._token)
            app.router.add_post(REDIRECT_PREFIX + p, self._token)
        for p in (DISCOVERY_PATH, "/streaming/pricing/v1"):
            app.router.add_get(p, self._discovery)
            app.router.add_get(REDIRECT_PREFIX + p, self._discovery)
        app.router.add_get("/WebSocket", self._websocket)
        app.router.add_post("/getToken", self._get_token)
        app.router.add_get("/health", self._health)
        app.router.add_get(FAULTS_PATH, self._faults_get)
        app.router.add_post(FAULTS_PATH, self._faults_post)
        app.router.add_delete(FAULTS_PATH, self._faults_delete)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # aiohttp closes a connection that has not sent a whole request head within
            # keepalive_timeout of connecting (or of its last response): slowloris
            keepalive_timeout=opts.header_timeout,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard = ConnectionGuard(fd_headroom(opts.max_connections))
        for name in _GUARDED_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        self.ports = []
        for i in range(opts.endpoints):
            port = opts.port if i == 0 or opts.port == 0 else opts.port + i
            self.ports.append(await self._listen(i, port))
        self.port = self.ports[0]
        self._ticker = asyncio.create_task(self.streaming.run(), name="ertcloud-sim-ticker")
        for name, params in opts.faults:
            await self.faults.apply(name, **params)
        if opts.scenario:
            self._scenario = asyncio.create_task(
                run_scenario(self.faults, opts.scenario, loop_every=opts.scenario_loop),
                name="ertcloud-sim-scenario",
            )

    async def _listen(self, index: int, port: int) -> int:
        assert self._runner is not None
        site = GuardedSite(
            self._runner,
            self.options.host,
            port,
            self.guard,
            ssl_context=self.ssl_context,
            handshake_timeout=self.options.header_timeout,
        )
        await site.start()
        self._sites[index] = site
        return site.port

    # -- endpoints (fault hooks) ------------------------------------------------------------

    async def close_endpoint(self, index: int) -> None:
        """Make endpoint ``index`` refuse connections and drop the ones it has. Other
        endpoints stop listening; endpoint 0 also serves the gateway, so it keeps listening
        and refuses the WebSocket handshake (HTTP 503) instead."""
        if index == 0:
            self._refusing.add(0)
        else:
            site = self._sites.pop(index, None)
            if site is not None:
                await site.stop()
        await self.drop_connections(index)

    async def open_endpoint(self, index: int) -> None:
        """Accept connections on endpoint ``index`` again (same port)."""
        self._refusing.discard(index)
        if index not in self._sites and 0 <= index < len(self.ports):
            await self._listen(index, self.ports[index])

    async def drop_connections(self, endpoint: int | None = None) -> None:
        """Drop the WebSocket connections of one endpoint, or all."""
        for cs in list(self.streaming.sessions):
            if endpoint is None or self._endpoint_of.get(cs) == endpoint:
                await cs.drop()

    def stall_connections(self, endpoint: int | None = None) -> None:
        """Black-hole the connections open now (of one endpoint, or all): what they send is
        still read, nothing is sent back, as over a half-open TCP connection."""
        for cs in self.streaming.sessions:
            if endpoint is None or self._endpoint_of.get(cs) == endpoint:
                self._stalled.add(cs)

    def endpoint_connections(self) -> dict[int, int]:
        """How many live connections each endpoint has."""
        out = dict.fromkeys(range(len(self.ports)), 0)
        for cs in self.streaming.sessions:
            idx = self._endpoint_of.get(cs)
            if idx is not None and not cs.closed:
                out[idx] += 1
        return out

    async def drain_conflation(self) -> None:
        for cs, (conf, raw) in list(self._conflators.items()):
            frame = conf.drain()
            if frame is not None and not cs.closed:
                try:
                    await raw(frame)
                except (ConnectionError, RuntimeError):
                    pass

    def _kick_user(self, user: str) -> None:
        """Exclusive sign-on took over ``user``'s platform session: close the Login of
        every connection still logged in with the old one."""
        for cs in list(self.streaming.sessions):
            if cs.user == user and cs.login_id is not None and cs.token_expires_at is not None:
                cs.close_login(
                    "Login stream was closed: another session took exclusive sign-on control.",
                    "NotEntitled",
                )

    async def stop(self) -> None:
        if self._scenario is not None:
            self._scenario.cancel()
            try:
                await self._scenario
            except (asyncio.CancelledError, Exception):
                pass
            self._scenario = None
        await self.faults.close()
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        await self.streaming.drop_all()
        await self.streaming.cancel_later()
        for name in _GUARDED_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._sites.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- handlers -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        if self.faults.gateway_delay:
            await asyncio.sleep(self.faults.gateway_delay)
        ctype = request.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" not in ctype and "multipart/form-data" not in ctype:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Expected a form-encoded body."},
                status=400,
            )
        form = await self._form(request)
        if form is None:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Request body not received."},
                status=408,
            )
        moved = self._fault_redirect(request)
        if moved is not None:
            return moved
        path = request.path.removeprefix(REDIRECT_PREFIX)
        status, body = self.gateway.token(path, form, request.headers.get("Authorization"))
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def _form(self, request: web.Request) -> dict[str, str] | None:
        """The url-encoded body, or None if it did not arrive within the header timeout
        (a slow body holds a connection as long as a slow head would)."""
        try:
            async with _timeout(self.options.header_timeout):
                return {k: str(v) for k, v in (await request.post()).items()}
        except asyncio.TimeoutError:
            return None

    def _fault_redirect(self, request: web.Request) -> web.Response | None:
        if not self.faults.redirecting or request.path.startswith(REDIRECT_PREFIX):
            return None
        target = REDIRECT_PREFIX + request.path
        if request.query_string:
            target += "?" + request.query_string
        return web.Response(status=307, headers={"Location": target})

    async def _discovery(self, request: web.Request) -> web.Response:
        if self.faults.gateway_delay:
            await asyncio.sleep(self.faults.gateway_delay)
        moved = self._fault_redirect(request)
        if moved is not None:
            return moved
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        info, why = self.gateway.check(token)
        if info is None:
            return web.json_response(
                {"error": {"id": "sim", "code": "401", "message": why, "status": "Unauthorized"}},
                status=401,
            )
        transport = request.query.get("transport", "websocket")
        return web.json_response({"services": self.services(transport)})

    def services(self, transport: str = "websocket") -> list[dict[str, Any]]:
        """The discovery document: per region, one two-zone endpoint and single-zone ones.

        One endpoint: every entry points at it. Two: endpoint 0 spans both zones, the
        single-zone entries are endpoints 0 and 1. Three or more: endpoint 0 spans both
        zones, the others each pin one zone."""
        if transport != "websocket":
            return []
        host = self._url_host.strip("[]")
        n = len(self.ports) or 1
        singles = list(range(1, n)) if n >= 3 else list(range(n)) if n == 2 else [0, 0]
        out: list[dict[str, Any]] = []
        for region in REGIONS:
            entries = [(0, [f"{region}a", f"{region}b"])]
            entries += [(i, [f"{region}{'ab'[j % 2]}"]) for j, i in enumerate(singles)]
            for idx, zones in entries:
                if not self.faults.listed(idx):
                    continue
                out.append(
                    {
                        "port": self.ports[idx] if self.ports else self.port,
                        "location": zones,
                        "transport": "websocket",
                        "provider": "aws",
                        "endpoint": host,
                        "dataFormat": ["tr_json2"],
                    }
                )
        return out

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "connections": len(self.streaming.sessions),
                "endpoints": self.endpoint_connections(),
                "faults": sorted(self.faults.active),
                "subscribed_items": len(self.streaming.subs),
                "slow_consumers": {
                    "congested": sum(cs.congested for cs in self.streaming.sessions),
                    "conflated_updates": self.streaming.conflated,
                    "dropped_updates": self.streaming.dropped_updates,
                    "disconnected": self.streaming.slow_disconnects,
                },
                "http": {"evicted": self.guard.evicted, "refused": self.guard.refused},
            }
        )

    async def _get_token(self, request: web.Request) -> web.Response:
        """A deployed ADS's authentication: ``{"success": true}`` and the token in a
        ``Set-Cookie: AuthToken=...`` for cookie auto-login on the WebSocket."""
        form = await self._form(request)
        if form is None:
            return web.json_response({"success": False}, status=408)
        token = self.gateway.cookie_token(
            str(form.get("username", "")), str(form.get("password", ""))
        )
        resp = web.json_response({"success": token is not None})
        if token is not None:
            resp.set_cookie("AuthToken", token, httponly=True)
        return resp

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        offered = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        if not any(p in SUBPROTOCOLS for p in offered):
            return web.Response(
                status=400, text="Unsupported WebSocket sub-protocol: offer tr_json2\n"
            )
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if isinstance(sockname, tuple) else self.port
        index = self.ports.index(port) if port in self.ports else 0
        if index in self._refusing:
            return web.Response(status=503, text="Endpoint unavailable (simulated fault)\n")
        # aiohttp refuses a frame over max_msg_size before buffering it, and stops inflating
        # a compressed one at that size: nothing bigger than MaxMsgSize is ever held.
        ws = web.WebSocketResponse(
            protocols=SUBPROTOCOLS,
            autoping=True,
            heartbeat=None,
            max_msg_size=self.streaming.config.max_msg_size + 1,
            compress=True,
        )
        await ws.prepare(request)
        conn: list[ClientSession] = []

        async def raw(data: bytes) -> None:
            parts = self.faults.fragments
            transport = request.transport
            if parts > 1 and isinstance(transport, asyncio.WriteTransport):
                transport.write(fragmented(data, parts))
                # written past aiohttp's writer, so wait for room here (there is no event
                # for a transport's buffer): this connection's writer is what waits
                while transport.get_write_buffer_size() > _FRAGMENT_HIGH_WATER:
                    if transport.is_closing():
                        raise ConnectionResetError("connection closed")
                    await asyncio.sleep(0.01)
                return
            await ws.send_frame(data, WSMsgType.TEXT)

        async def send(data: bytes) -> None:
            if conn and conn[0] in self._stalled:
                return
            if self.faults.conflate_interval is not None and conn:
                c = self._conflator(conn[0], raw)
                out = c.feed(data)
                if out is not None:
                    await raw(out)
                return
            await raw(data)

        async def close() -> None:
            # A client that does not read would hold a graceful close (the close frame
            # waits for room in the socket) forever.
            try:
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                if request.transport is not None:
                    request.transport.abort()

        cs = self.streaming.connect(send, close, request.remote or "?")
        cs.transport = request.transport  # bench mode writes prebuilt frames straight to it
        conn.append(cs)
        self._endpoint_of[cs] = index
        cookie = request.cookies.get("AuthToken")
        if cookie:
            # Cookie auto-login (deployed ADS): the server logs in on the client's behalf
            # and answers on login stream -1; no Login message comes from the client.
            elements = {
                "ApplicationId": request.cookies.get("applicationId", "256"),
                "Position": request.cookies.get("AuthPosition")
                or request.cookies.get("position")
                or (request.remote or ""),
                "AuthenticationToken": cookie,
            }
            cs.handle(
                Request(id=-1, domain="Login", key=Key(name_type="Cookie", elements=elements))
            )
            await cs.flush()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    await cs.receive(msg.data)
                    if cs.closed:
                        break
                    await cs.wait_room()
                elif msg.type is WSMsgType.ERROR:
                    log.info("%s: %s: dropping", cs.peer, msg.data)
                    break
        finally:
            cs.closed = True
            self.streaming.forget(cs)
            self._endpoint_of.pop(cs, None)
            self._conflators.pop(cs, None)
            self._stalled.discard(cs)
        return ws

    def _conflator(self, cs: ClientSession, raw: Any) -> Conflator:
        found = self._conflators.get(cs)
        if found is None:

            def image_of(name: str) -> dict[str, Any] | None:
                inst = self.market.get(name)
                return inst.image if inst is not None else None

            def view_of(sid: int) -> frozenset[str] | None:
                s = cs.streams.get(sid)
                return s.view if s is not None else None

            found = (Conflator(image_of, view_of), raw)
            self._conflators[cs] = found
        return found[0]

    # -- the fault API ------------------------------------------------------------------------

    @staticmethod
    def _loopback(request: web.Request) -> bool:
        try:
            return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
        except ValueError:
            return False

    def _fault_api_refusal(self, request: web.Request) -> web.Response | None:
        """Why a fault API request is refused (403), or None. Only loopback clients, only
        this host by name (no DNS rebinding) and no other site's page (Origin)."""
        if not self._loopback(request):
            return _fault_error("loopback only", 403)
        host = (request.host or "").rsplit(":", 1)[0].strip("[]").lower()
        if host not in self._own_hosts():
            return _fault_error(f"Host {request.host!r} is not this simulator", 403)
        origin = request.headers.get("Origin")
        if origin is not None:
            try:
                o = URL(origin)
                same = o.host is not None and f"{o.host}:{o.port}" == (
                    f"{request.url.host}:{request.url.port}"
                )
            except ValueError:
                same = False
            if not same:
                return _fault_error(f"cross-origin request from {origin!r} refused", 403)
        return None

    def _own_hosts(self) -> set[str]:
        return {
            "localhost",
            "127.0.0.1",
            "::1",
            self._url_host.strip("[]").lower(),
            self.options.host.lower(),
        }

    async def _faults_get(self, request: web.Request) -> web.Response:
        refused = self._fault_api_refusal(request)
        if refused is not None:
            return refused
        return web.json_response(self.faults.describe())

    async def _faults_post(self, request: web.Request) -> web.Response:
        """Switch faults: the body is one JSON object or an array of them, each
        ``{"fault": NAME, "duration": SECONDS, PARAM: VALUE...}`` (``duration`` optional)
        or ``{"clear": NAME}``. ``Content-Type: application/json`` only."""
        refused = self._fault_api_refusal(request)
        if refused is not None:
            return refused
        if request.content_type != "application/json":
            return _fault_error("expected Content-Type: application/json")
        try:
            async with _timeout(self.options.header_timeout):
                body = await request.json()
        except (ValueError, RecursionError):
            return _fault_error("body is not valid JSON")
        except asyncio.TimeoutError:
            return _fault_error("body not received in time", 408)
        items = body if isinstance(body, list) else [body]
        for n, item in enumerate(items, 1):
            problem = _fault_item_problem(item)
            if problem:
                return _fault_error(f"item {n}: {problem}")
        for item in items:
            item = dict(item)
            if "clear" in item:
                await self.faults.clear(str(item["clear"]))
                continue
            name = str(item.pop("fault"))
            duration = item.pop("duration", None)
            try:
                await self.faults.apply(name, duration, **item)
            except TypeError:
                return _fault_error(
                    f"fault {name!r}: unknown parameter(s) {', '.join(sorted(item))}"
                )
            except (ErtcloudError, ValueError) as exc:
                return _fault_error(f"fault {name!r}: {_one_line(exc)}")
        return web.json_response(self.faults.describe())

    async def _faults_delete(self, request: web.Request) -> web.Response:
        refused = self._fault_api_refusal(request)
        if refused is not None:
            return refused
        await self.faults.clear()
        return web.json_response(self.faults.describe())


def _fault_error(text: str, status: int = 400) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fault_item_problem(item: object) -> str:
    """What is wrong with one item of a ``POST /_sim/faults`` body ("" if nothing)."""
    if not isinstance(item, dict):
        return 'expected an object {"fault": NAME, ...} or {"clear": NAME}'
    if ("fault" in item) == ("clear" in item):
        return "needs exactly one of 'fault' or 'clear'"
    name = item.get("fault", item.get("clear"))
    if not isinstance(name, str) or name not in FAULTS:
        return f"unknown fault {name!r} (GET {FAULTS_PATH} lists them)"
    if "clear" in item and len(item) > 1:
        return "'clear' takes no other keys"
    duration = item.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0
    ):
        return "'duration' must be a number of seconds >= 0"
    return ""


def _timeout(seconds: float) -> Any:
    """``asyncio.timeout`` where there is one (3.11+), else no limit."""
    return asyncio.timeout(seconds) if hasattr(asyncio, "timeout") else contextlib.nullcontext()


def fragmented(payload: bytes, parts: int) -> bytes:
    """A text message as ``parts`` unmasked WebSocket frames: a text frame without FIN,
    continuations, and a final continuation with FIN (RFC 6455 §5.4)."""
    size = max(1, -(-len(payload) // parts))
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    out = bytearray()
    for n, chunk in enumerate(chunks):
        opcode = 0x1 if n == 0 else 0x0
        fin = 0x80 if n == len(chunks) - 1 else 0
        length = len(chunk)
        if length < 126:
            out += bytes((fin | opcode, length))
        elif length < 1 << 16:
            out += bytes((fin | opcode, 126)) + length.to_bytes(2, "big")
        else:
            out += bytes((fin | opcode, 127)) + length.to_bytes(8, "big")
        out += chunk
    return bytes(out)


def self_signed_context(folder: Path, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """Make a self-signed certificate for localhost/127.0.0.1 (and ``host``); returns the
    server context and the certificate file (for clients to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ertcloud simulator")])
    alt: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) != "127.0.0.1":
            alt.append(x509.IPAddress(ip))
    except ValueError:
        alt.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "sim-cert.pem"
    key_file = folder / "sim-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx, str(cert_file)


def startup_line(sim: SimServer) -> str:
    return json.dumps(sim.describe(), separators=(",", ":"))
