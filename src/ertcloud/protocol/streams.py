"""Item streams: ids, states and the latest image of each item.

An :class:`ItemStream` keeps the request that opened it (to re-send it after a reconnect),
its stream/data state, and the cached image: a read-only field image for FieldList domains
(MarketPrice, YieldCurve; see :mod:`ertcloud.protocol.image`) or a :class:`MapImage` for Map
domains (MarketByPrice, MarketByOrder, MarketMaker, SymbolList). The state machine is the
table ``TRANSITIONS``.

The :class:`StreamTable` owns every stream of a connection and the :class:`Interner` that
lets images share repeated values (states, codes, dates, ripple shapes, layouts). The layer above
attaches itself to a stream through three typed attributes only: ``owner``
(:class:`StreamOwner`), ``deliver`` (:class:`UpdateSink`) and ``health``
(:class:`SequenceCheck`: a view, of the type :func:`use_health_record` sets, of the sequence
record the stream keeps in slots of its own); see :mod:`ertcloud.protocol.client` for the
whole seam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, overload

import msgspec

if TYPE_CHECKING:
    from .events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed

from ..exceptions import LimitExceeded
from .enums import FINAL_STREAM_STATES
from .fields import DATE, ENUM, FIELDS, TIME
from .image import FieldImage, Layout, Layouts
from .messages import Key, Refresh, Request, State, Status, Update
from .ripples import BUILTIN_RIPPLES, RippleRules

__all__ = [
    "MAX_FIELDS_PER_IMAGE",
    "MAX_MAP_ENTRIES",
    "RIPPLES",
    "TRANSITIONS",
    "FieldImage",
    "HealthRecord",
    "Interner",
    "ItemStream",
    "MapImage",
    "Phase",
    "SequenceCheck",
    "SharedRequest",
    "StreamOwner",
    "StreamSettings",
    "StreamTable",
    "UpdateSink",
    "apply_vector",
    "merge_fields",
    "ripple",
    "use_health_record",
]


#: Default cap on the fields of one image (and of a Map's summary or one of its entries).
#: The largest real records carry a few hundred fields; a server that keeps adding new
#: names would otherwise grow an image without bound.
MAX_FIELDS_PER_IMAGE = 10_000
#: Default cap on the entries of one Map image (order book, symbol list).
MAX_MAP_ENTRIES = 200_000


def _too_many(what: str, count: int, limit: int) -> LimitExceeded:
    return LimitExceeded(f"{what}: {count} > limit {limit}", limit=limit)


class Phase(Enum):
    """Where a stream is in its life, from the client's point of view."""

    PENDING = "pending"  # request sent (or queued), no answer yet
    REFRESHING = "refreshing"  # part of a multi-part refresh received
    OPEN = "open"  # image complete, updates flowing
    CLOSED = "closed"  # final: NonStreaming / Closed / ClosedRecover / Redirected / closed by us


_OPEN = Phase.OPEN
_EMPTY = FieldImage()  # the image of a stream before its first Refresh (never changed)

#: (phase, what arrived) -> next phase. "refresh" is a complete refresh, "part" an
#: incomplete one, "final" any message carrying a final stream state, "close" our Close.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (Phase.PENDING, "refresh"): Phase.OPEN,
    (Phase.PENDING, "part"): Phase.REFRESHING,
    (Phase.PENDING, "status"): Phase.PENDING,
    (Phase.PENDING, "update"): Phase.PENDING,
    (Phase.REFRESHING, "part"): Phase.REFRESHING,
    (Phase.REFRESHING, "refresh"): Phase.OPEN,
    (Phase.REFRESHING, "update"): Phase.REFRESHING,
    (Phase.REFRESHING, "status"): Phase.REFRESHING,
    (Phase.OPEN, "refresh"): Phase.OPEN,
    (Phase.OPEN, "part"): Phase.REFRESHING,
    (Phase.OPEN, "update"): Phase.OPEN,
    (Phase.OPEN, "status"): Phase.OPEN,
    (Phase.PENDING, "final"): Phase.CLOSED,
    (Phase.REFRESHING, "final"): Phase.CLOSED,
    (Phase.OPEN, "final"): Phase.CLOSED,
    (Phase.PENDING, "close"): Phase.CLOSED,
    (Phase.REFRESHING, "close"): Phase.CLOSED,
    (Phase.OPEN, "close"): Phase.CLOSED,
    (Phase.CLOSED, "close"): Phase.CLOSED,
}


#: The builtin table's ripple rules (a stream table's :attr:`StreamTable.ripples` may be
#: another dictionary's). Field -> the fields its previous values ripple into
#: (TRDPRC_1 -> TRDPRC_2 ... TRDPRC_5).
RIPPLES: dict[str, tuple[str, ...]] = BUILTIN_RIPPLES.chains
_RIPPLE_KEYS = BUILTIN_RIPPLES.keys
#: Field -> the (destination, source) moves of its ripple, farthest first.
_RIPPLE_MOVES: dict[str, tuple[tuple[str, str], ...]] = BUILTIN_RIPPLES.moves


def ripple(
    image: dict[str, Any], changed: dict[str, Any], rules: RippleRules = BUILTIN_RIPPLES
) -> None:
    """Shift ripple fields in ``image`` as a cache does before applying ``changed``."""
    for name in changed.keys() & rules.keys:
        rules.ripple(image, name)


#: Fields whose string values repeat across items (codes, dates, times): an image keeps
#: one shared copy of each such value instead of one per item.
_SHARED_VALUE_FIELDS = frozenset(n for n, fd in FIELDS.items() if fd.type in (ENUM, DATE, TIME))
_SHARED_VALUES_MAX = 200_000
_SHARED_STATES_MAX = 10_000


#: ``make(layout, fields)``: a compact image (the compiled core's ``CompactImage``), set by
#: :mod:`.core` where the extension was built
CompactFactory = Callable[[Layout, dict[str, Any]], Mapping[str, Any]]
_compact_factory: CompactFactory | None = None
_compact_default = False


def use_compact_images(factory: CompactFactory | None, default: bool) -> None:
    """Set the compact image type of the compiled core, and whether new interners
    (stream tables, standalone streams) make compact images by default."""
    global _compact_factory, _compact_default
    _compact_factory, _compact_default = factory, default and factory is not None


class Interner:
    """The values images share, bounded: one State object per distinct state, one copy
    of each code/date/time string, one :class:`~ertcloud.protocol.image.Layout` per image
    shape. Owned by a :class:`StreamTable`; nothing shared is ever changed after it is
    received. ``compact``: MarketPrice images are the compiled core's compact ones."""

    __slots__ = ("_states", "_values", "compact", "layouts")

    def __init__(self) -> None:
        self._states: dict[tuple[str, str, str | None, str | None], State] = {}
        self._values: dict[str, str] = {}
        self.layouts = Layouts()
        self.compact = _compact_default

    def image(self, fields: dict[str, Any], domain: str) -> Mapping[str, Any]:
        """The image of ``fields`` (which it takes over): compact for a MarketPrice item
        when :attr:`compact` (and the shape has a layout), else a :class:`FieldImage`."""
        make = _compact_factory
        if self.compact and make is not None and domain == "MarketPrice":
            layout = self.layouts.get(tuple(fields))
            if layout is not None:
                return make(layout, fields)
        return FieldImage._of(fields)

    def state(self, state: State) -> State:
        """One State object for all streams in the same state (thousands of items are
        "Open/Ok/All is well")."""
        key = (state.stream, state.data, state.code, state.text)
        shared = self._states.get(key)
        if shared is None:
            if len(self._states) >= _SHARED_STATES_MAX:
                return state
            self._states[key] = shared = state
        return shared

    def sharer(self) -> Callable[[str, str], str]:
        """``share(value, value)`` gives the shared copy of a string (the value itself once
        the table is full: it never grows past its bound)."""
        table = self._values
        return table.setdefault if len(table) < _SHARED_VALUES_MAX else table.get

    def share_values(self, image: dict[str, Any]) -> None:
        """Replace the strings of code, date and time fields with one shared copy each:
        about 1.4 KB less per equity image."""
        share = self.sharer()
        for name in image.keys() & _SHARED_VALUE_FIELDS:
            value = image[name]
            if type(value) is str:
                image[name] = share(value, value)

    def whole_chains(
        self, image: dict[str, Any], rules: RippleRules = BUILTIN_RIPPLES
    ) -> frozenset[str]:
        """The ripple fields of ``image`` whose whole chain (sources and destinations) it
        holds under ``rules``: those ripple without a membership check per move."""
        return rules.whole_chains(image)


class StreamSettings:
    """The limits and shared values of a stream table, held once for all its streams (each
    stream refers to it): a change made on one stream gives that stream a copy of its own."""

    __slots__ = ("interner", "max_fields", "max_map_entries")

    def __init__(
        self,
        interner: Interner,
        max_fields: int = MAX_FIELDS_PER_IMAGE,
        max_map_entries: int = MAX_MAP_ENTRIES,
    ) -> None:
        self.interner = interner
        self.max_fields = max_fields
        self.max_map_entries = max_map_entries

    def but(self, **changes: Any) -> StreamSettings:
        """These settings with ``changes`` (these themselves when nothing changes)."""
        now = {n: getattr(self, n) for n in self.__slots__}
        if all(now[n] is v or now[n] == v for n, v in changes.items()):
            return self
        return StreamSettings(**{**now, **changes})


class _Limit:
    """A limit of :class:`ItemStream`, read from its :class:`StreamSettings` (set: a copy of
    those with the new value, the stream's own)."""

    def __init__(self, default: int) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Limit: ...
    @overload
    def __get__(self, obj: ItemStream, owner: type) -> int: ...
    def __get__(self, obj: ItemStream | None, owner: type) -> _Limit | int:
        if obj is None:
            return self
        s = obj._settings
        if s is None:
            return self.default
        value: int = getattr(s, self.name)
        return value

    def __set__(self, obj: ItemStream, value: int) -> None:
        obj._settings = obj._own_settings().but(**{self.name: value})


class UpdateSink(Protocol):
    """Takes each :class:`~ertcloud.protocol.events.ItemUpdated` of a stream straight from
    :meth:`~ertcloud.protocol.client.ClientProtocol.receive` (the hot path)."""

    def __call__(self, event: ItemUpdated, /) -> None: ...


class StreamOwner(Protocol):
    """What owns a stream in the layer above (a subscription): it is handed the stream's
    events that :meth:`~ertcloud.protocol.client.ClientProtocol.receive` returns."""

    def deliver_update(self, event: ItemUpdated, /) -> None: ...

    def deliver(self, event: ItemRefreshed | ItemStatus | StreamClosed, /) -> None: ...


class SequenceCheck(Protocol):
    """The layer above's record of a stream's sequence numbers: an Update numbered
    ``next_seq`` is the expected next one (``last_seq = seq; next_seq = seq + step``)."""

    next_seq: int
    last_seq: int | None
    step: int | None


class HealthRecord(Protocol):
    """The layer above's type of :attr:`ItemStream.health`, a view of the stream's slots."""

    @classmethod
    def of(cls, stream: ItemStream, /) -> SequenceCheck:
        """The view of ``stream``'s record."""
        ...

    @classmethod
    def attach(cls, stream: ItemStream, record: SequenceCheck, /) -> None:
        """Make ``record``'s values the record of ``stream``."""
        ...


_health_record: type[HealthRecord] | None = None


def use_health_record(record: type[HealthRecord]) -> None:
    """Set the type :attr:`ItemStream.health` gives (the client's ``StreamHealth``)."""
    global _health_record
    _health_record = record


def merge_fields(
    image: dict[str, Any], changed: dict[str, Any], max_entries: int | None = None
) -> None:
    """Apply changed fields; a Vector field is updated entry by entry, not replaced (and
    :class:`~ertcloud.exceptions.LimitExceeded` raised past ``max_entries`` entries)."""
    for name, value in changed.items():
        current = image.get(name)
        if isinstance(value, dict) and isinstance(current, dict) and "Entries" in value:
            image[name] = merged = apply_vector(current, value)
            if max_entries is not None and len(merged["Entries"]) > max_entries:
                raise _too_many(f"entries in vector {name}", len(merged["Entries"]), max_entries)
        else:
            image[name] = value


def apply_vector(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A Vector container after applying ``update``'s Summary and its entries' actions
    (Set replaces, Update merges, Clear empties, Insert and Delete shift the indices)."""
    rows: dict[int, dict[str, Any]] = {}
    for e in current.get("Entries") or ():
        if isinstance(e, dict) and isinstance(e.get("Index"), int):
            rows[e["Index"]] = e
    for e in update.get("Entries") or ():
        if not isinstance(e, dict) or not isinstance(e.get("Index"), int):
            continue
        i, action = e["Index"], e.get("Action", "Set")
        if action == "Delete":
            rows.pop(i, None)
            rows = {
                (k - 1 if k > i else k): {**v, "Index": k - 1 if k > i else k}
                for k, v in rows.items()
            }
        elif action == "Insert":
            rows = {
                (k + 1 if k >= i else k): {**v, "Index": k + 1 if k >= i else k}
                for k, v in rows.items()
            }
            rows[i] = {**e, "Action": "Set"}
        elif action == "Update" and i in rows:
            old = rows[i]
            rows[i] = {**old, "Fields": {**(old.get("Fields") or {}), **(e.get("Fields") or {})}}
        elif action == "Clear":
            rows[i] = {"Index": i, "Action": "Set", "Fields": {}}
        else:
            rows[i] = {**e, "Action": "Set"}
    out = {k: v for k, v in current.items() if k != "Entries"}
    summary = update.get("Summary")
    if isinstance(summary, dict):
        old_summary = out.get("Summary")
        out["Summary"] = {**(old_summary if isinstance(old_summary, dict) else {}), **summary}
    out["Entries"] = [rows[k] for k in sorted(rows)]
    return out


@dataclass(slots=True)
class MapImage:
    """The cached image of a Map-based item (an order book, a symbol list)."""

    summary: dict[str, Any] = field(default_factory=dict)
    entries: dict[Any, dict[str, Any]] = field(default_factory=dict)
    max_entries: int = MAX_MAP_ENTRIES
    max_fields: int = MAX_FIELDS_PER_IMAGE

    def apply(self, container: dict[str, Any]) -> None:
        """Apply a Map container's Summary and Entries (Add, Update, Delete) in order.

        Raises :class:`~ertcloud.exceptions.LimitExceeded` past ``max_entries`` entries or
        ``max_fields`` fields in the summary or in one entry."""
        summary = container.get("Summary")
        if isinstance(summary, dict):
            sf = summary.get("Fields")
            if isinstance(sf, dict):
                self.summary.update(sf)
                if len(self.summary) > self.max_fields:
                    raise _too_many("fields in a map summary", len(self.summary), self.max_fields)
        entries = container.get("Entries")
        for entry in entries if isinstance(entries, list) else ():  # hostile input: ignore
            if not isinstance(entry, dict):
                continue
            key = entry.get("Key")
            if isinstance(key, (list, dict)):
                key = repr(key)
            action = entry.get("Action")
            data = entry.get("Fields")
            if data is None:
                data = entry.get("Elements")
            if action == "Delete":
                self.entries.pop(key, None)
            elif action == "Add":
                self.entries[key] = row = dict(data) if isinstance(data, dict) else {}
                if len(row) > self.max_fields:
                    raise _too_many("fields in a map entry", len(row), self.max_fields)
            elif action == "Update":
                current = self.entries.setdefault(key, {})
                if isinstance(data, dict):
                    current.update(data)
                    if len(current) > self.max_fields:
                        raise _too_many("fields in a map entry", len(current), self.max_fields)
            if len(self.entries) > self.max_entries:
                raise _too_many("entries in a map", len(self.entries), self.max_entries)


@dataclass(eq=False, slots=True)
class ItemStream:
    """One item stream of a connection.

    ``apply_refresh`` and ``apply_update`` raise :class:`~ertcloud.exceptions.LimitExceeded`
    when the image passes ``max_fields`` fields (or its Map ``max_map_entries`` entries):
    the connection is then to be dropped and the item requested again."""

    id: int
    request: Request
    name: str
    domain: str = "MarketPrice"
    service: str | int | None = None
    phase: Phase = Phase.PENDING
    state: State | None = None
    #: the cached image (read-only; see :mod:`ertcloud.protocol.image`)
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    map: MapImage | None = None
    seq_number: int | None = None
    refreshes: int = 0
    updates: int = 0
    batch_id: int | None = None
    sent: bool = False  # request written on the current connection
    #: the owner of the stream in the layer above (a subscription)
    owner: StreamOwner | None = None
    #: called with each ItemUpdated instead of returning it from ``receive`` (set by the
    #: layer above to skip a dispatch step on the hot path)
    deliver: UpdateSink | None = None
    #: ripple fields whose whole chain is in the image (set at each Refresh)
    whole_chains: frozenset[str] = frozenset()
    #: the ripple rules of the table the stream belongs to (set by StreamTable.add)
    ripples: RippleRules = BUILTIN_RIPPLES
    # The settings of the table the stream belongs to, one object for all its streams (set by
    # StreamTable.add; None: the defaults and an interner of its own, made on first use).
    _settings: StreamSettings | None = field(default=None, init=False, repr=False)
    # The layer above's sequence record of the stream (see ``health``), in the stream's own
    # slots rather than in an object of its own per item. ``_h_last_message`` None: no record.
    _h_last_seq: int | None = field(default=None, init=False, repr=False)
    _h_next_seq: int = field(default=-1, init=False, repr=False)
    _h_step: int | None = field(default=None, init=False, repr=False)
    _h_learned: int = field(default=0, init=False, repr=False)
    _h_last_message: float | None = field(default=None, init=False, repr=False)
    _h_seen: int = field(default=0, init=False, repr=False)
    _h_rare: Any = field(default=None, init=False, repr=False)

    def _own_settings(self) -> StreamSettings:
        s = self._settings
        if s is None:
            s = self._settings = StreamSettings(Interner())
        return s

    #: At most this many fields in the image (the table's limit).
    max_fields = _Limit(MAX_FIELDS_PER_IMAGE)
    #: At most this many entries in a Map image (the table's limit).
    max_map_entries = _Limit(MAX_MAP_ENTRIES)

    @property
    def interner(self) -> Interner:
        """The shared values of the table the stream belongs to."""
        return self._own_settings().interner

    @interner.setter
    def interner(self, value: Interner) -> None:
        self._settings = self._own_settings().but(interner=value)

    @property
    def health(self) -> SequenceCheck | None:
        """The layer above's sequence record of this stream (None: it keeps none): a view of
        the stream's own slots, made on each access (see :func:`use_health_record`)."""
        if self._h_last_message is None or _health_record is None:
            return None
        return _health_record.of(self)

    @health.setter
    def health(self, value: SequenceCheck | None) -> None:
        if value is None:
            self._h_last_seq = self._h_step = self._h_last_message = self._h_rare = None
            self._h_next_seq = -1
            self._h_learned = self._h_seen = 0
        elif _health_record is None:
            raise TypeError("no health record type is registered")
        else:
            _health_record.attach(self, value)

    @property
    def user(self) -> StreamOwner | None:
        """Former name of :attr:`owner`."""
        return self.owner

    @user.setter
    def user(self, value: StreamOwner | None) -> None:
        self.owner = value

    @property
    def streaming(self) -> bool:
        return self.request.streaming is not False

    @property
    def is_open(self) -> bool:
        return self.phase is not Phase.CLOSED

    @property
    def data_ok(self) -> bool:
        return self.state is not None and self.state.data == "Ok"

    def _step(self, what: str) -> None:
        self.phase = TRANSITIONS[(self.phase, what)]

    def apply_refresh(self, msg: Refresh) -> None:
        clear = msg.clear_cache is not False
        if clear:
            self.map = None
        if not msg.fields and clear:
            self.fields = _EMPTY
        elif msg.fields:
            image = {} if clear else dict(self.fields)
            image.update(msg.fields)
            if len(image) > self.max_fields:
                self.fields = FieldImage._of(image)
                raise _too_many(f"fields in the image of {self.name}", len(image), self.max_fields)
            self.interner.share_values(image)
            self.fields = self.interner.image(image, self.domain)
        self.whole_chains = self.ripples.whole_chains(self.fields)
        if msg.map is not None:
            if self.map is None:
                self.map = self._new_map()
            self.map.apply(msg.map)
        if msg.seq_number is not None:
            self.seq_number = msg.seq_number
        if msg.state is not None:
            self.state = self.interner.state(msg.state)
        if msg.key is not None and isinstance(msg.key.service, str):
            self.service = self.interner.sharer()(msg.key.service, msg.key.service)
        self.refreshes += 1
        if self.state is not None and self.state.stream in FINAL_STREAM_STATES:
            complete = msg.complete is not False
            if complete:
                self._step("final")
                return
        self._step("part" if msg.complete is False else "refresh")

    def apply_update(self, msg: Update) -> None:
        # The hot path of the client: each line here costs on every message.
        f = msg.fields
        if msg.do_not_cache:  # for display only: the cached image stays as it is
            pass
        elif f:
            image: FieldImage | None = self.fields  # type: ignore[assignment]
            if type(image) is not FieldImage or image is _EMPTY:
                image = self._apply_to_other(msg, f)
            if image is not None:
                img = image._d
                if not msg.do_not_ripple:
                    rules = self.ripples
                    for name in f.keys() & rules.keys:
                        if name in self.whole_chains:
                            for dst, src in rules.moves[name]:
                                img[dst] = img[src]
                        else:
                            rules.ripple(img, name)
                if self.domain == "MarketPrice":
                    img.update(f)
                else:  # other domains may carry containers (YieldCurve vectors) as values
                    merge_fields(img, f, self.max_map_entries)
                if len(img) > self.max_fields:
                    raise _too_many(
                        f"fields in the image of {self.name}", len(img), self.max_fields
                    )
        elif msg.map is not None:
            if self.map is None:
                self.map = self._new_map()
            self.map.apply(msg.map)
        if msg.seq_number is not None:
            self.seq_number = msg.seq_number
        self.updates += 1
        if self.phase is not _OPEN:  # (OPEN, "update") -> OPEN: skip the table
            self._step("update")

    def _apply_to_other(self, msg: Update, f: dict[str, Any]) -> FieldImage | None:
        """``apply_update``'s fields on an image other than a FieldImage of the stream's
        own: a compact one applies them (None returned); the empty image or a dict (set
        from outside) gives a new FieldImage for the caller to apply them to."""
        image = self.fields
        if type(image) is FieldImage or type(image) is dict:
            self.fields = new = FieldImage(image)  # the empty image is never changed
            return new
        # a compact image ripples and merges by itself
        image._apply(f, self.ripples, self.whole_chains, not msg.do_not_ripple)  # type: ignore[attr-defined]
        if len(image) > self.max_fields:
            raise _too_many(f"fields in the image of {self.name}", len(image), self.max_fields)
        return None

    def _new_map(self) -> MapImage:
        return MapImage(max_entries=self.max_map_entries, max_fields=self.max_fields)

    def apply_status(self, msg: Status) -> None:
        if msg.state is not None:
            self.state = self.interner.state(msg.state)
        if msg.clear_cache:
            self.fields = _EMPTY
            self.whole_chains = frozenset()
            self.map = None
        if self.state is not None and self.state.stream in FINAL_STREAM_STATES:
            self._step("final")
        else:
            self._step("status")

    def mark_closed(self) -> None:
        self._step("close")


_REQUEST_SLOT: Any = ItemStream.__dict__["request"]  # the slot that holds ItemStream.request


class SharedRequest:
    """The request of every member of one batch, held once for the batch instead of one
    per member stream: a member's own :attr:`ItemStream.request` (its id, its name in the
    Key) is built from ``template`` each time it is read, until one is set on the stream."""

    __slots__ = ("template",)

    def __init__(self, template: Request) -> None:
        self.template = template

    def attach(self, stream: ItemStream) -> None:
        """Make this the request of ``stream`` (whose id and name it then takes)."""
        _REQUEST_SLOT.__set__(stream, self)

    def of(self, stream: ItemStream) -> Request:
        """The request of the member ``stream``."""
        t = self.template
        key = Key(name=stream.name) if t.key is None else t.key
        return msgspec.structs.replace(
            t, id=stream.id, key=msgspec.structs.replace(key, name=stream.name)
        )


def _request(stream: ItemStream) -> Request:
    r = _REQUEST_SLOT.__get__(stream, ItemStream)
    return r.of(stream) if type(r) is SharedRequest else r


# ``request`` read through the slot: the request set on the stream, else its batch's (setattr:
# mypy refuses an assignment over a slot)
_doc = "The request that opened the stream (re-sent after a reconnect)."
setattr(ItemStream, "request", property(_request, _REQUEST_SLOT.__set__, doc=_doc))  # noqa: B010


class StreamTable:
    """Stream ids of one client: allocation (batches reserve ranges) and lookup.

    Every stream added gets the table's ``max_fields`` and ``max_map_entries`` limits and
    shares its :attr:`interner`."""

    def __init__(self, first_id: int = 2, reserved: frozenset[int] = frozenset({1})) -> None:
        self.max_fields = MAX_FIELDS_PER_IMAGE
        self.max_map_entries = MAX_MAP_ENTRIES
        #: the values the images of this table share
        self.interner = Interner()
        # what its streams refer to (a new one when the settings above have changed)
        self._settings = StreamSettings(self.interner)
        #: the ripple rules of the dictionary in use (see :meth:`use_ripples`)
        self.ripples: RippleRules = BUILTIN_RIPPLES
        self._streams: dict[int, ItemStream] = {}
        #: ``get`` without the method call (the dict's own, for the hot path)
        self.lookup = self._streams.get
        self._batches: dict[int, list[int]] = {}
        self._next = first_id
        self._reserved = set(reserved)

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[ItemStream]:
        return iter(list(self._streams.values()))

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._streams

    def get(self, stream_id: int) -> ItemStream | None:
        return self._streams.get(stream_id)

    def allocate(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive free ids; returns the first."""
        start = self._next
        while any(
            i in self._streams or i in self._batches or i in self._reserved
            for i in range(start, start + count)
        ):
            start += 1
        self._next = start + count
        if self._next > 2**31 - 1 - 1_000_000:
            self._next = 2
        return start

    def add(self, stream: ItemStream) -> None:
        shared = self._settings
        if not (
            shared.interner is self.interner
            and shared.max_fields == self.max_fields
            and shared.max_map_entries == self.max_map_entries
        ):
            self._settings = shared = StreamSettings(
                self.interner, self.max_fields, self.max_map_entries
            )
        stream._settings = shared
        stream.ripples = self.ripples
        self._streams[stream.id] = stream

    def use_ripples(self, rules: RippleRules) -> None:
        """Ripple by ``rules`` from now on, in every stream (those already open too)."""
        self.ripples = rules
        for stream in self._streams.values():
            stream.ripples = rules
            stream.whole_chains = rules.whole_chains(stream.fields)

    def add_batch(self, batch_id: int, member_ids: list[int]) -> None:
        self._batches[batch_id] = member_ids

    def pop_batch(self, batch_id: int) -> list[int] | None:
        return self._batches.pop(batch_id, None)

    def is_batch(self, stream_id: int) -> bool:
        return stream_id in self._batches

    def remove(self, stream_id: int) -> ItemStream | None:
        return self._streams.pop(stream_id, None)

    def clear_batches(self) -> None:
        self._batches.clear()
