"""``ertcloud market-price``: the vendor quick start's market_price program, done properly.

Same options, defaults and output as the examples (``SENT:``/``RECEIVED:`` blocks of
pretty-printed JSON, the authentication lines, "WebSocket successfully connected!"), with
deliberate differences: secrets are redacted unless ``--show-secrets``; TLS certificates
are verified (``--ca-file``, ``--insecure``); several RICs open several streams; the token
is renewed and the Login re-sent with ``Refresh: false`` before it expires; a lost
connection is recovered; Ctrl+C closes the streams and the login and exits 0.

The deployed-ADS examples' command line (--hostname H --port P --app-id A --user U
--position P, in their spellings too) logs in by user name with no token, on ws://: see
--user-login.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..auth.grants import DEFAULT_SCOPE, ClientCredentials, PasswordCredentials
from ..config import DEFAULT_DISCOVERY_URL, CommandLineSecret, resolve_credentials
from ..exceptions import AuthenticationError, ConfigError, DiscoveryError
from . import interrupt
from .interrupt import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOKEN_TIMEOUT
from .options import add_option, description
from .output import Printer
from .proxy_option import add_proxy_option
from .shared_options import DEFAULT_AUTH_URL, add_shared, add_timeouts

if TYPE_CHECKING:
    from ..auth.client import TokenClient
    from ..auth.manager import TokenManager
    from ..client.session import Session
    from ..client.standby import HotStandby
    from ..protocol.login import LoginParams

__all__ = [
    "add_parser",
    "check_required",
    "default_position",
    "fill_credentials",
    "grant_credentials",
    "install_signals",
    "option_value",
    "run",
    "service_name",
    "token_url_of",
    "websocket_endpoints",
    "websocket_url_of",
]

BRAND = "LSEG Delivery Platform"
#: ``--post``: the posting example's period and the Update it contributes
POST_INTERVAL = 3.0
POST_FIELDS = {"BID": 45.55, "BIDSIZE": 18, "ASK": 45.57, "ASKSIZE": 19}
DEFAULT_AUTH_URL_V2 = "https://api.refinitiv.com/auth/oauth2/v2/token"
V2_SCOPE = "trapi.streaming.pricing.read"


#: what ``--ric`` means on each command that takes the market-price options
_RIC_HELP = {
    "market-price": "item to request; repeat or comma-separate (default TRI.N)",
    "record": "item to record, like the RIC arguments; repeat or comma-separate",
    "board": "item to show, like the RIC arguments; repeat or comma-separate",
}
_STANDBY_HELP = {
    "market-price": "two sessions on two endpoints with the same items; as in the vendor "
    "example, each session's frames are printed (labelled 'on session1'/'on session2'), so "
    "every update appears once per session",
    "record": "connect to two endpoints (--standby-hostname, or a pair from service "
    "discovery): the second is used when the first is lost; with --cluster, a session on "
    "each, every update published once",
    "board": "connect to two endpoints (--standby-hostname, or a pair from service "
    "discovery): the second is used when the first is lost",
}


class _DefaultService(str):
    """``--service`` not given: a login by user name then names no service, as the
    deployed-ADS examples, so the server's default service answers."""


def add_options(p: argparse.ArgumentParser, command: str = "market-price") -> None:
    """The vendor examples' options (kebab-case; their spellings, like ``--auth_url``, are
    hidden aliases), plus ours. ``command`` picks the help text (``market-price``,
    ``record`` or ``board``)."""
    g = p.add_argument_group("connection (the vendor examples' options)")
    add_shared(
        g, "hostname", "port", "url", "user", "password",
        hostname={"help": "streaming host (wss://HOST:PORT/WebSocket; see --tls)"},
        url={
            "help": "WebSocket URL, e.g. wss://host:443/WebSocket, instead of --hostname/--port "
            "(or ERTCLOUD_URL)"
        },
        user={"default": ""},
        password={"default": ""},
    )  # fmt: skip
    if command != "board":
        add_option(
            g,
            "--new-password",
            "--newPassword",
            "--new_password",
            dest="new_password",
            default=None,
            action=CommandLineSecret,
            help="change the password first (checked locally against the gateway's "
            "policy: 30+ characters of letters, digits and ~!@#$%%^&*()-_=+[]{}|;:,.<>/? "
            "mixing 3 of upper case, lower case, digits, symbols)",
        )
    else:
        p.set_defaults(new_password=None)
    add_shared(
        g, "clientid", "app_id", "position", "auth_url",
        clientid={
            "default": "",
            "help": "client id (app key; or ERTCLOUD_CLIENT_ID); with --auth-hostname it "
            "defaults to --user, as in the 2018 quick start",
        },
    )  # fmt: skip
    add_option(
        g, "--auth-hostname", "--auth_hostname", dest="auth_hostname", default=None,
        help="token host, instead of --auth-url (with --auth-port and --auth-path)",
    )  # fmt: skip
    add_option(
        g, "--auth-port", "--auth_port", dest="auth_port", default="443",
        help="port of --auth-hostname (default 443)",
    )  # fmt: skip
    add_option(
        g, "--auth-path", "--auth_path", dest="auth_path", default="auth/oauth2/v1/token",
        help="token path with --auth-hostname (default auth/oauth2/v1/token; "
        "2018: auth/oauth2/beta1/token)",
    )  # fmt: skip
    add_shared(g, "scope")
    if command == "market-price":
        add_option(
            g, "--user-login", dest="user_login", action="store_true",
            help="log in by user name with no token, as to a deployed ADS (the vendor's "
            "market_price.py). Implied when --user is given with --hostname or --url and "
            "no password, token URL (--auth-url, --auth-hostname) or v2 credential, from "
            "the command line, the environment or the credentials file; the URL is then "
            "ws:// unless --tls on, and --position defaults to this host's IP",
        )  # fmt: skip
    i = p.add_argument_group("items")
    add_shared(
        i, "ric", "service", "fields",
        ric={"help": _RIC_HELP[command]},
        service={
            "default": _DefaultService("ELEKTRON_DD"),
            "help": "service name or id (default ELEKTRON_DD; by user name, the server's "
            "default)",
        },
        fields={
            "dest": "view",
            "help": "comma-separated field names to request (a view; --view works too)",
        },
    )  # fmt: skip
    if command == "market-price":
        add_option(
            i, "--snapshot", "--no-streaming", "--no_streaming", dest="snapshot",
            action="store_true", help="request snapshots (Streaming: false)",
        )  # fmt: skip
    d = p.add_argument_group("service discovery, hot standby and v2 authentication")
    add_shared(
        d, "discovery_url", "region", "hotstandby",
        discovery_url={
            "help": "service discovery URL, used when neither --hostname nor --url is given "
            f"(default {DEFAULT_DISCOVERY_URL}; with --auth-hostname, that host and "
            "--auth-port, as the 2018 quick start)"
        },
        hotstandby={"help": _STANDBY_HELP[command]},
    )  # fmt: skip
    add_option(
        d, "--standby-hostname", "--standbyhostname", dest="standbyhostname", default=None,
        help="second streaming host (hot standby)",
    )  # fmt: skip
    add_option(
        d, "--standby-port", "--standbyport", dest="standbyport", default="443",
        help="port of --standby-hostname (default 443)",
    )  # fmt: skip
    add_option(
        d, "--client-secret", "--clientsecret", dest="clientsecret", default=None,
        action=CommandLineSecret,
        help="v2 client secret (client_credentials grant; prefer ERTCLOUD_CLIENT_SECRET)",
    )  # fmt: skip
    add_option(
        d, "--jwk-file", "--jwkFile", dest="jwk_file", default=None,
        help="v2 private-key JWK file (JWT assertion)",
    )  # fmt: skip
    d.add_argument(
        "--aud", default=None, help="JWT audience (default the CIAM token URL of the examples)"
    )
    o = p.add_argument_group("ertcloud options")
    if command == "market-price":
        add_shared(o, "show_secrets")
    add_shared(
        o, "credentials", "ca_file", "insecure",
        ca_file={"help": "trust this CA bundle (PEM) for HTTPS/WSS"},
    )  # fmt: skip
    o.add_argument(
        "--tls",
        choices=("auto", "on", "off"),
        default="auto",
        help="on: wss://, off: ws:// to the streaming host; auto (default): wss:// unless "
        "the token URL is http:// (a local simulator) or the login is by user name (a "
        "deployed ADS). The port is --port (default 443) whatever the choice",
    )
    add_timeouts(o)
    add_proxy_option(o)
    if command != "board":
        add_shared(o, "duration")
    o.add_argument("--no-reconnect", action="store_true", help="exit instead of reconnecting")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "market-price",
        help="the vendor quick start's market_price flow (authenticate, connect, stream)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p)
    g = p.add_argument_group("posting (the vendor's market_price_posting example)")
    g.add_argument(
        "--post",
        action="store_true",
        help="once the first item's stream is open, post an Update to it on that stream "
        "every --post-interval seconds (PostID 1, 2, ...; Ack asked for; PostUserInfo: "
        "--position and this process id), as the posting example does",
    )
    g.add_argument(
        "--post-interval",
        type=float,
        default=POST_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between posts (default {POST_INTERVAL:g})",
    )
    p.set_defaults(func=lambda a: interrupt.run(run(a)))


def default_position() -> str:
    """The Login Position of this host (``<ip>/<hostname>``)."""
    from ..client.api import default_position as position

    return position()


def ssl_context(args: argparse.Namespace, *urls: str) -> ssl.SSLContext | bool | None:
    """The TLS context of the options, made once per command (loading the CA bundle takes
    tens of milliseconds), and not at all when ``urls`` are given and none uses TLS; a
    ``--ca-file`` is read all the same, so that one that cannot be is an error at once."""
    tls = not urls or any(u.startswith(("https:", "wss:")) for u in urls)
    if args.insecure:
        return False if tls else None
    made = getattr(args, "_ssl_context", None)
    if made is None:
        if not tls and not args.ca_file:
            return None
        try:
            made = args._ssl_context = ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as exc:
            msg = f"cannot load CA file {args.ca_file}: {exc.strerror or exc}"
            raise ConfigError(msg) from None
    return made if tls else None


def token_url_for(args: argparse.Namespace, v2: bool) -> str:
    """The token endpoint of a login with a client secret or key (``v2``) or a password."""
    if v2 and not args.auth_url and not args.auth_hostname:
        return DEFAULT_AUTH_URL_V2
    return token_url_of(args)


def first_urls(args: argparse.Namespace, auth_url: str | None) -> list[str]:
    """The URLs a command connects to, which decide whether it needs TLS: the token endpoint
    (if any) and the WebSocket (``--url``, ``--hostname``); none where service discovery
    chooses the WebSocket (its endpoints may use TLS whatever discovery's own URL does)."""
    if not (args.hostname or option_value(args, "url")):
        return []
    first = websocket_url_of(args, auth_url)
    return [auth_url, first] if auth_url else [first]


def _rics(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for r in args.ric or ["TRI.N"]:
        out.extend(x.strip() for x in r.split(",") if x.strip())
    return out


def token_url_of(args: argparse.Namespace) -> str:
    """The token endpoint the options name: ``--auth_url``, ``--auth_hostname``, or LSEG's."""
    if args.auth_url:
        return str(args.auth_url)
    if args.auth_hostname:
        return f"https://{args.auth_hostname}:{args.auth_port}/{args.auth_path.lstrip('/')}"
    return DEFAULT_AUTH_URL


def _use_tls(args: argparse.Namespace, auth_url: str | None) -> bool:
    """``--tls``; ``auto`` is wss:// unless the token URL is http:// or there is none (a
    login by user name, to a deployed ADS's ws://)."""
    if args.tls != "auto":
        return bool(args.tls == "on")
    return auth_url is not None and not auth_url.startswith("http://")


def websocket_url_of(args: argparse.Namespace, auth_url: str | None) -> str:
    """The WebSocket URL: ``--url``, or ``--hostname``/``--port`` (ws or wss, see ``--tls``)."""
    if option_value(args, "url"):
        return str(args.url)
    tls = _use_tls(args, auth_url)
    return f"{'wss' if tls else 'ws'}://{args.hostname}:{args.port}/WebSocket"


def option_value(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    """Options added after the first release (``demo`` builds its own namespace)."""
    return getattr(args, name, default)


def fill_credentials(args: argparse.Namespace) -> None:
    """Missing credentials from the environment or the credentials file."""
    creds = resolve_credentials(
        user=args.user or None,
        password=args.password or None,
        client_id=args.clientid or None,
        client_secret=option_value(args, "clientsecret"),
        file=option_value(args, "credentials"),
    )
    args.user, args.clientid = creds.user or "", creds.client_id or ""
    args.password = creds.password or ""
    if not args.clientid and option_value(args, "auth_hostname"):
        # The 2018 quick start has no client id: it authenticates as the user.
        args.clientid = args.user
    if hasattr(args, "clientsecret") and not (args.user and args.password):
        # A secret from the environment or file means v2 only without a v1 user/password.
        args.clientsecret = creds.client_secret


def user_login(args: argparse.Namespace) -> bool:
    """Log in by user name, with no token (deployed ADS)? ``--user-login``, or what the
    vendor's ADS examples are given: ``--user`` and a host, and no password, token URL or
    v2 credential (after the environment and the credentials file filled them in)."""
    host = args.hostname or option_value(args, "url")
    if option_value(args, "user_login"):
        if not args.user:
            raise ConfigError("--user-login needs --user (the user name to log in as)")
        if not host:
            raise ConfigError("--user-login needs --hostname or --url (no service discovery)")
        return True
    return bool(
        args.user
        and not args.password
        and host
        and not (args.auth_url or option_value(args, "auth_hostname"))
        and not (option_value(args, "clientsecret") or option_value(args, "jwk_file"))
    )


def _ads_position() -> str:
    """This host's IP, the deployed-ADS examples' default Position (127.0.0.1 without one)."""
    import socket

    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def check_required(args: argparse.Namespace, v2: bool) -> None:
    """Refuse (ConfigError) a password or client-credential flow missing a required option."""
    if v2:
        if option_value(args, "jwk_file") and not args.clientid:
            raise ConfigError("clientid and client JWK are required options")
        if not args.clientid:
            raise ConfigError("clientid and clientsecret are required options")
        return
    if args.user and args.clientid and args.password:
        return
    if (
        args.hostname
        or option_value(args, "url")
        or option_value(args, "discovery_url")
        or option_value(args, "hotstandby")
    ):
        raise ConfigError("user, clientid and password are required options")
    raise ConfigError("user, clientid, password, and hostname are required options")


def grant_credentials(
    args: argparse.Namespace, v2: bool
) -> PasswordCredentials | ClientCredentials:
    """The grant the options give: a password grant, or v2 client credentials (secret or JWT)."""
    if not v2:
        return PasswordCredentials(
            username=args.user,
            password=args.password,
            client_id=args.clientid,
            scope=args.scope,
            new_password=args.new_password,
        )
    scope = V2_SCOPE if args.scope == DEFAULT_SCOPE else args.scope
    jwk_file = option_value(args, "jwk_file")
    if jwk_file:
        from ..auth.jwt import DEFAULT_AUDIENCE, JwtAssertion, load_jwk

        assertion = JwtAssertion(
            load_jwk(jwk_file),
            args.clientid,
            audience=option_value(args, "aud") or DEFAULT_AUDIENCE,
        )
        return ClientCredentials(args.clientid, scope=scope, assertion=assertion)
    return ClientCredentials(args.clientid, option_value(args, "clientsecret") or "", scope=scope)


def _gateway_trace(
    pr: Printer | None, request: Callable[[Any], str], success: str, error: str
) -> Callable[[str, Any], None]:
    """A token or discovery client's trace, printed as the vendor examples print it."""

    def trace(event: str, detail: Any) -> None:
        if pr is None:
            return
        if event == "request":
            pr.line(request(detail))
        elif event == "success":
            pr.block(f"{BRAND} {success}. RECEIVED:", detail)
        elif event == "error":
            status, text = detail
            pr.line(f"{BRAND} {error}: {status} {text}")
        elif event == "redirect":
            pr.line(f"Perform URL redirect to  {detail}")

    return trace


def _auth_request_line(detail: tuple[str, str]) -> str:
    grant, url = detail
    if grant == "client_credentials":
        return f"Sending authentication request with client credentials to  {url} ..."
    how = "refresh token" if grant == "refresh_token" else "password"
    return f"Sending authentication request with {how} to {url} ..."


def _discovery_url(args: argparse.Namespace) -> str:
    """``--discovery-url``; with ``--auth-hostname`` and none, discovery on the token host
    as the 2018 service discovery quick start does (on ``--auth-port`` too)."""
    given = option_value(args, "discovery_url")
    if given:
        return str(given)
    host = option_value(args, "auth_hostname")
    if host:
        return f"https://{host}:{option_value(args, 'auth_port', '443')}/streaming/pricing/v1/"
    return DEFAULT_DISCOVERY_URL


async def websocket_endpoints(
    args: argparse.Namespace,
    tokens: TokenManager | None,
    pr: Printer | None,
    sslctx: Any,
    auth_url: str | None,
) -> list[str]:
    """WebSocket URLs, best first: ``--url`` or ``--hostname`` (and ``--standby-hostname``),
    else the endpoints service discovery lists for ``--region`` (traced on ``pr``)."""
    tls = _use_tls(args, auth_url)
    hotstandby = bool(option_value(args, "hotstandby"))
    if args.hostname or option_value(args, "url"):
        urls = [websocket_url_of(args, auth_url)]
        standby = option_value(args, "standbyhostname")
        if standby:
            port = option_value(args, "standbyport", "443")
            urls.append(f"{'wss' if tls else 'ws'}://{standby}:{port}/WebSocket")
        return urls
    from ..discovery import DiscoveryClient, select_endpoints

    assert tokens is not None  # a login by user name has a host
    url = _discovery_url(args)
    region = option_value(args, "region", "us-east-1")

    sd_trace = _gateway_trace(
        pr,
        lambda url: f"Sending {BRAND} service discovery request to {url}",
        "Service discovery succeeded",
        "Service discovery result failure",
    )
    client = DiscoveryClient(url, ssl_context=sslctx, trace=sd_trace)
    try:
        found = await interrupt.wait_for(
            client.discover(tokens),
            f"service discovery at {url}",
            option_value(args, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            option="--connect-timeout",
            error=DiscoveryError,
        )
    except DiscoveryError:
        if pr is not None:
            pr.line(f"Failed to retrieve endpoints from {BRAND} Service Discovery. Exiting...")
        raise
    finally:
        await client.close()
    chosen = select_endpoints(found, region, hotstandby=hotstandby)
    return [e.url(tls) for e in chosen]


async def run(
    args: argparse.Namespace, *, printer: Printer | None = None, banner: str | None = None
) -> int:
    """Run the flow; returns the exit code."""
    from ..client.session import Session
    from ..protocol.events import ConnectionDead, Event
    from ..protocol.login import LoginParams

    if option_value(args, "post_interval", POST_INTERVAL) <= 0:
        raise ConfigError("--post-interval must be positive")
    fill_credentials(args)
    by_user = user_login(args)
    v2 = not by_user and bool(option_value(args, "clientsecret") or option_value(args, "jwk_file"))
    if not by_user:
        check_required(args, v2)
    pr = printer or Printer(show_secrets=args.show_secrets)
    if banner:
        pr.line(banner)
    sslctx = ssl_context(args, *first_urls(args, None if by_user else token_url_for(args, v2)))
    rics = _rics(args)
    if by_user:
        position = args.position or _ads_position()
        client, tokens = None, None
        urls = await websocket_endpoints(args, None, pr, sslctx, None)
    else:
        position = args.position or default_position()
        client, tokens, urls = await _token_and_endpoints(args, v2, pr, sslctx)
    login = LoginParams(
        application_id=args.app_id, position=position, user=args.user if by_user else None
    )
    if option_value(args, "hotstandby"):
        if len(urls) < 2:
            if client is not None:
                await client.close()
            raise DiscoveryError(
                f"Expected 2 hosts but received: {len(urls)} (--hotstandby needs "
                "--standbyhostname with --hostname)"
            )
        return await _run_standby(args, urls, tokens, pr, sslctx, rics, login)
    ws_url: str | list[str] = urls if len(urls) > 1 else urls[0]

    def trace(kind: str, detail: Any) -> None:
        if kind == "connecting":
            pr.line(f"Connecting to WebSocket {detail} ...")
        elif kind == "connected":
            pr.line("WebSocket successfully connected!")
        elif kind == "sent":
            pr.sent(detail)
        elif kind == "received":
            pr.received(detail)
        elif kind == "closed":
            pr.line("WebSocket Closed")
        elif kind == "reconnecting":
            pr.line(f"Reconnecting in {detail:.1f} seconds ...")
        elif kind == "recovered":
            pr.line(f"WebSocket recovered on {detail}: every stream re-requested")

    def on_event(ev: Event) -> None:
        if isinstance(ev, ConnectionDead):
            pr.line("No ping from server, timing out")

    session = Session(
        ws_url,
        tokens=tokens,
        login=login,
        ssl_context=sslctx,
        reconnect=not args.no_reconnect,
        connect_timeout=option_value(args, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        trace=trace,
        on_event=on_event,
        dictionary="builtin",  # the vendor's example sends no Dictionary requests
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = install_signals(loop, stop.set)
    try:
        with interrupt.waiting(f"the connection to {session.urls[0]} and the Login"):
            await session.start()
        _subscribe(session, args, rics, by_user)
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(session.wait_closed())]
        if option_value(args, "post"):
            waiters.append(
                asyncio.ensure_future(_post_every(session, args.post_interval, position, pr))
            )
        done, pending = await asyncio.wait(
            waiters, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
        )
        for w in pending:
            w.cancel()
        for w in done:
            if w.exception() is not None:
                raise w.exception()  # type: ignore[misc]
        for s in session.streams:
            session.unsubscribe([s])
        ended_by_itself = session.closed_by_itself
        await session.close()
        if ended_by_itself:
            sys.stderr.write("ertcloud: error: the connection was lost (--no-reconnect)\n")
            return 1
        return 0
    finally:
        await session.close()
        if client is not None:
            await client.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _post_every(session: Session, interval: float, position: str, pr: Printer) -> None:
    """The posting example's loop: from ``interval`` after the first item's stream is open,
    an on-stream Post of :data:`POST_FIELDS` every ``interval`` seconds, for ever. Acks
    and Nacks are printed as received; a post that fails is said and the loop goes on."""
    import os

    from ..exceptions import ErtcloudError
    from ..protocol.messages import PostUserInfo

    # the items were requested as the examples do, with no Subscription to wait on
    while not session.streams or session.streams[0].refreshes == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stream = session.streams[0]
    who = PostUserInfo(address=position, user_id=os.getpid())
    while True:
        await asyncio.sleep(interval)
        try:
            await session.post(stream, dict(POST_FIELDS), user_info=who)
        except ErtcloudError as exc:
            pr.line(f"Post to {stream.name} failed: {exc}")


async def _token_and_endpoints(
    args: argparse.Namespace, v2: bool, pr: Printer, sslctx: Any
) -> tuple[TokenClient, TokenManager, list[str]]:
    """The first token (authentication lines traced on ``pr``), then the WebSocket URLs."""
    from ..auth.client import TokenClient
    from ..auth.manager import TokenManager

    auth_url = token_url_for(args, v2)
    auth_trace = _gateway_trace(
        pr, _auth_request_line, "Authentication succeeded", "authentication HTTP code"
    )
    client = TokenClient(auth_url, ssl_context=sslctx, trace=auth_trace)
    tokens = TokenManager(client, grant_credentials(args, v2))
    try:
        await first_token(tokens, auth_url, args)
        urls = await websocket_endpoints(args, tokens, pr, sslctx, auth_url)
    except BaseException:
        await client.close()
        raise
    return client, tokens, urls


async def _run_standby(
    args: argparse.Namespace,
    urls: list[str],
    tokens: TokenManager | None,
    pr: Printer,
    sslctx: Any,
    rics: list[str],
    login: LoginParams,
) -> int:
    """Hot standby: two sessions, printed as the vendor's service discovery example does
    (``SENT on session1:``...)."""
    from ..client.standby import HotStandby

    printers = {
        n: Printer(pr.out, show_secrets=pr.show_secrets, label=f" on {n}")
        for n in ("session1", "session2")
    }

    def trace(name: str, kind: str, detail: Any) -> None:
        p = printers[name]
        if kind == "connecting":
            p.line(f"Connecting to WebSocket {detail} for {name}...")
        elif kind == "connected":
            p.line(f"WebSocket successfully connected for {name}!")
        elif kind == "sent":
            p.sent(detail)
        elif kind == "received":
            p.received(detail)
        elif kind == "closed":
            p.line(f"WebSocket Closed for {name}")
        elif kind == "reconnecting":
            p.line(f"Reconnect to the endpoint for {name} after {detail:.1f} seconds... ")
        elif kind == "recovered":
            p.line(f"WebSocket recovered for {name} on {detail}: every stream re-requested")
        elif kind == "token":
            p.line(f"Refreshing the access token for {name}")

    standby = HotStandby(
        urls,
        tokens=tokens,
        login=login,
        ssl_context=sslctx,
        connect_timeout=option_value(args, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        trace=trace,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = install_signals(loop, stop.set)
    try:
        with interrupt.waiting(f"the connections to {' and '.join(urls[:2])} and the Logins"):
            await standby.start()
        _subscribe(standby, args, rics, login.user is not None)
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except asyncio.TimeoutError:
            pass
        for s in standby.sessions:
            if s is not None:
                for st in s.streams:
                    s.unsubscribe([st])
        return 0
    finally:
        await standby.close()
        if tokens is not None:
            await tokens.client.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


def _subscribe(
    target: Session | HotStandby, args: argparse.Namespace, rics: list[str], by_user: bool
) -> None:
    """The items of the command line, one request each as the vendor examples send them
    (by user name and with no ``--service``, naming no service, as the ADS examples)."""
    no_service = by_user and isinstance(args.service, _DefaultService)
    target.subscribe(
        rics,
        fields=[f.strip() for f in args.view.split(",")] if args.view else None,
        service=None if no_service else service_name(args.service),
        snapshot=args.snapshot,
        batch=False,
        queue=False,
        on_refresh=_noop,
    )


def _noop(_: object) -> None:
    return None


def service_name(s: str) -> str | int:
    """A ``--service`` value as the Key's Service: a name, or a number given in digits."""
    return int(s) if s.isdigit() else str(s)  # a plain str (not _DefaultService) to encode


async def first_token(tokens: TokenManager, url: str, args: argparse.Namespace) -> None:
    """Get the first token within ``--token-timeout`` (interruptible, announced)."""
    await interrupt.wait_for(
        tokens.get(),
        f"a token from {url}",
        option_value(args, "token_timeout", DEFAULT_TOKEN_TIMEOUT),
        option="--token-timeout",
        error=AuthenticationError,
    )


def install_signals(loop: asyncio.AbstractEventLoop, cb: Callable[[], None]) -> list[int]:
    """SIGINT and SIGTERM call ``cb`` once streaming; the signals it installed (none under
    :func:`interrupt.run`, which then dispatches them)."""
    if interrupt.on_stop(cb):
        return []
    done: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, cb)
            done.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    return done
