"""The compact image keeps the ASCII strings of a Refresh that no other image shares as
their bytes, not as objects: what they read as, and what they cost."""

from __future__ import annotations

import gc
import pickle
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol import ClientProtocol, codec, core
from ertcloud.protocol.image import FieldImage, Layout
from ertcloud.protocol.messages import Key, Refresh, State, Update

make = core.compiled_image
pytestmark = pytest.mark.skipif(make is None, reason="the compiled core is not built")

NAMES = ("ISIN", "NAME", "MNEMONIC", "DESC", "CODE", "ACCENT", "BID", "NONE")


def _fields(i: int) -> dict[str, object]:
    name = f"N{i:08d}"
    return {
        "ISIN": f"US{i:010d}",  # one item's own
        "NAME": name,
        "MNEMONIC": name,  # the same string twice in one image
        "DESC": f"{name} " + "x" * 40,  # past the 32 bytes the table shares
        "CODE": "USD",  # every item's
        "ACCENT": f"é{i}",  # not ASCII: an object
        "BID": 1.5,
        "NONE": None,
    }


def test_strings_of_a_refresh_read_back_as_given() -> None:
    assert make is not None
    layout = Layout(NAMES)
    for i in (0, 1, 7, 123456):
        d = _fields(i)
        img = make(layout, dict(d))
        assert dict(img) == d and list(img.items()) == list(d.items())
        for k, v in d.items():
            assert img[k] == v and type(img[k]) is type(v)
        assert pickle.loads(pickle.dumps(img)) == d
        assert type(pickle.loads(pickle.dumps(img))) is FieldImage


def test_an_update_and_a_ripple_replace_a_kept_string() -> None:
    proto = ClientProtocol()
    proto.dispatch, proto.fast_decode = core.select("compiled")  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    (s,) = proto.request(["A.N"])
    proto.data_to_send(0.0)
    image = {"TRDPRC_1": "T1-ABCDEFGHIJ", "TRDPRC_2": "T2-KLMNOPQRST", "TRADE_ID": "ID-0001"}
    refresh = Refresh(id=s.id, key=Key(name="A.N"), state=State("Open", "Ok"), fields=image)
    proto.receive(codec.encode([refresh]), 0.0)
    assert type(s.fields).__name__ == "CompactImage" and dict(s.fields) == image
    update = Update(id=s.id, fields={"TRDPRC_1": 10.5, "TRADE_ID": "ID-0002"})
    proto.receive(codec.encode([update]), 0.0)
    assert dict(s.fields) == {"TRDPRC_1": 10.5, "TRDPRC_2": "T1-ABCDEFGHIJ", "TRADE_ID": "ID-0002"}


def test_a_strings_own_bytes_cost_less_than_an_object() -> None:
    assert make is not None
    layout = Layout(NAMES)
    n = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        images = [make(layout, _fields(i)) for i in range(n)]  # the dicts are dropped
        gc.collect()
        per_image = tracemalloc.get_traced_memory()[0] / n
    finally:
        tracemalloc.stop()
    assert len(images) == n and images[n - 1]["ISIN"] == f"US{n - 1:010d}"
    # 8 values of 8 bytes, their tags, the ISIN, the name once and the long description in
    # the image's bytes (75), the image object (56), the accented string (an object of 80):
    # about 280 with the table's share; each of the three strings as an object took 50-100
    assert per_image < 330, per_image


def _opened(core_name: str) -> tuple[ClientProtocol, object]:
    proto = ClientProtocol()
    if core_name != "class":  # the class's own: the compiled per-frame receive
        proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    (s,) = proto.request(["A.N"])
    proto.data_to_send(0.0)
    return proto, s


FIRST = {
    "BID": 86.78,
    "BID_1": 86.7,
    "ASK": 86.79,
    "ACVOL_1": 1756100,
    "PCTCHNG": -0.57,
    "TURNOVER": 304618901.13,
    "UPLIMIT": None,
    "TRADE_ID": "848989",
}
# values a 4-byte slot cannot hold, one Update each: every one makes the image wide (but "R",
# which a slot holds packed)
ODD = [1 / 3, 2**40, "R", "ABCDE", True, -0.0, float("nan"), 1e300, 134217728.0, 0.1234567891, None]


def _images_in_each_core(first: dict[str, object], *updates: dict[str, object]) -> list[list[str]]:
    """The image after a Refresh of ``first`` and after each Update, in the pure core, the
    compiled dispatch and the compiled per-frame receive (each value of the same type)."""
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


@pytest.mark.parametrize("odd", ODD, ids=repr)
def test_numbers_in_narrow_slots_follow_the_pure_core(odd: object) -> None:
    _images_in_each_core(
        FIRST,
        {"BID": 86.8, "ACVOL_1": 1756200, "PCTCHNG": 0.0},
        {"BID": odd, "ASK": 12.5},
        {"BID": 87.0, "ACVOL_1": odd},
    )


DATED = {
    "BID": 86.78,
    "QUOTE_DATE": "2026-12-07",
    "QUOTIM": "19:48:38",
    "HSTCLSDATE": "0000-00-00",
    "SALTIM": "99:99:99",
    "CODE": "USD",
}
# strings a packed date, time or code slot cannot hold, one Update each: each makes the image wide
ODD_DATES = [
    "2026-12-7",
    "19:48:38.5",
    "12345",
    "19-48-38",
    "2026:12:07",
    "2026-1a-07",
    "\u00b99:48:38",  # a superscript one: not ASCII
    None,
    20261207,
]


@pytest.mark.parametrize("odd", ODD_DATES, ids=repr)
def test_dates_and_times_in_narrow_slots_follow_the_pure_core(odd: object) -> None:
    seen = _images_in_each_core(
        DATED,
        {"QUOTE_DATE": "9999-01-31", "QUOTIM": "00:00:00", "BID": 86.8},
        {"QUOTIM": odd, "SALTIM": "23:59:59"},
        {"QUOTE_DATE": odd, "QUOTIM": "12:00:01"},
    )
    assert "'QUOTE_DATE': '9999-01-31'" in seen[1] and "'SALTIM': '23:59:59'" in seen[2]


def test_a_date_time_or_short_code_packed_costs_half_a_slot() -> None:
    assert make is not None
    names = tuple(f"D{i}" for i in range(8))
    dated = {n: ("2026-12-07" if i % 2 else "19:48:38") for i, n in enumerate(names)}
    # "USD.1" a shared object in 8 bytes, "NYSE" packed in 4
    coded = {n: ("USD.1" if i % 2 else "NYSE") for i, n in enumerate(names)}
    per_image = [_per_image(names, fields) for fields in (dated, coded)]
    assert per_image[1] - per_image[0] >= 4 * 4 - 2, per_image


def _per_image(names: tuple[str, ...], fields: dict[str, object], n: int = 5_000) -> float:
    """The bytes each of ``n`` compact images of ``fields`` (in a new layout) takes."""
    assert make is not None
    layout = Layout(names)
    gc.collect()
    tracemalloc.start()
    try:
        images = [make(layout, dict(fields)) for _ in range(n)]
        gc.collect()
        per_image = tracemalloc.get_traced_memory()[0] / n
    finally:
        tracemalloc.stop()
    assert all(dict(img) == fields for img in images[:10])
    return per_image


# A string of one or two characters below U+8000 that are not ASCII (the tick arrows of
# BID_TICK_1 and PRCTCK_1) is packed in a 4-byte slot as a short code is.
ARROWS = {"BID": 86.78, "BID_TICK_1": "⇧", "PRCTCK_1": "⇩", "CODE": "USD", "NAME": "éa"}
# what such a slot holds, and what it does not (each of the latter makes the image wide)
CHARS = ["⇧", "⇩", "é", "éa", "a\u7fff", "\u0080", "", "R"]
CHARS += ["\u8000", "⇧⇧⇧", "\U0001f600", None, 1.5]


@pytest.mark.parametrize("value", CHARS, ids=repr)
def test_characters_in_narrow_slots_follow_the_pure_core(value: object) -> None:
    arrows = {"BID_TICK_1": "⇩", "PRCTCK_1": "⇧", "BID": 86.8}  # packed as the Refresh's
    updates = [arrows, {"BID_TICK_1": value, "NAME": "\u00e9"}, {"PRCTCK_1": value, "BID": 87.0}]
    seen = _images_in_each_core(ARROWS, *updates)
    assert "'BID_TICK_1': '⇩'" in seen[1] and "'NAME': 'é'" in seen[2]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=3), st.text(max_size=3))
def test_any_short_string_reads_back_as_given(first: str, then: str) -> None:
    assert make is not None
    img = make(Layout(("A", "B")), {"A": first, "B": "⇧"})
    assert dict(img) == {"A": first, "B": "⇧"}
    _images_in_each_core({"A": first, "B": "⇧"}, {"A": then, "B": first})


def test_an_arrow_packed_costs_half_a_slot() -> None:
    names = tuple(f"T{i}" for i in range(8))
    # a shared object in 8 bytes, then packed in 4
    per_image = [_per_image(names, dict.fromkeys(names, arrow)) for arrow in ("⇧⇧⇧", "⇧")]
    assert per_image[0] - per_image[1] >= 8 * 4 - 2, per_image
