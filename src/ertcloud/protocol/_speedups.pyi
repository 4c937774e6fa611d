from collections.abc import (
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from typing import Any, ClassVar, overload

from .events import Event
from .image import FieldImage, Layout
from .messages import Refresh, State, Update
from .ripples import RippleRules
from .streams import ItemStream

def dispatch(
    msgs: list[Any] | tuple[Any, ...],
    lookup: Callable[[int], ItemStream | None],
    on_other: Callable[[Any, list[Event]], None],
) -> list[Event]: ...
def decode_updates(data: Any) -> list[Update | Refresh] | None: ...
def read_frame(data: Any) -> Frame | list[Update | Refresh] | None: ...
def apply_refresh(s: ItemStream, msg: Refresh) -> bool: ...
def receive(self: Any, data: Any, now: float) -> list[Event]: ...
def receiver(cls: type[Any]) -> Callable[[Any, Any, float], list[Event]]: ...
def fast_delivery(
    function: Callable[..., None], health: type[Any], failed: Callable[[str], None]
) -> None: ...
def fast_reordering(monitor: type[Any], rare: type[Any], learn: int) -> None: ...

#: ``receive`` as a C function, for the compiled picows listener (a PyCapsule)
RECEIVE_C: object

class Frame(Sequence[Update]):
    """Updates read from a frame's bytes for ``dispatch`` (which consumes them)."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, k: int) -> Update: ...
    @overload
    def __getitem__(self, k: slice) -> Sequence[Update]: ...

class _LazyEvent:
    """What the compiled events share (``message`` read from the frame on first access)."""

    __struct_fields__: ClassVar[tuple[str, ...]]
    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def stream(self) -> ItemStream: ...
    @property
    def seq_number(self) -> int | None: ...

class ItemUpdated(_LazyEvent):
    """The compiled ``events.ItemUpdated`` (its ``message`` read from the frame on access)."""

    @property
    def message(self) -> Update: ...
    @property
    def sim_ts(self) -> int | None: ...
    def __init__(self, stream: ItemStream, message: Update) -> None: ...

class ItemRefreshed(_LazyEvent):
    """The compiled ``events.ItemRefreshed`` (its ``message`` read from the frame on access
    where the compiled core built the image from the frame)."""

    @property
    def message(self) -> Refresh: ...
    @property
    def state(self) -> State | None: ...
    def __init__(self, stream: ItemStream, message: Refresh) -> None: ...

class CompactImage(Mapping[str, Any]):
    def _apply(
        self, changed: dict[str, Any], rules: RippleRules, whole: frozenset[str], ripple: bool
    ) -> None: ...
    def __getitem__(self, name: str) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def keys(self) -> KeysView[str]: ...
    def items(self) -> ItemsView[str, Any]: ...
    def values(self) -> ValuesView[Any]: ...
    def copy(self) -> dict[str, Any]: ...
    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]: ...
    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

def compact_image(layout: Layout, fields: dict[str, Any]) -> CompactImage: ...
def cache_entry(s: str) -> int | None: ...
def entry_key_slot(s: str) -> int: ...

__all__ = [
    "CompactImage",
    "FieldImage",
    "Frame",
    "ItemRefreshed",
    "ItemUpdated",
    "apply_refresh",
    "cache_entry",
    "compact_image",
    "decode_updates",
    "dispatch",
    "entry_key_slot",
    "fast_delivery",
    "fast_reordering",
    "read_frame",
    "receive",
    "receiver",
]
