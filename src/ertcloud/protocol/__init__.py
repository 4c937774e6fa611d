"""The protocol core, with no I/O: messages, codec, login and item stream state machines.

Shared by the client, the simulator and the tests. It imports only the standard library
and msgspec, and takes time as a ``now`` argument.
"""

from . import codec, events, messages
from .client import ClientProtocol
from .login import LoginParams, LoginStream
from .streams import ItemStream, MapImage, StreamTable

__all__ = [
    "ClientProtocol",
    "ItemStream",
    "LoginParams",
    "LoginStream",
    "MapImage",
    "StreamTable",
    "codec",
    "events",
    "messages",
]
