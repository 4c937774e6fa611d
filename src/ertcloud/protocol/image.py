"""The cached field image of an item: a read-only :class:`~collections.abc.Mapping`.

``ItemStream.fields`` is one of two classes with the same behaviour:

* :class:`FieldImage` (the pure core): the values in a dict of their own;
* ``CompactImage`` (the compiled core, ``_speedups``): one :class:`Layout` (field name ->
  slot) shared by every image of the same shape, floats and 64-bit integers stored as C
  values in the image, other values (strings, None, booleans, containers) as objects; a
  field the layout does not have (a field an Update adds) goes to a small dict of its own.

Both read like a dict (``image["BID"]``, ``.get``, ``in``, iteration in the order of the
fields, ``len``, ``dict(image)``, ``==`` with a dict or another image, ``repr`` as a dict)
and pickle to a :class:`FieldImage`. Neither can be changed through this interface: the
stream's own updates change it in place (the image of a stream is live), a complete Refresh
that clears the cache gives the stream a new image object. ``dict(image)`` (or
:meth:`FieldImage.copy`) is a copy that stays as it is.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

__all__ = ["EMPTY_LAYOUT", "FieldImage", "Layout", "Layouts", "image_from_dict"]

_LAYOUTS_MAX = 1_000


class Layout:
    """Field name -> slot, shared by every compact image of one shape (the fields of its
    Refresh, in their order)."""

    __slots__ = ("chains", "index", "names", "widths")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index: dict[str, int] = {n: i for i, n in enumerate(names)}
        #: (ripple rules, the whole chains of this shape under them): the compiled Refresh
        #: path's cache of ``RippleRules.whole_chains``
        self.chains: tuple[Any, frozenset[str]] | None = None
        #: the compiled core's slot offsets of this shape (4 bytes for the numbers of its
        #: first image that fit them), set at that image; None until then
        self.widths: bytes | None = None

    def __repr__(self) -> str:
        return f"Layout({len(self.names)} fields)"


EMPTY_LAYOUT = Layout(())


class Layouts:
    """The layouts of one stream table, one per shape, bounded: past ``_LAYOUTS_MAX``
    shapes a new one gets none (its image is then a :class:`FieldImage`)."""

    __slots__ = ("_by_names", "last")

    def __init__(self) -> None:
        self._by_names: dict[tuple[str, ...], Layout] = {(): EMPTY_LAYOUT}
        #: the layout the compiled Refresh path tries first (the last one it used)
        self.last: Layout | None = None

    def __len__(self) -> int:
        return len(self._by_names)

    def get(self, names: tuple[str, ...]) -> Layout | None:
        layout = self._by_names.get(names)
        if layout is None and len(self._by_names) < _LAYOUTS_MAX:
            self._by_names[names] = layout = Layout(names)
        return layout


class FieldImage(Mapping[str, Any]):
    """A field image in a dict of its own, read-only from outside (the pure core's)."""

    __slots__ = ("_d",)

    def __init__(self, fields: Mapping[str, Any] | None = None) -> None:
        self._d: dict[str, Any] = dict(fields) if fields else {}

    @classmethod
    def _of(cls, d: dict[str, Any]) -> FieldImage:
        """An image holding ``d`` itself (no copy: the caller gives it up)."""
        img = cls.__new__(cls)
        img._d = d
        return img

    def __getitem__(self, name: str) -> Any:
        return self._d[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._d.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def keys(self) -> KeysView[str]:
        return self._d.keys()

    def items(self) -> ItemsView[str, Any]:
        return self._d.items()

    def values(self) -> ValuesView[Any]:
        return self._d.values()

    def copy(self) -> dict[str, Any]:
        """The fields as a new dict."""
        return dict(self._d)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FieldImage):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**self._d, **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return {**other, **self._d}

    def __repr__(self) -> str:
        return repr(self._d)

    def __reduce__(self) -> tuple[Any, ...]:
        return (image_from_dict, (self._d,))


def image_from_dict(fields: dict[str, Any]) -> FieldImage:
    """A :class:`FieldImage` of ``fields`` (what a pickled image of either kind loads as)."""
    return FieldImage(fields)
