"""A compact image packs a string of one or two characters below U+8000 that are not ASCII
(the tick arrows of BID_TICK_1 and PRCTCK_1) in a 4-byte slot, as it packs short codes: what
such strings read as after Refreshes and Updates in each core, and what they cost."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol import ClientProtocol, codec, core
from ertcloud.protocol.image import Layout
from ertcloud.protocol.messages import Key, Refresh, State, Update

make = core.compiled_image
pytestmark = pytest.mark.skipif(make is None, reason="the compiled core is not built")

FIRST = {"BID": 86.78, "BID_TICK_1": "⇧", "PRCTCK_1": "⇩", "CODE": "USD", "NAME": "éa"}


def _opened(core_name: str) -> tuple[ClientProtocol, object]:
    proto = ClientProtocol()
    if core_name != "class":  # the class's own: the compiled per-frame receive
        proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    (s,) = proto.request(["A.N"])
    proto.data_to_send(0.0)
    return proto, s


def _images_in_each_core(first: dict[str, object], *updates: dict[str, object]) -> list[str]:
    """The image after a Refresh of ``first`` and after each Update, the same in the pure
    core, the compiled dispatch and the compiled per-frame receive (values of the same type)."""
    images = []
    for name in ("pure", "compiled", "class"):
        proto, s = _opened(name)
        sid = s.id  # type: ignore[attr-defined]
        frames = [Refresh(id=sid, key=Key(name="A.N"), state=State("Open", "Ok"), fields=first)]
        frames += [Update(id=sid, fields=u) for u in updates]
        seen = []
        for f in frames:
            proto.receive(codec.encode([f]), 0.0)
            image = dict(s.fields)  # type: ignore[attr-defined]
            assert all(type(v) is type(s.fields[k]) for k, v in image.items())  # type: ignore[attr-defined]
            seen.append(repr(image))
        images.append(seen)
    assert images[0] == images[1] == images[2]
    return images[1]


# what a packed slot holds and what it does not (each of the latter makes the image wide)
VALUES = ["⇧", "⇩", "é", "éa", "a\u7fff", "\u0080", "", "R"]
VALUES += ["\u8000", "⇧⇧⇧", "\U0001f600", None, 1.5]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_characters_in_narrow_slots_follow_the_pure_core(value: object) -> None:
    seen = _images_in_each_core(
        FIRST,
        {"BID_TICK_1": "⇩", "PRCTCK_1": "⇧", "BID": 86.8},
        {"BID_TICK_1": value, "NAME": "\u00e9"},
        {"PRCTCK_1": value, "BID": 87.0},
    )
    assert "'BID_TICK_1': '⇩'" in seen[1] and "'NAME': 'é'" in seen[2]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=3), st.text(max_size=3))
def test_any_short_string_reads_back_as_given(first: str, then: str) -> None:
    assert make is not None
    names = ("A", "B")
    img = make(Layout(names), {"A": first, "B": "⇧"})
    assert dict(img) == {"A": first, "B": "⇧"}
    _images_in_each_core({"A": first, "B": "⇧"}, {"A": then, "B": first})


def test_an_arrow_packed_costs_half_a_slot() -> None:
    assert make is not None
    names = tuple(f"T{i}" for i in range(8))
    per_image = []
    for arrow in ("⇧⇧⇧", "⇧"):  # a shared object in 8 bytes, then packed in 4
        layout = Layout(names)
        fields = dict.fromkeys(names, arrow)
        n = 5_000
        gc.collect()
        tracemalloc.start()
        try:
            images = [make(layout, dict(fields)) for _ in range(n)]
            gc.collect()
            per_image.append(tracemalloc.get_traced_memory()[0] / n)
        finally:
            tracemalloc.stop()
        assert all(dict(img) == fields for img in images[:10])
    assert per_image[0] - per_image[1] >= 8 * 4 - 2, per_image
