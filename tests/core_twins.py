"""Two ClientProtocols, one per receive core, fed the same frames and compared.

Used by the differential property test (tests/protocol/test_protocol_core_twins.py) and
the coverage-guided fuzz target (fuzzing/fuzz_core_twins.py)."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

from ertcloud.exceptions import LimitExceeded
from ertcloud.protocol import ClientProtocol, codec
from ertcloud.protocol.core import CORE, compiled_dispatch, select
from ertcloud.protocol.messages import Key, Refresh, State

__all__ = ["FIELD_VALUES", "MAP_KEYS", "RIPPLE_NAMES", "Twins", "core_protocol"]

OK = State(stream="Open", data="Ok")
RIPPLE_NAMES = [
    "TRDPRC_1", "TRDPRC_2", "TRDPRC_3", "TRDPRC_4", "TRDPRC_5",
    "BID", "BID_1", "BID_2", "ASK", "ASK_1", "ASK_2",
]  # fmt: skip
#: field values of every kind a message may carry (huge integers, a Vector, a list too)
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just({"Entries": [{"Index": 0, "Action": "Set", "Fields": {"A": 1}}]}),
    st.lists(st.integers(), max_size=2),
)
#: keys of the order books' entries (the frames of the tests address these and others)
MAP_KEYS = ["MTAwLjAxQQ==", "OTkuOTlC", "k1"]


# Strategies the property tests draw from in composites and loops, built once per argument:
# one built there is built again, and its properties worked out again, at every draw.
@functools.cache
def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """``st.integers(lo, hi)``."""
    return st.integers(lo, hi)


@functools.cache
def stream_ids(ids: tuple[int, ...]) -> st.SearchStrategy[int]:
    """One of ``ids``, or 999 (a stream the table does not hold)."""
    return st.sampled_from([*ids, 999])


MAP_ENTRIES: list[dict[str, Any]] = [
    {"Action": "Add", "Key": k, "Fields": {"ORDER_PRC": 100.0 + i, "ORDER_SIDE": "BID"}}
    for i, k in enumerate(MAP_KEYS[:2])
]
#: name, domain, image at the Refresh (whole chains, a view missing links, no ripple fields;
#: a Map for MarketByPrice items)
ITEMS: list[tuple[str, str, dict[str, Any]]] = [
    ("WHOLE.L", "MarketPrice", {n: float(i) for i, n in enumerate(RIPPLE_NAMES)} | {"X": 1}),
    ("VIEW.L", "MarketPrice", {"TRDPRC_1": 1.0, "TRDPRC_3": 3.0, "BID": 2.0, "ASK_2": None}),
    ("PLAIN.L", "MarketPrice", {"DSPLY_NAME": "PLAIN", "ACVOL_1": 10}),
    ("SMALL.L", "MarketPrice", {"BID": 1.0, "ASK": 2.0}),  # max_fields 4: LimitExceeded
    ("CURVE", "YieldCurve", {"BID": 1.0, "CRV": {"Entries": [{"Index": 0, "Fields": {}}]}}),
    ("PENDING.L", "MarketPrice", {}),  # never refreshed: updates arrive before the image
    # Map items (the Refresh carries a Map): an order book, one with small limits
    # (max_map_entries 3, max_fields 3: LimitExceeded), one refreshed without a Map (no book)
    ("BOOK.L", "MarketByPrice", {"KeyType": "Buffer", "Entries": MAP_ENTRIES}),
    ("TINY.L", "MarketByPrice", {"Summary": {"Fields": {"CURRENCY": "EUR"}}, "Entries": []}),
    ("NOBOOK.L", "MarketByPrice", {}),
]


def core_protocol(core: str) -> ClientProtocol:
    """A logged-in core with the streams of ``ITEMS`` refreshed, on the receive ``core``
    ("pure" or "compiled": its dispatch loop and its fast path, which the Python ``receive``
    calls; "default": the class's own, in the compiled core its compiled ``receive``)."""
    proto = ClientProtocol()
    if core != "default":
        proto.dispatch, proto.fast_decode = select(core)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("tok")
    login = Refresh(id=1, domain="Login", state=OK, elements={"PingTimeout": 30})
    proto.receive(codec.encode([login]), 0.0)
    for name, domain, image in ITEMS:
        (s,) = proto.request(name, domain=domain)
        if name == "SMALL.L":
            s.max_fields = 4
        if name == "TINY.L":
            s.max_fields = s.max_map_entries = 3
        key = Key(name=name)
        if domain == "MarketByPrice":
            refresh = Refresh(id=s.id, domain=domain, key=key, state=OK, map=image or None)
        elif image:
            refresh = Refresh(id=s.id, domain=domain, key=key, state=OK, fields=image)
        else:
            continue
        proto.receive(codec.encode([refresh]), 0.0)
    return proto


class Twins:
    """The pure and the compiled core side by side (and the compiled ``receive`` where the
    class has it); :meth:`feed` asserts they agree."""

    def __init__(self) -> None:
        if compiled_dispatch is None:
            raise RuntimeError("the compiled core is not built")
        self.protos = [core_protocol("pure"), core_protocol("compiled")]
        if CORE == "compiled":
            self.protos.append(core_protocol("default"))
        self.delivered: list[list[Any]] = [[] for _ in self.protos]
        for proto, seen in zip(self.protos, self.delivered, strict=True):
            for s in proto.streams:
                if s.id % 2 == 0:  # half the streams deliver straight to a callback
                    s.deliver = seen.append

    @property
    def ids(self) -> list[int]:
        return sorted(s.id for s in self.protos[0].streams)

    def feed(self, frame: bytes | str) -> None:
        outcomes = []
        for proto, seen in zip(self.protos, self.delivered, strict=True):
            seen.clear()
            try:
                evs: Any = proto.receive(frame, 0.0)
            except LimitExceeded as exc:
                evs = ("LimitExceeded", str(exc))
            outcomes.append((_events(evs), _events(seen), _images(proto)))
        for other in outcomes[1:]:
            assert outcomes[0] == other, frame


def _events(evs: Any) -> Any:
    if isinstance(evs, tuple):
        return evs
    out = []
    for e in evs:
        s = getattr(e, "stream", None)
        fields = {f: getattr(e, f) for f in e.__struct_fields__ if f != "stream"}
        out.append((type(e).__name__, None if s is None else s.id, repr(fields)))
    return out


def _images(proto: ClientProtocol) -> Any:
    return [
        (s.id, s.phase, repr(s.fields), repr(s.map), s.seq_number, s.updates, s.refreshes)
        for s in sorted(proto.streams, key=lambda s: s.id)
    ]
