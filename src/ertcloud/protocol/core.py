"""Which receive core runs: the compiled one when it was built, else the pure one.

The choice is made once, here, at import. ``ERTCLOUD_NO_EXTENSIONS=1`` (any non-empty
value but ``0``) forces the pure core. Both implement :func:`dispatch` with the signature
of :func:`ertcloud.protocol._dispatch_pure.dispatch` (``_speedups.pyi``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import _dispatch_pure
from .events import Event
from .streams import ItemStream

__all__ = ["CORE", "Dispatch", "compiled_dispatch", "dispatch", "pure_dispatch"]

Dispatch = Callable[
    [Any, Callable[[int], "ItemStream | None"], Callable[[Any, list[Event]], None]],
    list[Event],
]

pure_dispatch: Dispatch = _dispatch_pure.dispatch
#: the compiled twin, or None where the extension was not built (no compiler)
compiled_dispatch: Dispatch | None
try:
    from ._speedups import dispatch as _compiled
except Exception:  # not built, or built against layouts it no longer finds (TypeError)
    compiled_dispatch = None
else:
    compiled_dispatch = _compiled

_forced_pure = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")

#: "compiled" or "pure": the core :class:`~ertcloud.protocol.client.ClientProtocol` uses
CORE = "compiled" if compiled_dispatch is not None and not _forced_pure else "pure"
dispatch: Dispatch = compiled_dispatch if CORE == "compiled" else pure_dispatch  # type: ignore[assignment]
