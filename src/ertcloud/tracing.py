"""The one trace callback type of the library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Trace"]

#: ``trace(kind, detail)`` observes a component. The session's kinds: "connecting" (url),
#: "connected" (url), "sent" (bytes), "received" (bytes), "closed" (reason),
#: "reconnecting" (delay), "token" (Token), "event" (core event), "recovered" (url).
#: The token client's: "request" (grant, url), "success" (body), "error" (status, text),
#: "redirect" (url). Discovery's: see :mod:`ertcloud.discovery`.
Trace = Callable[[str, Any], None]
