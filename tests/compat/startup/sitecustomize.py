"""Imported at start-up by the example programs the compatibility tests run (their
``PYTHONPATH`` starts here); the programs themselves run unchanged.

websocket-client's dispatcher waits for its socket in a ``select`` of 10 s when
``run_forever`` is given no ``ping_timeout`` (none of the vendor's examples gives one). When
the program's main thread closes the WebSocket (Ctrl+C, or the ping example giving up), it
reads the server's Close reply and closes the socket while the dispatcher thread sits in
that ``select``; a closed descriptor never wakes it, so the program only ends when the
``select`` times out, up to 10 s later. Here the dispatcher wakes every 0.2 s instead, which
changes only how soon it sees that the app has stopped: the same frames go on the wire, and
with no ``ping_timeout`` the check between two waits does nothing.
"""

from __future__ import annotations

from typing import Any

POLL = 0.2

try:
    from websocket import _dispatcher
except ImportError:  # a program that does not use websocket-client
    pass
else:
    _init = _dispatcher.DispatcherBase.__init__

    def _short_poll(self: Any, app: Any, ping_timeout: float | None) -> None:
        _init(self, app, min(ping_timeout, POLL) if ping_timeout else ping_timeout)

    _dispatcher.DispatcherBase.__init__ = _short_poll  # type: ignore[method-assign]
