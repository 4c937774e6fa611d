"""Typed interface of the compiled picows listener (``_picows_listener.pyx``)."""

import asyncio
from collections.abc import Callable, Collection
from typing import Any

import picows

from ..tracing import Trace
from .transport import FrameHandler
from .transport_picows import After, Receive

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

class ChunkedReads(asyncio.BufferedProtocol):
    eof_received: Callable[[], bool | None]
    connection_lost: Callable[[BaseException | None], None]  # type: ignore[assignment]
    pause_writing: Callable[[], None]
    resume_writing: Callable[[], None]
    def __init__(self, proto: Any, chunk: int) -> None: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
