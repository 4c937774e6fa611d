"""The per-frame loop of :meth:`ClientProtocol.receive`, in Python: the oracle of the
compiled twin ``_speedups.dispatch`` (same signature, same events, same images)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import Event, ItemUpdated
from .messages import Update
from .streams import ItemStream

__all__ = ["dispatch"]


def dispatch(
    msgs: list[Any] | tuple[Any, ...],
    lookup: Callable[[int], ItemStream | None],
    on_other: Callable[[Any, list[Event]], None],
) -> list[Event]:
    """Apply the decoded messages of one frame in order; returns the events.

    An Update goes to its stream's image; its :class:`ItemUpdated` is handed to the
    stream's ``deliver`` while no other event of the frame waits, else listed. Every other
    message goes to ``on_other(msg, events)``."""
    events: list[Event] = []
    for msg in msgs:
        if type(msg) is Update:
            s = lookup(msg.id)
            if s is not None:
                s.apply_update(msg)
                deliver = s.deliver
                if deliver is not None and not events:
                    deliver(ItemUpdated(s, msg))
                else:
                    events.append(ItemUpdated(s, msg))
        else:
            on_other(msg, events)
    return events
