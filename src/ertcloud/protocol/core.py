"""Which receive core runs: the compiled one when it was built, else the pure one.

The choice is made once, here, at import. ``ERTCLOUD_NO_EXTENSIONS=1`` (any non-empty
value but ``0``) forces the pure core. Both implement :func:`dispatch` with the signature
of :func:`ertcloud.protocol._dispatch_pure.dispatch` (``_speedups.pyi``). The compiled core
adds :data:`fast_decode`: frames made only of Updates (or of Refreshes and Updates) read
straight from their bytes (None in the pure core, whose frames all go through the msgspec
decoder), which its dispatch applies with no message struct built for an Update (the events
read theirs when accessed), its compact MarketPrice images (:mod:`ertcloud.protocol.image`)
and :data:`compiled_refresh`, which builds such an image straight from a Refresh's Fields.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from . import _dispatch_pure
from .events import Event
from .messages import Refresh, Update
from .streams import CompactFactory, ItemStream, use_compact_images

__all__ = [
    "CORE",
    "Dispatch",
    "FastDecode",
    "compiled_dispatch",
    "compiled_fast_decode",
    "compiled_image",
    "compiled_read_frame",
    "compiled_receiver",
    "compiled_refresh",
    "dispatch",
    "fast_decode",
    "pure_dispatch",
    "select",
]

Dispatch = Callable[
    [Any, Callable[[int], "ItemStream | None"], Callable[[Any, list[Event]], None]],
    list[Event],
]

#: ``fast_decode(payload) -> the frame's messages`` (Updates, Refreshes), or None when it needs
#: the general decoder
FastDecode = Callable[[Any], "Sequence[Update | Refresh] | None"]
#: ``apply(stream, refresh) -> applied``: False leaves the Refresh to ``ItemStream.apply_refresh``
RefreshApply = Callable[[ItemStream, Refresh], bool]

pure_dispatch: Dispatch = _dispatch_pure.dispatch
#: the compiled twin, or None where the extension was not built (no compiler)
compiled_dispatch: Dispatch | None
#: the compiled reader of frames made only of Updates, or None where not built
compiled_fast_decode: FastDecode | None
#: the same frames read for the compiled dispatch (a ``Frame``: no struct per message)
compiled_read_frame: FastDecode | None
#: the compiled core's compact image factory (``make(layout, fields)``), or None
compiled_image: CompactFactory | None
#: the compiled core's apply of a Refresh to a stream with compact images, or None
compiled_refresh: RefreshApply | None
#: ``receiver(ClientProtocol)``: the compiled ``receive`` to put in place of the Python one
#: (which it calls for all it does not take itself), or None
compiled_receiver: Callable[[type[Any]], Callable[[Any, Any, float], list[Event]]] | None
try:
    from ._speedups import apply_refresh as _compiled_refresh
    from ._speedups import compact_image as _compiled_image
    from ._speedups import decode_updates as _compiled_fast
    from ._speedups import dispatch as _compiled
    from ._speedups import read_frame as _compiled_read
    from ._speedups import receiver as _compiled_receiver
except Exception:  # not built, or built against layouts it no longer finds (TypeError)
    compiled_dispatch = compiled_fast_decode = compiled_read_frame = compiled_image = None
    compiled_refresh = compiled_receiver = None
else:
    compiled_dispatch = _compiled
    compiled_fast_decode = _compiled_fast
    compiled_read_frame = _compiled_read
    compiled_image = _compiled_image
    compiled_refresh = _compiled_refresh
    compiled_receiver = _compiled_receiver

_forced_pure = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")

#: "compiled" or "pure": the core :class:`~ertcloud.protocol.client.ClientProtocol` uses
CORE = "compiled" if compiled_dispatch is not None and not _forced_pure else "pure"
# MarketPrice images are compact ones in the compiled core (a stream table follows the
# dispatch of its protocol: see ClientProtocol)
use_compact_images(compiled_image, CORE == "compiled")
dispatch: Dispatch = compiled_dispatch if CORE == "compiled" else pure_dispatch  # type: ignore[assignment]
fast_decode: FastDecode | None = compiled_read_frame if CORE == "compiled" else None


def select(name: str) -> tuple[Dispatch, FastDecode | None]:
    """The ``dispatch`` and ``fast_decode`` of the core ``name`` ("pure" or "compiled");
    ValueError when the compiled one was not built."""
    if name == "pure":
        return pure_dispatch, None
    if name == "compiled" and compiled_dispatch is not None:
        return compiled_dispatch, compiled_read_frame
    raise ValueError(f"no {name!r} receive core here")
