"""Typed interface of the compiled picows listener (``_picows_listener.pyx``)."""

from typing import Any

import picows

from .transport import FrameHandler

PICOWS_VERSION: str

class CompiledListener(picows.WSListener):
    handler: FrameHandler | None
    @property
    def ws(self) -> Any: ...
    def __init__(self, ws: Any) -> None: ...
