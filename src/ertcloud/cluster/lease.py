"""Leases in JetStream key-value buckets: which workers are alive, and who owns each item.

Two buckets per group:

``<bucket>_members``
    One key per live worker (``w.<name>``), in a bucket whose entries expire after the
    lease TTL. Joining is a create (a live worker of the same name makes it fail); the
    worker rewrites its key every heartbeat; a worker that dies stops, and the server
    drops its key within the TTL. A worker that could not renew for a TTL, or whose key
    expired between two renewals, fences itself: it stops publishing, since its items may
    have other owners by then.
``<bucket>``
    One key per item (``i.<domain>.<ric>``) holding the owner's name, and ``group`` (the
    group the buckets belong to). An item's lease is valid while its owner's member key
    is: a claim is a compare-and-set from an entry that is missing, released (empty) or
    held by a worker that is no longer a member. The revision of the successful claim is
    the item's *epoch*. Each worker watches this bucket (:meth:`LeaseTable.watch`) and
    stops an item at once when a later write names another worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from ..exceptions import ConfigError
from ..sinks.nats_stream import subject_token
from .config import ClusterConfig
from .connect import key_value

__all__ = ["LeaseTable", "item_key"]


def item_key(domain: str, ric: str) -> str:
    return f"i.{subject_token(domain)}.{subject_token(ric)}"


class LeaseTable:
    """The lease operations of one worker (or, without a name, of an observer)."""

    def __init__(self, js: Any, cfg: ClusterConfig, name: str, replicas: int) -> None:
        self.js = js
        self.cfg = cfg
        self.name = name
        self.replicas = replicas
        self.members_kv: Any = None
        self.owners_kv: Any = None
        self._rev = 0
        self.last_renewed = 0.0  # monotonic time of the last successful renewal
        self.lapsed = False  # the member key expired between two renewals

    @property
    def member_key(self) -> str:
        return f"w.{self.name}"

    async def open(self) -> None:
        """Open (or create) both buckets and check that they belong to this group. An
        observer (no name) only opens them: it never creates a group's buckets (nor
        sizes their replicas); without them it sees no member and no owner."""
        from nats.js.errors import (
            BucketNotFoundError,
            KeyDeletedError,
            KeyNotFoundError,
            KeyWrongLastSequenceError,
            NotFoundError,
        )

        cfg = self.cfg
        if not self.name:
            try:
                owners_kv = await self.js.key_value(cfg.lease_bucket)
                self.members_kv = await self.js.key_value(cfg.members_bucket)
            except (BucketNotFoundError, NotFoundError):
                return
            self.owners_kv = owners_kv
            try:
                entry = await owners_kv.get("group")
            except (KeyNotFoundError, KeyDeletedError):
                return
            self._check_group((entry.value or b"").decode())
            return
        desc = f"ertcloud cluster group {cfg.group}"
        self.owners_kv = await key_value(self.js, cfg.lease_bucket, self.replicas, description=desc)
        self.members_kv = await key_value(
            self.js, cfg.members_bucket, self.replicas, ttl=cfg.ttl, description=desc
        )
        try:
            await self.owners_kv.create("group", cfg.group.encode())
        except KeyWrongLastSequenceError:
            entry = await self.owners_kv.get("group")
            self._check_group((entry.value or b"").decode())

    def _check_group(self, other: str) -> None:
        if other != self.cfg.group:
            raise ConfigError(
                f"bucket {self.cfg.lease_bucket} belongs to cluster group {other!r}, "
                f"not {self.cfg.group!r}"
            )

    async def join(self, info: dict[str, Any]) -> None:
        """Take this worker's member key; a live worker of the same name is an error.
        Asked again after a failed try, the key this process wrote then is its own."""
        from nats.js.errors import KeyWrongLastSequenceError

        sent = time.monotonic()
        try:
            self._rev = await self.members_kv.create(self.member_key, json.dumps(info).encode())
        except KeyWrongLastSequenceError:
            try:
                entry = await self.members_kv.get(self.member_key)
                there = json.loads(entry.value or b"{}")
            except Exception:
                there = {}
            same = ("host", "pid", "started")
            if not info.get("pid") or any(there.get(k) != info.get(k) for k in same):
                raise ConfigError(
                    f"a worker named {self.name!r} is already running in cluster group "
                    f"{self.cfg.group!r} (or stopped less than {self.cfg.ttl:g} s ago)"
                ) from None
            self._rev = entry.revision
            await self.renew(info)  # its lifetime runs from a write of unknown time
            return
        self.last_renewed = sent

    async def renew(self, info: dict[str, Any]) -> None:
        """Renew the member key, only from the revision this worker wrote last. When the
        key expired meanwhile (a renewal late on a busy machine), the others may have
        taken the items: ``lapsed`` is set, and the worker drops its items before it
        :meth:`rejoin` s. ``last_renewed`` is when the renewal was *sent*, not
        acknowledged: the server's expiry runs from a later moment, so a worker that
        fences itself ``ttl`` after it is never later than the server."""
        from nats.js.errors import KeyWrongLastSequenceError

        sent = time.monotonic()
        try:
            rev = await self.members_kv.update(
                self.member_key, json.dumps(info).encode(), last=self._rev
            )
        except KeyWrongLastSequenceError:
            self.lapsed = True
            return
        self._rev = rev
        self.last_renewed = max(self.last_renewed, sent)

    async def rejoin(self, info: dict[str, Any]) -> None:
        """Write the member key anew after a lapse (the worker holds no item now)."""
        sent = time.monotonic()
        self._rev = await self.members_kv.put(self.member_key, json.dumps(info).encode())
        self.lapsed = False
        self.last_renewed = sent

    async def leave(self) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            await self.members_kv.delete(self.member_key)
        except KeyWrongLastSequenceError:
            pass

    async def members(self) -> dict[str, dict[str, Any]]:
        """The live workers and what each last reported. The keys come from the stream's
        subjects in one request (a key watcher can end early on a busy machine, and a
        worker missing from the list would see its items taken)."""
        if self.members_kv is None:
            return {}  # an observer of a group that has no buckets yet
        bucket = self.cfg.members_bucket
        prefix = f"$KV.{bucket}."
        info = await self.js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}w.>")
        keys = [s[len(prefix) :] for s in info.state.subjects or {}]
        out: dict[str, dict[str, Any]] = {}
        for k in keys:
            if not k.startswith("w."):
                continue
            try:
                entry = await self.members_kv.get(k)
                out[k[2:]] = json.loads(entry.value or b"{}")
            except Exception:  # expired between listing and reading
                continue
        return out

    async def is_member(self, name: str) -> bool:
        """Whether worker ``name``'s member key is there now (its leases hold)."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self.members_kv.get(f"w.{name}")
        except (KeyNotFoundError, KeyDeletedError):
            return False
        return entry.value is not None

    async def claim(
        self, key: str, live: set[str], checked: dict[str, asyncio.Future[bool]] | None = None
    ) -> int | None:
        """Take an item: its epoch, or None while another live worker holds it.

        ``live`` are the members as read at the start of the round; a holder missing from
        them is asked for again (its member key, once per round through ``checked``)
        before the item is taken: it may have joined since, and a worker whose item is
        taken while it is alive goes on streaming it."""
        from nats.js.errors import (
            KeyDeletedError,
            KeyNotFoundError,
            KeyWrongLastSequenceError,
        )

        me = self.name.encode()
        try:
            return int(await self.owners_kv.create(key, me))
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await self.owners_kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None  # deleted meanwhile: the next round creates it
        holder = (entry.value or b"").decode()
        if holder and holder != self.name:
            if holder in live:
                return None
            if checked is None:
                alive = await self.is_member(holder)
            else:
                check = checked.get(holder)
                if check is None:
                    check = checked[holder] = asyncio.ensure_future(self.is_member(holder))
                alive = await asyncio.shield(check)
            if alive:
                return None
        # also when this worker holds it still (it dropped it after failing to renew its
        # lease): a new subscription starts a new epoch
        try:
            return int(await self.owners_kv.update(key, me, last=entry.revision))
        except KeyWrongLastSequenceError:
            return None  # another worker was faster

    async def release(self, key: str, epoch: int) -> None:
        """Give an item up (only if this worker still holds it at ``epoch``)."""
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            await self.owners_kv.update(key, b"", last=epoch)
        except KeyWrongLastSequenceError:
            pass

    async def mine(self) -> dict[str, int]:
        """``{item key: revision}`` of the leases that name this worker."""
        return {k: rev for k, (who, rev) in (await self.entries()).items() if who == self.name}

    async def watch(self, on_write: Callable[[str, str, int], None]) -> Any:
        """Call ``on_write(key, holder, revision)`` for each write of an item's lease from
        now on (``holder`` is empty for a release or a deletion); the subscription, to
        ``unsubscribe``. An ordered consumer of the owners bucket's stream: after a
        reconnect or a missed heartbeat it resumes after the last write it saw."""
        from nats.js.api import DeliverPolicy

        bucket = self.cfg.lease_bucket
        prefix = f"$KV.{bucket}."

        async def deliver(msg: Any) -> None:
            holder = "" if (msg.headers or {}).get("KV-Operation") else msg.data.decode()
            on_write(msg.subject[len(prefix) :], holder, int(msg.metadata.sequence.stream))

        return await self.js.subscribe(
            f"{prefix}i.>",
            stream=f"KV_{bucket}",
            cb=deliver,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=2.0,
        )

    async def owners(self) -> dict[str, str]:
        """``{item key: owner}`` of every held item (for status and tests)."""
        return {k: who for k, (who, _) in (await self.entries()).items()}

    async def entries(self) -> dict[str, tuple[str, int]]:
        """``{item key: (owner, revision)}`` of every held item: one ordered
        consumer reads the last value of every key, until it has read each key that the
        stream listed first. Not until none is pending: the pending count of a consumer
        that delivers the last message per subject can read 0 with keys still to come,
        and neither from a silence (which on a busy machine can last seconds)."""
        from nats.js.api import DeliverPolicy

        if self.owners_kv is None:
            return {}
        bucket = self.cfg.lease_bucket
        prefix = f"$KV.{bucket}."
        info = await self.js.stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}i.>")
        expected = set(info.state.subjects or ())
        if not expected:
            return {}
        sub = await self.js.subscribe(
            f"{prefix}i.>",
            stream=f"KV_{bucket}",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )
        out: dict[str, tuple[str, int]] = {}
        try:
            while True:
                msg = await sub.next_msg(timeout=30)
                key = msg.subject[len(prefix) :]
                if msg.data and not (msg.headers or {}).get("KV-Operation"):
                    out[key] = (msg.data.decode(), int(msg.metadata.sequence.stream))
                else:
                    out.pop(key, None)
                expected.discard(msg.subject)
                if not expected:
                    return out
        finally:
            await sub.unsubscribe()
