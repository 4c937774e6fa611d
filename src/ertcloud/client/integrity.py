"""Integrity checks on item streams: sequence gaps, staleness, and image verification.

**Sequence gaps.** Servers stamp each message of an item with a ``SeqNumber`` that grows
by a fixed step per message of the item (16 on the simulator). The step is learned per
stream from the first :data:`LEARN_DELTAS` increments between updates (their greatest
common divisor), after which an increment larger than the step is a *gap* of
``increment // step - 1`` messages: counted, and reported as :class:`SequenceGap`. A
Refresh sets a new baseline; an increment of zero or less (a duplicate, a reordered
message or a restarted sequence) is counted in ``out_of_order`` and also rebases.

Not every gap is a loss: the sequence belongs to the item, not to the stream, so a view
filters out updates that touched none of its fields, a paused stream misses updates on
purpose, and updates the server conflated skip numbers too. Streams with a view or a pause
count such increments in ``skipped`` and raise no event; for the others a gap means
messages this client did not get. :meth:`Session.verify` is the proof either way: it
compares the cached image with a fresh snapshot from the server.

**Staleness.** A stream whose state says ``Data: Suspect`` is stale until a message brings
``Data: Ok`` again; with ``stale_after`` set, an open streaming item that has received
nothing for that many seconds is stale too until its next message. Both are reported as
:class:`StreamStale` / :class:`StreamFresh` and shown by :attr:`StreamHealth.stale`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from ..exceptions import ConfigError
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.messages import Refresh, Status
from ..protocol.streams import ItemStream, Phase, use_health_record

log = logging.getLogger("ertcloud.client")

__all__ = [
    "LEARN_DELTAS",
    "Difference",
    "IntegrityEvent",
    "IntegrityMonitor",
    "SequenceGap",
    "StreamFresh",
    "StreamHealth",
    "StreamStale",
    "VerifyReport",
    "compare_images",
]

#: increments between updates used to learn a stream's sequence step before gaps count
LEARN_DELTAS = 3
#: Streams checked for silence in one go of the event loop (``IntegrityMonitor.watch``): about
#: a millisecond's work
SILENCE_SLICE = 500


@dataclass(frozen=True, slots=True)
class SequenceGap:
    """Messages of an item are missing: ``received`` came where ``expected`` should have."""

    stream: ItemStream
    expected: int
    received: int
    missing: int


@dataclass(frozen=True, slots=True)
class StreamStale:
    """The item's data can no longer be trusted: ``reason`` is "suspect" or "silent"."""

    stream: ItemStream
    reason: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class StreamFresh:
    """A stale item has good data again."""

    stream: ItemStream


IntegrityEvent = SequenceGap | StreamStale | StreamFresh


_T = TypeVar("_T")


class _RareHealth:
    """The counters of a stream's health that stay at zero unless a gap, a reordering or a
    staleness happens: one object for the few streams that have any."""

    __slots__ = ("gaps", "missing", "out_of_order", "skipped", "stale", "stale_reason")

    def __init__(self) -> None:
        self.gaps = self.missing = self.skipped = self.out_of_order = 0
        self.stale = False
        self.stale_reason = ""


class _Record:
    """The slots of a health record that belongs to no stream (one made by the user, or by
    ``dataclasses.replace``): the same names as the stream's (``ItemStream._h_*``)."""

    __slots__ = (
        "_h_last_message",
        "_h_last_seq",
        "_h_learned",
        "_h_next_seq",
        "_h_rare",
        "_h_seen",
        "_h_step",
    )

    _h_last_seq: int | None
    _h_next_seq: int
    _h_step: int | None
    _h_learned: int
    _h_last_message: float | None
    _h_seen: int
    _h_rare: _RareHealth | None


_Slots = ItemStream | _Record


class _Field(Generic[_T]):
    """A field of :class:`StreamHealth`: the slot ``_h_<name>`` of its record."""

    def __init__(self) -> None:
        self.name = self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot = name, "_h_" + name

    @overload
    def __get__(self, obj: None, owner: type) -> _Field[_T]: ...
    @overload
    def __get__(self, obj: StreamHealth, owner: type) -> _T: ...
    def __get__(self, obj: StreamHealth | None, owner: type) -> _Field[_T] | _T:
        return self if obj is None else self._read(obj._r)

    def __set__(self, obj: StreamHealth, value: _T) -> None:
        self._write(obj._r, value)

    def _read(self, rec: _Slots) -> _T:
        value: _T = getattr(rec, self.slot)
        return value

    def _write(self, rec: _Slots, value: _T) -> None:
        setattr(rec, self.slot, value)


class _RareField(_Field[_T]):
    """A field of :class:`StreamHealth` kept in its :class:`_RareHealth` (the default without)."""

    def __init__(self, default: _T) -> None:
        super().__init__()
        self.default = default

    def _read(self, rec: _Slots) -> _T:
        r = rec._h_rare
        return self.default if r is None else getattr(r, self.name)

    def _write(self, rec: _Slots, value: _T) -> None:
        r = rec._h_rare
        if r is None:
            if value == self.default:
                return
            r = rec._h_rare = _RareHealth()
        setattr(r, self.name, value)


def _rare(stream: ItemStream) -> _RareHealth:
    """The rare counters of ``stream``'s record (made on first use)."""
    r: _RareHealth | None = stream._h_rare
    if r is None:
        r = stream._h_rare = _RareHealth()
    return r


def _stale_reason(stream: ItemStream) -> str | None:
    """Why ``stream`` is stale (``suspect`` or ``silent``); None while it is not."""
    r: _RareHealth | None = stream._h_rare
    return r.stale_reason if r is not None and r.stale else None


class StreamHealth:
    """What the monitor knows of one stream.

    ``stream.health`` (and :meth:`IntegrityMonitor.health`) is a view of the record that the
    stream keeps in slots of its own (no object per item): its fields read and change the
    stream's. The counters a healthy stream never moves (gaps, reorderings, staleness) live in
    a second object made on the first change. A record made here (``StreamHealth(...)``)
    holds its own values until it is set as a stream's ``health``, then it is that stream's."""

    __slots__ = ("_r",)
    #: the fields in the dataclass's order (set below from :class:`_HealthFields`)
    __match_args__: tuple[str, ...]

    _r: _Slots

    last_seq: _Field[int | None] = _Field()
    step: _Field[int | None] = _Field()
    learned: _Field[int] = _Field()
    last_message: _Field[float] = _Field()
    #: messages of the stream counted at the last silence check
    seen: _Field[int] = _Field()
    #: the sequence number the next Update should carry (-1: none expected), for the
    #: cheap check on the hot path
    next_seq: _Field[int] = _Field()

    #: Sequence gaps seen.
    gaps: _RareField[int] = _RareField(0)
    #: Updates missing in those gaps.
    missing: _RareField[int] = _RareField(0)
    #: Updates a view or a pause left out.
    skipped: _RareField[int] = _RareField(0)
    #: Updates whose number did not advance.
    out_of_order: _RareField[int] = _RareField(0)
    #: Whether the stream is stale.
    stale: _RareField[bool] = _RareField(False)
    #: Why (``suspect`` or ``silent``).
    stale_reason: _RareField[str] = _RareField("")

    def __init__(
        self,
        last_seq: int | None = None,
        step: int | None = None,
        learned: int = 0,
        gaps: int = 0,
        missing: int = 0,
        skipped: int = 0,
        out_of_order: int = 0,
        stale: bool = False,
        stale_reason: str = "",
        last_message: float = 0.0,
        seen: int = 0,
        next_seq: int = -1,
    ) -> None:
        self._r = r = _Record()
        r._h_last_seq, r._h_step, r._h_learned = last_seq, step, learned
        r._h_last_message, r._h_seen, r._h_next_seq = last_message, seen, next_seq
        r._h_rare = None
        self.gaps, self.missing, self.skipped = gaps, missing, skipped
        self.out_of_order, self.stale, self.stale_reason = out_of_order, stale, stale_reason

    @property
    def _rare(self) -> _RareHealth | None:
        """The rare counters' object (None while they are all at their defaults)."""
        r: _RareHealth | None = self._r._h_rare
        return r

    @classmethod
    def of(cls, stream: ItemStream) -> StreamHealth:
        """The view of the record ``stream`` keeps."""
        h = cls.__new__(cls)
        h._r = stream
        return h

    @classmethod
    def attach(cls, stream: ItemStream, record: Any) -> None:
        """Make ``record``'s values ``stream``'s record (``stream.health = record``); a
        :class:`StreamHealth` is then a view of the stream's."""
        if type(record) is not cls:
            raise TypeError(f"a stream's health is a {cls.__name__}, not {type(record).__name__}")
        r = record._r
        if r is stream:
            return
        for name in _Record.__slots__:
            setattr(stream, name, getattr(r, name))
        rare = r._h_rare
        if rare is not None:  # its own copy: the record may still be another stream's
            stream._h_rare = copy = _RareHealth()
            for name in _RareHealth.__slots__:
                setattr(copy, name, getattr(rare, name))
        if stream._h_last_message is None:
            stream._h_last_message = 0.0
        record._r = stream

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values = ", ".join(
            f"{n}={v!r}" for n, v in zip(self.__match_args__, self._values(), strict=True)
        )
        return f"StreamHealth({values})"


@dataclass
class _HealthFields:
    """The fields of :class:`StreamHealth` as a dataclass declares them, lent to it so that
    ``dataclasses.fields``, ``astuple``, ``asdict`` and ``replace`` take a health record."""

    last_seq: int | None = None
    step: int | None = None
    learned: int = 0
    gaps: int = 0
    missing: int = 0
    skipped: int = 0
    out_of_order: int = 0
    stale: bool = False
    stale_reason: str = ""
    last_message: float = 0.0
    seen: int = 0
    next_seq: int = -1


for _name in ("__dataclass_fields__", "__dataclass_params__", "__match_args__"):
    setattr(StreamHealth, _name, getattr(_HealthFields, _name))
use_health_record(StreamHealth)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose cached value differs from the server's (None: absent there)."""

    field: str
    cached: Any
    server: Any


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :meth:`Session.verify` for one item."""

    name: str
    ok: bool
    differences: tuple[Difference, ...] = ()
    error: str = ""


def compare_images(cached: Mapping[str, Any], server: Mapping[str, Any]) -> tuple[Difference, ...]:
    """Fields that differ between a cached image and the server's snapshot of it."""
    out: list[Difference] = []
    for name in sorted(set(cached) | set(server)):
        a, b = cached.get(name), server.get(name)
        if a != b and not (_nan(a) and _nan(b)):
            out.append(Difference(name, a, b))
    return tuple(out)


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


class IntegrityMonitor:
    """Sequence and staleness bookkeeping of a session's streams (no I/O of its own)."""

    def __init__(
        self,
        *,
        stale_after: float | None = None,
        on_event: Callable[[IntegrityEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after is not None and stale_after <= 0:
            raise ConfigError("stale_after must be positive")
        self.stale_after = stale_after
        self.on_event = on_event
        self.clock = clock
        # a stream's record is its ``health`` (no table of them: one entry per item); the
        # streams stale now, in the order they became so
        self._stale: dict[ItemStream, None] = {}
        self._last_now = -math.inf
        #: totals over every stream
        self.gaps = 0
        self.missing = 0
        self.out_of_order = 0
        self.stale_events = 0

    def forget(self, stream: ItemStream) -> None:
        """Stop tracking a stream the user closed."""
        self._stale.pop(stream, None)
        stream.health = None

    def health(self, stream: ItemStream) -> StreamHealth:
        """The health record of ``stream`` (created on first use)."""
        if stream._h_last_message is None:
            self._track(stream)
        return StreamHealth.of(stream)

    def _track(self, stream: ItemStream) -> None:
        """Start the record of ``stream`` (its slots from their defaults)."""
        stream.health = None
        stream._h_last_message = self._now()
        stream._h_seen = stream.updates + stream.refreshes

    def _now(self) -> float:
        """The clock, as one float object for the events of a burst: a reading within a
        millisecond of the last one gives that one again (a float less per item refreshed)."""
        t = self.clock()
        last = self._last_now
        if 0.0 <= t - last < 0.001:
            return last
        self._last_now = t
        return t

    @property
    def stale(self) -> list[ItemStream]:
        """The streams currently stale."""
        return list(self._stale)

    def observe(self, event: ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed) -> None:
        """Account for one item event of the session.

        An Update whose sequence number is ``stream.health.next_seq`` needs no more than
        ``h.last_seq = seq; h.next_seq = seq + h.step`` (what the session does inline)."""
        self._observe(event)
        s = event.stream
        if s._h_last_message is not None:
            step, last, stale = s._h_step, s._h_last_seq, _stale_reason(s) is not None
            if not stale and step and s._h_learned >= LEARN_DELTAS and last is not None:
                s._h_next_seq = last + step
            else:
                s._h_next_seq = -1

    def _observe(self, event: ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed) -> None:
        t = type(event)
        stream = event.stream
        if t is StreamClosed:
            self.forget(stream)
            return
        if stream._h_last_message is None:
            self._track(stream)
        stream._h_last_message = self._now()
        if t is ItemUpdated:
            # not ``message.seq_number``: the compiled core's event would build the message
            seq = event.seq_number  # type: ignore[union-attr]
            if seq is not None:
                self._sequence(stream, seq)
            if _stale_reason(stream) == "silent":
                self._fresh(stream)
            return
        if t is ItemRefreshed:  # without reading a message the compiled core left unread
            seq, state = event.seq_number, event.state  # type: ignore[union-attr]
            if seq is not None:
                stream._h_last_seq = seq
        else:
            msg = event.message  # type: ignore[union-attr]
            state = msg.state if isinstance(msg, (Refresh, Status)) else None
        if state is None:
            return
        if state.data == "Suspect":
            if _stale_reason(stream) != "suspect":
                rare = _rare(stream)
                rare.stale, rare.stale_reason = True, "suspect"
                self._stale[stream] = None
                self._emit(StreamStale(stream, "suspect", state.text or ""))
        elif (reason := _stale_reason(stream)) is not None and (
            state.data == "Ok" or reason == "silent"
        ):
            self._fresh(stream)

    def _sequence(self, stream: ItemStream, seq: int) -> None:
        last = stream._h_last_seq
        stream._h_last_seq = seq
        if last is None:
            return
        delta = seq - last
        if delta <= 0:
            _rare(stream).out_of_order += 1
            self.out_of_order += 1
            return
        step = stream._h_step
        if stream._h_learned < LEARN_DELTAS or step is None or delta % step:
            stream._h_step = delta if step is None else math.gcd(step, delta)
            stream._h_learned += 1
            return
        if delta == step:
            return
        missing = delta // step - 1
        if stream.request.view or stream.request.pause:
            _rare(stream).skipped += missing
            return
        rare = _rare(stream)
        rare.gaps += 1
        rare.missing += missing
        self.gaps += 1
        self.missing += missing
        self._emit(SequenceGap(stream, last + step, seq, missing))

    def _fresh(self, stream: ItemStream) -> None:
        rare = _rare(stream)
        rare.stale, rare.stale_reason = False, ""
        self._stale.pop(stream, None)
        self._emit(StreamFresh(stream))

    def _emit(self, event: IntegrityEvent) -> None:
        if isinstance(event, StreamStale):
            self.stale_events += 1
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a bug in user code must not take the connection down
                log.exception("on_integrity callback failed on %s", type(event).__name__)

    def check_silence(self, streams: Iterable[ItemStream]) -> None:
        """Mark stale the open streaming items silent for ``stale_after`` seconds."""
        limit = self.stale_after
        if limit is None:
            return
        now = self.clock()
        for s in streams:
            if s.phase is not Phase.OPEN or not s.streaming:
                continue
            if s._h_last_message is None:
                self._track(s)
            seen = s.updates + s.refreshes
            if seen != s._h_seen:  # updates on the fast path do not read the clock
                s._h_seen = seen
                s._h_last_message = now
                continue
            last: float = s._h_last_message  # type: ignore[assignment]
            if _stale_reason(s) is None and now - last >= limit:
                rare = _rare(s)
                rare.stale, rare.stale_reason = True, "silent"
                self._stale[s] = None
                s._h_next_seq = -1  # its next update must go through observe() (fresh again)
                self._emit(StreamStale(s, "silent", f"no message for {now - last:.1f} s"))

    async def watch(self, streams: Callable[[], Iterable[ItemStream]]) -> None:
        """Check for silent streams every fraction of ``stale_after``, forever; the streams
        :data:`SILENCE_SLICE` at a time, the loop reading frames in between (a sweep of
        20,000 streams in one callback took 20-50 ms, during which no frame was read)."""
        if self.stale_after is None:
            return
        period = max(0.05, self.stale_after / 4)
        while True:
            await asyncio.sleep(period)
            every = list(streams())
            for i in range(0, len(every), SILENCE_SLICE):
                if i:
                    await asyncio.sleep(0)
                self.check_silence(every[i : i + SILENCE_SLICE])
