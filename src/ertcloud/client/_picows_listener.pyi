"""Typed interface of the compiled picows listener (``_picows_listener.pyx``)."""

from collections.abc import Callable, Collection
from typing import Any

import picows

from .transport import FrameHandler

PICOWS_VERSION: str

class CompiledListener(picows.WSListener):
    handler: FrameHandler | None
    @property
    def ws(self) -> Any: ...
    def __init__(self, ws: Any) -> None: ...
    def receive_directly(
        self,
        receive: Callable[[bytes, float], list[Any]],
        blocked: Collection[Any],
        after: Callable[[list[Any]], None],
        trace: Callable[[str, Any], object] | None = None,
    ) -> None: ...
