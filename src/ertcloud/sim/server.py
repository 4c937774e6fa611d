"""The simulator process: gateway, discovery and streaming server on one aiohttp port.

Routes:

* ``POST /auth/oauth2/v1/token``, ``/auth/oauth2/beta1/token``, ``/auth/oauth2/v2/token``
* ``GET /streaming/pricing/v1/`` (Bearer token required)
* ``GET /WebSocket`` (sub-protocol ``tr_json2`` or ``rssl.json.v2``)
* ``GET /health``
"""

from __future__ import annotations

import asyncio
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

from .ads import ServerConfig, StreamingServer
from .gateway import Gateway
from .market import Market

__all__ = ["SUBPROTOCOLS", "SimOptions", "SimServer", "self_signed_context"]

log = logging.getLogger("ertcloud.sim")

SUBPROTOCOLS = ("tr_json2", "rssl.json.v2")
TOKEN_PATHS = ("/auth/oauth2/v1/token", "/auth/oauth2/beta1/token", "/auth/oauth2/v2/token")
DISCOVERY_PATH = "/streaming/pricing/v1/"


@dataclass
class SimOptions:
    """Everything ``ertcloud sim`` can be told."""

    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=lambda: {"demo": "demo"})
    clients: dict[str, str] = field(default_factory=lambda: {"demo-client": "demo-secret"})
    token_ttl: int = 300
    refresh_ttl: int = 900
    seed: int = 42
    extra_rics: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_self_signed: bool = False
    server: ServerConfig = field(default_factory=ServerConfig)


class SimServer:
    """The whole simulated service in this process. ``async with SimServer(opts) as sim``."""

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = opts = options or SimOptions()
        self.gateway = Gateway(
            users=dict(opts.users),
            clients=dict(opts.clients),
            token_ttl=opts.token_ttl,
            refresh_ttl=opts.refresh_ttl,
        )
        self.market = Market(opts.seed, extra_rics=opts.extra_rics)
        self.streaming = StreamingServer(self.market, self.gateway, opts.server)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.ssl_context: ssl.SSLContext | None = None
        self.cert_file: str | None = None

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
        app = web.Application()
        for p in TOKEN_PATHS:
            app.router.add_post(p, self._token)
        app.router.add_get(DISCOVERY_PATH, self._discovery)
        app.router.add_get("/streaming/pricing/v1", self._discovery)
        app.router.add_get("/WebSocket", self._websocket)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, opts.host, opts.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ticker = asyncio.create_task(self.streaming.run(), name="ertcloud-sim-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        await self.streaming.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- handlers -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        ctype = request.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" not in ctype and "multipart/form-data" not in ctype:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Expected a form-encoded body."},
                status=400,
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        status, body = self.gateway.token(request.path, form, request.headers.get("Authorization"))
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def _discovery(self, request: web.Request) -> web.Response:
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
        """The discovery document: this simulator's endpoint(s), by region and zone."""
        if transport != "websocket":
            return []
        host = self._url_host.strip("[]")
        zones = [
            ["us-east-1a", "us-east-1b"],
            ["us-east-1a"],
            ["us-east-1b"],
            ["eu-west-1a", "eu-west-1b"],
            ["eu-west-1a"],
            ["eu-west-1b"],
            ["ap-southeast-1a", "ap-southeast-1b"],
        ]
        return [
            {
                "port": self.port,
                "location": z,
                "transport": "websocket",
                "provider": "aws",
                "endpoint": host,
                "dataFormat": ["tr_json2"],
            }
            for z in zones
        ]

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "connections": len(self.streaming.sessions),
                "subscribed_items": len(self.streaming.subs),
            }
        )

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
        ws = web.WebSocketResponse(
            protocols=SUBPROTOCOLS, autoping=True, heartbeat=None, max_msg_size=0, compress=True
        )
        await ws.prepare(request)

        async def send(data: bytes) -> None:
            await ws.send_frame(data, WSMsgType.TEXT)

        async def close() -> None:
            await ws.close()

        cs = self.streaming.connect(send, close, request.remote or "?")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    await cs.receive(msg.data)
                    if cs.closed:
                        break
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            cs.closed = True
            self.streaming.forget(cs)
        return ws


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
