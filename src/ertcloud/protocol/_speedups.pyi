from collections.abc import Callable
from typing import Any

from .events import Event
from .messages import Update
from .streams import ItemStream

def dispatch(
    msgs: list[Any] | tuple[Any, ...],
    lookup: Callable[[int], ItemStream | None],
    on_other: Callable[[Any, list[Event]], None],
) -> list[Event]: ...
def decode_updates(data: Any) -> list[Update] | None: ...
