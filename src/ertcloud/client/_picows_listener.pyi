"""Typed interface of the compiled picows listener (``_picows_listener.pyx``)."""

from collections.abc import Collection
from typing import Any

import picows

from .transport import FrameHandler
from .transport_picows import After, Receive, Trace

PICOWS_VERSION: str
CORE_RECEIVE: bool

class CompiledListener(picows.WSListener):
    handler: FrameHandler | None
    @property
    def ws(self) -> Any: ...
    def __init__(self, ws: Any) -> None: ...
    def receive_directly(
        self, receive: Receive, blocked: Collection[Any], after: After, trace: Trace | None = None
    ) -> None: ...
