"""The frame packer both ends share: queued messages in, WebSocket text frames out.

Several messages go in one frame as a JSON array, and a frame never grows past the
peer's ``MaxMsgSize`` (a message bigger than that on its own still goes, alone).

The two ends differ only in options:

* the client core (:class:`~ertcloud.protocol.client.ClientProtocol`) sends a frame of
  one message as a bare object, as the vendor's clients do, and queues ``bytes`` that are
  whole frames already (a Ping, a Pong, raw test frames), which go alone in their place;
* the simulator's connection (:class:`~ertcloud.sim.connection.ServerConnection`) always
  sends arrays, of at most ``max_count`` messages, and queues ``bytes`` that are one
  encoded message each (a Ping or Pong object), packed like the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import codec
from .messages import Message

__all__ = ["pack_frames"]


def pack_frames(
    items: Iterable[Message | bytes],
    max_size: int,
    *,
    max_count: int = 0,
    bare_single: bool = False,
    bytes_are_frames: bool = False,
) -> list[bytes]:
    """Frames holding ``items`` in order.

    ``max_size``: bytes a packed frame may hold; ``max_count``: messages per frame (0: no
    limit); ``bare_single``: a frame of one message is the bare object, not an array of
    one; ``bytes_are_frames``: a ``bytes`` item is a whole frame, sent alone, instead of
    one encoded message.
    """
    frames: list[bytes] = []
    pack: list[bytes] = []
    size = 2  # the brackets

    def close_pack() -> None:
        nonlocal pack, size
        if pack:
            frames.append(pack[0] if bare_single and len(pack) == 1 else _join(pack))
            pack, size = [], 2

    for m in items:
        if isinstance(m, bytes):
            if bytes_are_frames:
                close_pack()
                frames.append(m)
                continue
            b = m
        else:
            b = codec.encode_one(m)
        if pack and (size + len(b) + 1 > max_size or (max_count and len(pack) >= max_count)):
            close_pack()
        pack.append(b)
        size += len(b) + 1
    close_pack()
    return frames


def _join(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"
