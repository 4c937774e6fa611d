"""The cached field image: a read-only Mapping that behaves like the dict it replaced, on
both receive cores (the pure core's FieldImage, the compiled core's CompactImage)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from core_twins import FIELD_VALUES
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol import ClientProtocol, codec, core
from ertcloud.protocol.image import FieldImage, Layout
from ertcloud.protocol.messages import Key, Refresh, Request, State, Update
from ertcloud.protocol.ripples import BUILTIN_RIPPLES
from ertcloud.protocol.streams import ItemStream

OK = State(stream="Open", data="Ok")

# long strings too (past the shared ones' 32 bytes)
values = st.one_of(FIELD_VALUES, st.text(min_size=30, max_size=40))
names = st.sampled_from(["BID", "ASK", "BID_1", "TRDPRC_1", "TRDPRC_2", "DSPLY_NAME", "X", "é"])
images = st.dictionaries(names, values, max_size=8)


def _makers() -> list[Callable[[dict[str, Any]], Mapping[str, Any]]]:
    out: list[Callable[[dict[str, Any]], Mapping[str, Any]]] = [FieldImage]
    make = core.compiled_image
    if make is not None:
        out.append(lambda d: make(Layout(tuple(d)), dict(d)))
    return out


MAKERS = _makers()


def _same_as_dict(img: Mapping[str, Any], d: dict[str, Any]) -> None:
    assert img == d and d == img and not (img != d)
    assert dict(img) == d and {**img} == d
    assert list(img) == list(d) and len(img) == len(d)
    assert list(img.items()) == list(d.items()) and list(img.values()) == list(d.values())
    assert repr(img) == repr(d)
    for k, v in d.items():
        assert img[k] == v and type(img[k]) is type(v) and img.get(k) == v and k in img
    assert "NOPE" not in img and img.get("NOPE") is None and img.get("NOPE", 5) == 5
    with pytest.raises(KeyError):
        img["NOPE"]


@pytest.mark.parametrize("make", MAKERS)
@settings(max_examples=100, deadline=None)
@given(d=images)
def test_an_image_reads_like_the_dict_it_holds(
    make: Callable[[dict[str, Any]], Mapping[str, Any]], d: dict[str, Any]
) -> None:
    img = make(dict(d))
    _same_as_dict(img, d)
    assert isinstance(img, Mapping) and not isinstance(img, dict)
    loaded = pickle.loads(pickle.dumps(img))
    assert loaded == d and isinstance(loaded, FieldImage)
    assert img | {"Z": 1} == {**d, "Z": 1} and {"Z": 1} | img == {"Z": 1, **d}
    assert img.copy() == d and type(img.copy()) is dict  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        img["BID"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(img)


@pytest.mark.parametrize("make", MAKERS)
@settings(max_examples=100, deadline=None)
@given(d=images, changes=st.lists(st.dictionaries(names, values, max_size=4), max_size=4))
def test_updates_ripple_and_merge_as_in_a_dict(
    make: Callable[[dict[str, Any]], Mapping[str, Any]],
    d: dict[str, Any],
    changes: list[dict[str, Any]],
) -> None:
    """The compact image's own ripple-and-merge against the pure core's on a dict."""
    pure = ItemStream(2, Request(id=2, key=Key(name="A")), "A")
    pure.fields = FieldImage(d)
    other = ItemStream(2, Request(id=2, key=Key(name="A")), "A")
    other.fields = make(dict(d))
    for s in (pure, other):
        s.whole_chains = BUILTIN_RIPPLES.whole_chains(d)
    for change in changes:
        for s in (pure, other):
            s.apply_update(Update(id=2, fields=dict(change)))
        _same_as_dict(other.fields, dict(pure.fields))


def _refreshed(core_name: str, items: list[tuple[str, dict[str, Any]]]) -> ClientProtocol:
    proto = ClientProtocol()
    proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("tok")
    login = Refresh(id=1, domain="Login", state=OK, elements={"PingTimeout": 30})
    proto.receive(codec.encode([login]), 0.0)
    for name, image in items:
        (s,) = proto.request(name)
        refresh = Refresh(id=s.id, key=Key(name=name), state=OK, fields=image)
        proto.receive(codec.encode([refresh]), 0.0)
    return proto


def test_the_image_is_live_until_a_refresh_replaces_it(receive_core: str) -> None:
    proto = _refreshed(receive_core, [("A.L", {"BID": 1.0, "ASK": 2.0, "BID_1": None})])
    (s,) = proto.streams
    held = s.fields
    proto.receive(codec.encode([Update(id=s.id, fields={"BID": 1.5, "NEW": "x"})]), 0.0)
    assert held is s.fields and held == {"BID": 1.5, "ASK": 2.0, "BID_1": 1.0, "NEW": "x"}
    copy = dict(held)
    again = Refresh(id=s.id, key=Key(name="A.L"), state=OK, fields={"BID": 3.0})
    proto.receive(codec.encode([again]), 0.0)
    assert s.fields == {"BID": 3.0} and held == copy  # the old image stays as it was
    assert copy == {"BID": 1.5, "ASK": 2.0, "BID_1": 1.0, "NEW": "x"}


def test_images_of_one_shape_share_one_layout() -> None:
    if core.compiled_image is None:
        pytest.skip("the compiled core is not built: images are FieldImages")
    shape = {"BID": 1.0, "ASK": 2.0, "DSPLY_NAME": "A"}
    items = [(f"I{i}.L", {**shape, "BID": float(i)}) for i in range(5)]
    proto = _refreshed("compiled", [*items, ("ODD.L", {"ASK": 1.0, "BID": 2.0})])
    # one layout per shape: the empty one, the five items', the odd one's
    assert len(proto.streams.interner.layouts) == 3
    assert all(type(s.fields).__name__ == "CompactImage" for s in proto.streams)
    assert [s.fields["BID"] for s in proto.streams] == [0.0, 1.0, 2.0, 3.0, 4.0, 2.0]
    pure = _refreshed("pure", items)
    assert all(type(s.fields) is FieldImage for s in pure.streams)


def test_past_the_bound_of_layouts_a_new_shape_gets_a_field_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if core.compiled_image is None:
        pytest.skip("the compiled core is not built: images are FieldImages")
    from ertcloud.protocol import image

    monkeypatch.setattr(image, "_LAYOUTS_MAX", 3)  # the empty layout and two shapes
    shapes = [{"A": 1.0}, {"B": 2.0}, {"C": 3.0}, {"A": 4.0}]
    proto = _refreshed("compiled", [(f"I{i}.L", d) for i, d in enumerate(shapes)])
    kinds = [type(s.fields).__name__ for s in proto.streams]
    assert kinds == ["CompactImage", "CompactImage", "FieldImage", "CompactImage"]
    assert [dict(s.fields) for s in proto.streams] == shapes
