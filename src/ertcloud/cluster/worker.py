"""One worker of a cluster group: holds leases on its share of the items, streams them on
its own session and publishes every Refresh, Update and Status to the cluster's stream.

Each heartbeat (a quarter of the lease TTL) the worker renews its member key, reads the
live members, computes its share by rendezvous hashing, releases what is no longer its
own (after its last messages are acknowledged) and claims what is. A newly claimed item
is requested afresh: its Refresh, published with the new epoch, starts the new owner's
part of the item's history. The worker watches the lease bucket: when an item it holds
is written to another worker's name, it stops the item at once. As a safety net for what
the watch cannot see (NATS out of reach), a worker that cannot renew its lease within the
TTL stops publishing on its own (another worker may already own its items).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client.session import Session
from ..client.standby import StandbyBase, StandbySubscription
from ..client.subscription import Subscription
from ..exceptions import ConfigError
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated
from ..sinks.nats_stream import subject_token
from ..sinks.rows import row_from_message
from .config import ClusterConfig
from .connect import connect_nats, ensure_stream, key_value, no_jetstream, replicas_for
from .lease import LeaseTable, item_key
from .publish import GAP, Outgoing, Publisher, msg_id
from .rendezvous import owner

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("ertcloud.cluster")
_CLAIMS_AT_ONCE = 128


@dataclass
class WorkerStats:
    """Counters of one worker (member key, status, /metrics)."""

    started: float = field(default_factory=time.time)
    messages: int = 0
    claimed: int = 0
    released: int = 0
    lease_losses: int = 0
    gaps: int = 0  # epochs ended early because the publish buffer was full
    taken: int = 0  # items stopped because their lease was written to another worker


@dataclass
class _Held:
    epoch: int
    sub: Subscription | StandbySubscription | None = None


class Worker:
    """``async with Worker(cfg, name, rics, session) as w: await w.run(stop)``.

    ``session`` (a :class:`Session`, or a :class:`~ertcloud.client.standby.HotStandby`:
    two sessions, one de-duplicated flow) is started by the caller and must not be shared
    with other subscribers."""

    def __init__(
        self,
        cfg: ClusterConfig,
        name: str,
        rics: Sequence[str],
        session: Session | StandbyBase,
        *,
        domain: str = "MarketPrice",
        service: str | int | None = None,
        heartbeat: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.rics = list(dict.fromkeys(rics))
        self.session = session
        self.domain = domain
        self.service = service
        self.heartbeat = heartbeat or cfg.ttl / 4
        self.stats = WorkerStats()
        self.held: dict[str, _Held] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.nc: Any = None
        self.leases: LeaseTable | None = None
        self.publisher: Publisher | None = None
        self._n = 0
        self._rate = 0.0
        self._rate_at = (time.monotonic(), 0)
        self._unclaimed = 0  # rounds in a row that claimed none of the wanted items
        self._watch: Any = None  # the subscription to the lease writes
        self._rics: dict[str, str] = {}  # lease key -> RIC, of the items ever claimed
        self._claiming: dict[str, int] = {}  # lease key -> last foreign write, while claiming
        # leases that name this worker but that it no longer streams (dropped when fenced,
        # an epoch ended, a release that failed, left by a former process of this name):
        # lease key -> revision, given up at the next round so the others can claim them
        self._orphans: dict[str, int] = {}

    async def __aenter__(self) -> Worker:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect, create the stream and buckets, and join the group."""
        from nats.errors import NoRespondersError
        from nats.js.errors import ServiceUnavailableError

        self.nc = await connect_nats(self.cfg, name=f"ertcloud-{self.name}")
        try:
            js = self.nc.jetstream(timeout=10.0)
            replicas = replicas_for(self.cfg, self.nc)
            info = self.info()
            # workers starting together race to create these, and a new R3 bucket has no
            # leader for a moment (its first writes find no responder)
            for attempt in range(5):
                try:
                    await ensure_stream(js, self.cfg, replicas)
                    latest = await key_value(js, self.cfg.latest, replicas)
                    self.leases = LeaseTable(js, self.cfg, self.name, replicas)
                    await self.leases.open()
                    await self.leases.join(info)
                    if self._watch is None:
                        self._watch = await self.leases.watch(self._on_lease_write)
                    self._orphans.update(await self.leases.mine())
                    break
                except ConfigError:
                    raise
                except Exception as exc:
                    if attempt == 4:
                        if isinstance(exc, (ServiceUnavailableError, NoRespondersError)):
                            raise no_jetstream(self.cfg) from None
                        raise ConfigError(f"cannot set up the cluster's stream: {exc}") from None
                    await asyncio.sleep(0.5 + attempt)
            self.publisher = Publisher(js, self.cfg.stream, latest)
            self.publisher.start()
        except BaseException:
            await self.nc.close()
            raise

    def info(self) -> dict[str, Any]:
        """What this worker reports in its member key."""
        now = time.monotonic()
        t, n = self._rate_at
        if now - t >= 1.0:
            self._rate = (self.stats.messages - n) / (now - t)
            self._rate_at = (now, self.stats.messages)
        p = self.publisher
        return {
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "items": len(self.held),
            "messages": self.stats.messages,
            "rate": round(self._rate, 1),
            "queued": p.queued if p else 0,
            "published": p.published if p else 0,
            "duplicates": p.duplicates if p else 0,
            "ack_ms": round(1000 * p.ack_seconds / p.published, 2) if p and p.published else 0,
            "started": self.stats.started,
            "at": time.time(),
        }

    def set_items(self, rics: Sequence[str]) -> None:
        """Replace the item universe (a chain changed): the next round releases what left
        it and claims this worker's share of what joined."""
        self.rics = list(dict.fromkeys(rics))

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat and rebalance until ``stop`` is set or the session ends."""
        closed = asyncio.ensure_future(self.session.wait_closed())
        beat = asyncio.ensure_future(self._heartbeats())
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                await self.step()
                took = time.monotonic() - t0
                if took > self.cfg.ttl:  # a clue when shares are slow to settle
                    log.warning(
                        "worker %s: a rebalancing round took %.1f s (holding %d items, "
                        "%d members)", self.name, took, len(self.held), len(self.members),
                    )  # fmt: skip
                try:
                    await asyncio.wait_for(stop.wait(), self.heartbeat)
                except asyncio.TimeoutError:
                    pass
                for t in (closed, beat):
                    if t.done():
                        t.result()  # the session or the heartbeat failed for good
                if closed.done():
                    break
        finally:
            closed.cancel()
            beat.cancel()

    async def _heartbeats(self) -> None:
        """Renew the member key every heartbeat, apart from the (possibly long) rebalancing
        so that claiming thousands of items never lets the lease lapse."""
        leases = self.leases
        assert leases is not None
        while True:
            try:
                await asyncio.wait_for(leases.renew(self.info()), self.cfg.ttl)
            except (asyncio.TimeoutError, Exception) as exc:
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)
            await asyncio.sleep(self.heartbeat)

    async def step(self) -> None:
        """One rebalancing round: release and claim to match the live members."""
        leases = self.leases
        assert leases is not None and self.publisher is not None
        if self._fenced():
            if leases.lapsed:  # its items are dropped: the worker is a member again
                log.warning("worker %s: its member key had expired; joining again", self.name)
                try:
                    await asyncio.wait_for(leases.rejoin(self.info()), self.cfg.ttl)
                except (asyncio.TimeoutError, Exception) as exc:
                    log.warning("worker %s: cannot rejoin: %s", self.name, exc)
            return
        try:
            self.members = await asyncio.wait_for(leases.members(), self.cfg.ttl)
        except (asyncio.TimeoutError, Exception) as exc:
            log.warning("worker %s: cannot read the members: %s", self.name, exc)
            return
        if self._orphans:
            await self._release_orphans()
        live = set(self.members) | {self.name}
        mine = {r for r in self.rics if owner(r, live) == self.name}
        gone = [r for r in self.held if r not in mine]
        if gone:
            log.info("worker %s: releasing %d items (members %s)", self.name, len(gone), live)
            await self._release(gone)
        wanted = [r for r in self.rics if r in mine and r not in self.held]
        if wanted and not self.publisher.full:  # not while epochs are being ended
            await self._claim(wanted, live)

    async def _claim(self, rics: list[str], live: set[str]) -> None:
        leases = self.leases
        assert leases is not None
        got: list[str] = []
        checked: dict[str, asyncio.Future[bool]] = {}  # holders asked for this round
        for i in range(0, len(rics), _CLAIMS_AT_ONCE):
            chunk = rics[i : i + _CLAIMS_AT_ONCE]
            keys = [item_key(self.domain, r) for r in chunk]
            # a write naming another worker that comes while a claim is on its way
            self._claiming.update(dict.fromkeys(keys, 0))
            try:
                epochs = await asyncio.gather(
                    *(leases.claim(k, live, checked) for k in keys), return_exceptions=True
                )
            finally:
                later = {k: self._claiming.pop(k, 0) for k in keys}
            failed = [e for e in epochs if isinstance(e, BaseException)]
            if failed:
                log.warning(
                    "worker %s: %d of %d claims failed: %s", self.name, len(failed), len(chunk),
                    failed[0],
                )  # fmt: skip
            for r, k, e in zip(chunk, keys, epochs, strict=True):
                if isinstance(e, int):
                    self._rics[k] = r
                    if later[k] > e:  # taken by another worker right after the claim
                        self._lease_moved(r, _Held(e))
                        continue
                    self.held[r] = _Held(e)
                    got.append(r)
        self._unclaimed = 0 if got else self._unclaimed + 1
        if self._unclaimed == 4:  # a clue when shares do not settle
            log.warning(
                "worker %s: %d items of its share still held by others (members %s)",
                self.name, len(rics), sorted(live),
            )  # fmt: skip
        if not got:
            return
        self.stats.claimed += len(got)
        sub = self.session.subscribe(
            got,
            domain=self.domain,
            service=self.service,
            on_refresh=self._on_message,
            on_update=self._on_message,
            on_status=self._on_message,
            queue=False,
        )
        for r in got:
            h = self.held.get(r)
            if h is not None:
                h.sub = sub
            else:  # its lease moved while later chunks were claimed
                sub.close_items([r])

    async def _release_orphans(self) -> None:
        """Give up the leases naming this worker that it does not stream: while it is a
        member, no other worker may take them."""
        leases, pub = self.leases, self.publisher
        assert leases is not None and pub is not None
        held = {item_key(self.domain, r) for r in self.held}
        todo = [(k, rev) for k, rev in self._orphans.items() if k not in held]
        for k in [k for k in self._orphans if k in held]:
            del self._orphans[k]  # claimed again meanwhile: a new epoch
        if not todo:
            return
        log.info("worker %s: giving up %d leases it no longer streams", self.name, len(todo))
        try:  # what is queued of those epochs (a Gap marker) is stored first
            await asyncio.wait_for(pub.drain(), self.cfg.ttl)
        except asyncio.TimeoutError:
            return  # NATS is out: next round
        for i in range(0, len(todo), _CLAIMS_AT_ONCE):
            chunk = todo[i : i + _CLAIMS_AT_ONCE]
            done = await asyncio.gather(
                *(leases.release(k, rev) for k, rev in chunk), return_exceptions=True
            )
            for (k, _), d in zip(chunk, done, strict=True):
                if not isinstance(d, BaseException):
                    self._orphans.pop(k, None)  # given up, or not this worker's any more

    async def _release(self, rics: list[str]) -> None:
        leases, pub = self.leases, self.publisher
        assert leases is not None and pub is not None
        held = [(r, self.held.pop(r)) for r in rics]
        self._close_streams(held)
        try:  # the last messages and images are stored before another worker takes over
            await asyncio.wait_for(pub.drain(), self.cfg.ttl)
            keys = {self._key(r) for r, _ in held}
            await asyncio.wait_for(pub.flush_latest(keys), self.cfg.ttl)
        except asyncio.TimeoutError:  # NATS is out: the epochs end with what is stored
            for r, _ in held:
                pub.discard(self._key(r))
        done = await asyncio.gather(
            *(leases.release(item_key(self.domain, r), h.epoch) for r, h in held),
            return_exceptions=True,
        )
        for (r, h), d in zip(held, done, strict=True):
            if isinstance(d, BaseException):
                self._orphans[item_key(self.domain, r)] = h.epoch
        for r, _ in held:
            pub.forget(f"{subject_token(self.domain)}.{subject_token(r)}")
        self.stats.released += len(held)

    def _close_streams(self, held: list[tuple[str, _Held]]) -> None:
        """Close these items (one at a time, not the whole subscription each came with)."""
        if self.session.closing:
            return
        by_sub: dict[Subscription | StandbySubscription, list[str]] = {}
        for r, h in held:
            if h.sub is not None:
                by_sub.setdefault(h.sub, []).append(r)
        for sub, names in by_sub.items():
            sub.close_items(names)

    def _on_lease_write(self, key: str, holder: str, revision: int) -> None:
        """A write of an item's lease (the watch): one that no longer names this worker,
        after the claim that made its epoch, means another worker owns the item now."""
        if holder == self.name:
            return
        if key in self._claiming:
            self._claiming[key] = max(self._claiming[key], revision)
            return
        ric = self._rics.get(key)
        h = None if ric is None else self.held.get(ric)
        if ric is None or h is None or revision <= h.epoch:
            return  # not held, or an older write
        del self.held[ric]
        self._lease_moved(ric, h)

    def _lease_moved(self, ric: str, h: _Held) -> None:
        """Stop an item whose lease another worker holds now, and drop what is not stored
        yet of its epoch (which ends there) rather than publish it after the new owner's
        Refresh."""
        self.stats.taken += 1
        if self.stats.taken == 1 or self.stats.taken % 1000 == 0:
            log.warning(
                "worker %s: the lease of %s (epoch %d) went to another worker: stopping it "
                "(%d so far)", self.name, ric, h.epoch, self.stats.taken,
            )  # fmt: skip
        self._close_streams([(ric, h)])
        pub = self.publisher
        assert pub is not None
        pub.discard(self._key(ric))
        pub.forget(self._key(ric))

    def _fenced(self) -> bool:
        """Whether the lease lapsed (the items may have other owners by now); the items
        are dropped then."""
        leases = self.leases
        assert leases is not None
        if not leases.lapsed and time.monotonic() - leases.last_renewed <= self.cfg.ttl:
            return False
        if self.held:
            log.warning("worker %s lost its lease: dropping %d items", self.name, len(self.held))
            self.stats.lease_losses += 1
            self._drop_all()
        return True

    def _drop_all(self) -> None:
        """Fenced: stop the items, and drop what is not stored yet of their epochs (which
        end there, without a gap) rather than publish it after a new owner's Refresh."""
        self._close_streams(list(self.held.items()))
        pub = self.publisher
        assert pub is not None
        for r, h in self.held.items():
            pub.discard(self._key(r))
            self._orphans[item_key(self.domain, r)] = h.epoch
        self.held.clear()

    def _key(self, ric: str) -> str:
        return f"{subject_token(self.domain)}.{subject_token(ric)}"

    def _end_epoch(self, ric: str, h: _Held, service: str | int | None) -> None:
        """The publish buffer is full (NATS has been unreachable for a while): drop the
        item's unstored messages, mark the end of its epoch in the stream with a ``Gap``
        marker (published once NATS is back, after what was stored), and stop the item;
        a later round requests it again, and its Refresh starts a new epoch."""
        pub = self.publisher
        assert pub is not None
        key = self._key(ric)
        dropped = pub.discard(key)
        self.stats.gaps += 1
        if self.stats.gaps == 1 or self.stats.gaps % 1000 == 0:
            log.warning(
                "worker %s: publish buffer full (%d messages): ending epochs, %s first",
                self.name, pub.queued, ric,
            )  # fmt: skip
        n = dropped + 1
        raw = json.dumps({"Type": GAP, "Epoch": h.epoch, "Dropped": n})  # a sink's raw column
        body = {
            "ts": time.time(), "kind": GAP, "domain": self.domain, "ric": ric,
            "service": service, "update_type": None, "fields": None, "raw": raw, "sn": None,
            "epoch": h.epoch, "worker": self.name, "dropped": n,
        }  # fmt: skip
        pub.submit(
            Outgoing(
                subject=f"{self.cfg.prefix}.{key}",
                key=key,
                body=body,
                msg_id=msg_id(self.domain, ric, GAP, None, h.epoch, 0),
            )
        )
        self._close_streams([(ric, h)])
        del self.held[ric]
        self._orphans[item_key(self.domain, ric)] = h.epoch

    def _on_message(self, ev: ItemRefreshed | ItemUpdated | ItemStatus | Any) -> None:
        t = type(ev)
        if t is not ItemUpdated and t is not ItemRefreshed and t is not ItemStatus:
            return
        s = ev.stream
        h = self.held.get(s.name)
        if h is None:
            return  # released meanwhile
        pub = self.publisher
        assert pub is not None
        if pub.full:
            self._end_epoch(s.name, h, s.service)
            return
        if self._fenced():  # not a message more under a lease that may have lapsed
            return
        self.stats.messages += 1
        self._n += 1
        m = ev.message
        row = row_from_message(0, time.time(), m, ric=s.name, domain=s.domain, service=s.service)
        sn = getattr(m, "seq_number", None)
        body = {
            "ts": row.ts,
            "kind": row.kind,
            "domain": row.domain,
            "ric": row.ric,
            "service": row.service,
            "update_type": row.update_type,
            "fields": row.fields,
            "raw": row.raw,
            "sn": sn,
            "epoch": h.epoch,
            "worker": self.name,
        }
        d, r = subject_token(row.domain), subject_token(row.ric)
        pub.submit(
            Outgoing(
                subject=f"{self.cfg.prefix}.{d}.{r}",
                key=f"{d}.{r}",
                body=body,
                msg_id=msg_id(row.domain, row.ric, row.kind, sn, h.epoch, self._n),
            )
        )

    async def close(self) -> None:
        """Stop streaming, publish what is queued, give the items and the member key up."""
        if self.nc is None:
            return
        try:
            if self.held and self.leases is not None and self.publisher is not None:
                await asyncio.wait_for(self._release(list(self.held)), 10)
            if self.publisher is not None:
                await asyncio.wait_for(self.publisher.close(), 10)
            if self.leases is not None:
                await asyncio.wait_for(self.leases.leave(), 5)
        except (asyncio.TimeoutError, Exception) as exc:
            log.warning("worker %s: unclean leave: %s", self.name, exc)
        finally:
            watch, self._watch = self._watch, None
            if watch is not None:  # its consumer goes now, not after an idle time
                try:
                    await asyncio.wait_for(watch.unsubscribe(), 5)
                except (asyncio.TimeoutError, Exception):
                    pass
            await self.nc.close()
            self.nc = None
