"""The simulator on its own event loop in a thread, for tests that call the synchronous
``ertcloud.cli.main`` (which runs its own loop) in the test's thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ertcloud.sim.server import SimOptions, SimServer


class SimThread:
    def __init__(self, **options: Any) -> None:
        self.server = SimServer(SimOptions(port=0, **options))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> SimServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(30)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(None, None, None), self.loop).result(
            30
        )

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
