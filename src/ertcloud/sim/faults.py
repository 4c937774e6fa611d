"""Fault injection for the simulator: what can go wrong, switchable at run time.

:class:`FaultInjector` is reached as ``SimServer.faults``; the same faults are driven by
``ertcloud sim --fault NAME[:key=value,...]``, by a scenario file (see
:mod:`ertcloud.sim.scenario`) and by ``POST /_sim/faults`` (loopback only). Lasting faults
stay on until :meth:`FaultInjector.clear` (or their ``duration`` runs out); one-shot faults
act once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ..protocol.messages import State
from ..protocol.streams import RIPPLES

if TYPE_CHECKING:
    from .ads import ClientSession
    from .server import SimServer

__all__ = ["FAULTS", "Conflator", "FaultInjector", "parse_fault"]

log = logging.getLogger("ertcloud.sim")

#: name -> (lasting?, description). Parameters in brackets.
FAULTS: dict[str, tuple[bool, str]] = {
    "drop": (False, "drop every WebSocket connection [endpoint]"),
    "no_pings": (True, "stop sending Pings to silent clients"),
    "no_pongs": (True, "stop answering the clients' Pings"),
    "stall": (False, "the connections open now go silent: frames in, nothing out [endpoint]"),
    "expire_tokens": (False, "expire every access token now (logins get closed)"),
    "revoke_tokens": (False, "revoke every access and refresh token; close the logins"),
    "reject_refresh": (True, "refuse refresh_token grants"),
    "short_tokens": (True, "refresh grants issue tokens of [seconds] (default 240): J05"),
    "gateway_error": (True, "token endpoint answers HTTP [status] (default 503)"),
    "gateway_slow": (True, "token and discovery answers are delayed [delay] seconds"),
    "redirect": (True, "token and discovery endpoints answer 307 to another path"),
    "discovery_subset": (True, "discovery lists only [endpoints] (indexes)"),
    "refuse": (True, "endpoint [endpoint] refuses connections (listener closed)"),
    "closed_recover": (False, "ClosedRecover on [rics] for every subscriber"),
    "service_down": (False, "every item Open/Suspect '**F10: Service Down', back after [seconds]"),
    "redirect_items": (False, "streams of [rics] closed as Redirected [to] another item"),
    "close_login": (False, "close every Login stream (Status Closed) [text]"),
    "slow_consumer": (True, "conflate updates, sent every [interval] seconds"),
    "fragment": (True, "send every frame as [parts] WebSocket fragments (default 3)"),
}


def parse_fault(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:key=value,key=value`` -> (name, params). Values are JSON when
    they parse (numbers, lists), else strings; ``rics=A.N|B.N`` and ``endpoints=1|2``
    make lists."""
    name, _, rest = spec.strip().partition(":")
    if name not in FAULTS:
        raise ConfigError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ConfigError(f"fault {spec!r}: expected key=value, got {part!r}")
        if "|" in value or key in ("rics", "endpoints"):
            params[key] = [_value(v) for v in value.split("|") if v]
        else:
            params[key] = _value(value)
    return name, params


def _value(v: str) -> Any:
    try:
        return json.loads(v)
    except ValueError:
        return v


@dataclass
class _Pending:
    message: dict[str, Any]
    count: int = 1


@dataclass
class Conflator:
    """Slow-consumer mode for one connection: Updates are merged per stream and released
    every ``interval``; everything else passes at once (a Refresh or Status discards the
    updates it supersedes). A merged update carries the image values as they were when its
    last part was queued, ripple targets included, with ``DoNotRipple``, so the client's
    image stays exact."""

    image_of: Callable[[str], dict[str, Any] | None]
    view_of: Callable[[int], frozenset[str] | None]
    pending: dict[int, _Pending] = field(default_factory=dict)

    def feed(self, frame: bytes) -> bytes | None:
        """Take a server frame; returns what must go out now (or None)."""
        try:
            msgs = json.loads(frame)
        except ValueError:
            return frame
        if not isinstance(msgs, list):
            return frame
        now_out: list[Any] = []
        for m in msgs:
            if not isinstance(m, dict):
                now_out.append(m)
                continue
            sid = m.get("ID")
            if m.get("Type") == "Update" and isinstance(sid, int) and "Fields" in m:
                self._merge(sid, m)
                continue
            if isinstance(sid, int) and m.get("Type") in ("Refresh", "Status"):
                self.pending.pop(sid, None)
            now_out.append(m)
        return json.dumps(now_out, separators=(",", ":")).encode() if now_out else None

    def _merge(self, sid: int, m: dict[str, Any]) -> None:
        p = self.pending.get(sid)
        if p is None:
            self.pending[sid] = _Pending(m)
            return
        merged = dict(p.message)
        fields = {**p.message.get("Fields", {}), **m.get("Fields", {})}
        for k in ("SeqNumber", "UpdateType", "SimTs"):
            if k in m:
                merged[k] = m[k]
        key = m.get("Key") or p.message.get("Key")
        name = key.get("Name") if isinstance(key, dict) else None
        image = self.image_of(name) if isinstance(name, str) else None
        if image is not None:
            # Now (while queuing) the image matches exactly the updates queued so far.
            names = set(fields)
            for f in list(names):
                names.update(RIPPLES.get(f, ()))
            view = self.view_of(sid)
            if view is not None:
                names &= view
            fields = {n: image.get(n) for n in names if n in image or n in fields}
            merged["DoNotRipple"] = True
        merged["Fields"] = fields
        p.message = merged
        p.count += 1

    def drain(self) -> bytes | None:
        """The merged updates waiting, as one frame (or None)."""
        if not self.pending:
            return None
        out = []
        for p in self.pending.values():
            m = p.message
            if p.count > 1:
                m = dict(m, ConflationInfo={"Count": p.count, "Time": 0})
            out.append(m)
        self.pending.clear()
        return json.dumps(out, separators=(",", ":")).encode()


class FaultInjector:
    """The faults of one :class:`SimServer`."""

    def __init__(self, sim: SimServer) -> None:
        self.sim = sim
        self.active: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.history: list[tuple[float, str, dict[str, Any]]] = []

    # -- queries used by the server -----------------------------------------------------

    @property
    def gateway_delay(self) -> float:
        p = self.active.get("gateway_slow")
        return float(p.get("delay", 2.0)) if p is not None else 0.0

    @property
    def redirecting(self) -> bool:
        return "redirect" in self.active

    def listed(self, endpoint: int) -> bool:
        p = self.active.get("discovery_subset")
        return p is None or endpoint in p.get("endpoints", [])

    @property
    def fragments(self) -> int:
        """How many WebSocket fragments each frame is split into (1 = not at all)."""
        p = self.active.get("fragment")
        return max(1, int(p.get("parts", 3))) if p is not None else 1

    @property
    def conflate_interval(self) -> float | None:
        p = self.active.get("slow_consumer")
        return float(p.get("interval", 1.0)) if p is not None else None

    # -- switching ------------------------------------------------------------------------

    async def apply(self, name: str, duration: float | None = None, **params: Any) -> None:
        """Switch fault ``name`` on (lasting faults) or perform it (one-shot faults).
        ``duration`` switches a lasting fault off again after that many seconds."""
        if name not in FAULTS:
            raise ConfigError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        lasting = FAULTS[name][0]
        self.history.append((time.monotonic(), name, dict(params)))
        log.info("fault %s %s", name, params)
        if not lasting:
            await getattr(self, "_do_" + name)(**params)
            return
        self.active[name] = dict(params)
        try:
            await self._switch_on(name, params)
        except (TypeError, ValueError):
            self.active.pop(name, None)  # a bad parameter leaves the fault off
            raise
        if duration is not None:
            old = self._timers.pop(name, None)
            if old is not None:
                old.cancel()
            loop = asyncio.get_running_loop()
            self._timers[name] = loop.call_later(
                float(duration), lambda: self._spawn(self.clear(name))
            )

    async def _switch_on(self, name: str, params: dict[str, Any]) -> None:
        """The side effects of switching lasting fault ``name`` on."""
        sim = self.sim
        cfg = sim.streaming.config
        gw = sim.gateway
        if name == "no_pings":
            cfg.send_pings = False
        elif name == "no_pongs":
            cfg.answer_pings = False
        elif name == "reject_refresh":
            gw.reject_refresh = True
        elif name == "short_tokens":
            seconds = int(params.get("seconds", 240))
            if seconds <= 0:
                del self.active[name]
                raise ConfigError("short_tokens: seconds must be positive")
            gw.refreshed_ttl = seconds
        elif name == "gateway_error":
            gw.fail_status = int(params.get("status", 503))
        elif name == "refuse":
            idx = int(params.get("endpoint", 0))
            self.active[name] = {"endpoint": idx}
            await sim.close_endpoint(idx)
        elif name == "slow_consumer":
            self._spawn(self._conflate_loop())

    async def clear(self, name: str | None = None) -> None:
        """Switch off ``name`` (or every lasting fault)."""
        names = [name] if name is not None else list(self.active)
        sim = self.sim
        cfg = sim.streaming.config
        gw = sim.gateway
        for n in names:
            params = self.active.pop(n, None)
            t = self._timers.pop(n, None)
            if t is not None:
                t.cancel()
            if params is None:
                continue
            if n == "no_pings":
                cfg.send_pings = True
            elif n == "no_pongs":
                cfg.answer_pings = True
            elif n == "reject_refresh":
                gw.reject_refresh = False
            elif n == "short_tokens":
                gw.refreshed_ttl = sim.options.refreshed_ttl
            elif n == "gateway_error":
                gw.fail_status = None
            elif n == "refuse":
                await sim.open_endpoint(int(params.get("endpoint", 0)))
            elif n == "slow_consumer":
                await sim.drain_conflation()

    async def close(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        self.active.pop("slow_consumer", None)

    def describe(self) -> dict[str, Any]:
        return {"active": self.active, "known": {k: v[1] for k, v in FAULTS.items()}}

    def _spawn(self, coro: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _conflate_loop(self) -> None:
        while True:
            interval = self.conflate_interval
            if interval is None:
                return
            await asyncio.sleep(interval)
            await self.sim.drain_conflation()

    # -- one-shot faults ------------------------------------------------------------------

    def _logged_in(self) -> list[ClientSession]:
        return [cs for cs in self.sim.streaming.sessions if cs.login_id is not None]

    async def _do_drop(self, endpoint: int | None = None) -> None:
        await self.sim.drop_connections(endpoint)

    async def _do_stall(self, endpoint: int | None = None) -> None:
        self.sim.stall_connections(endpoint)

    async def _do_expire_tokens(self) -> None:
        self.sim.gateway.expire_all()
        wall = self.sim.gateway.clock()
        for cs in self._logged_in():
            if cs.token_expires_at is not None:
                cs.token_expires_at = wall - self.sim.streaming.config.token_grace

    async def _do_revoke_tokens(self) -> None:
        gw = self.sim.gateway
        for user in {a.user for a in gw.access.values()} | {r.user for r in gw.refresh.values()}:
            gw.revoke_user(user)
        for cs in self._logged_in():
            if cs.token_expires_at is not None:
                cs.close_login("Login stream was closed: token revoked.", "NotEntitled")

    async def _do_closed_recover(self, rics: list[str] | str | None = None) -> None:
        names = [rics] if isinstance(rics, str) else list(rics or [])
        if not names:
            names = list(self.sim.streaming.subs)
        state = State(
            stream="ClosedRecover", data="Suspect", code="Timeout", text="Simulated recovery"
        )
        self.sim.streaming.close_items(names, state)

    async def _do_service_down(self, seconds: float = 1.0) -> None:
        self.sim.streaming.suspect_items()

        async def back() -> None:
            self.sim.streaming.recover_items()

        self.sim.streaming.later(float(seconds), back)

    async def _do_redirect_items(
        self, rics: list[str] | str | None = None, to: str = "TRI.TO"
    ) -> None:
        names = [rics] if isinstance(rics, str) else list(rics or [])
        self.sim.streaming.redirect_items(names or list(self.sim.streaming.subs), str(to))

    async def _do_close_login(self, text: str = "Login stream was closed.") -> None:
        for cs in self._logged_in():
            cs.close_login(text, "NotEntitled")
