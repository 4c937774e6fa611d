"""What :class:`~ertcloud.client.subscription.Subscription` and
:class:`~ertcloud.client.standby.StandbySubscription` share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..protocol.events import ItemRefreshed, ItemUpdated

__all__ = ["BaseSubscription", "Callback"]

Callback = Callable[[Any], Any]
_S = TypeVar("_S", bound="BaseSubscription")

NO_QUEUE = "this subscription was made with queue=False; use callbacks"


class BaseSubscription:
    """Items asked for together: ``on_refresh``/``on_update``/``on_status`` callbacks,
    :meth:`close` (or :meth:`unsubscribe`), and ``async with`` to close on exit."""

    on_refresh: Callback | None
    on_update: Callback | None
    on_status: Callback | None
    #: True once closed by the user
    closed: bool

    def _callback_for(self, event: object) -> Callback | None:
        t = type(event)
        if t is ItemUpdated:
            return self.on_update
        return self.on_refresh if t is ItemRefreshed else self.on_status

    def __aiter__(self: _S) -> _S:
        return self

    async def close(self) -> None:
        """Close every item of the subscription."""
        raise NotImplementedError

    async def unsubscribe(self) -> None:
        """Same as :meth:`close`."""
        await self.close()

    def close_items(self, names: Sequence[str]) -> None:
        """Close these items of the subscription; its other items stay open."""
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
