"""ertcloud: asyncio client, command line and simulator for LSEG Real-Time in the cloud.

Everything a user of the library needs is exported here (the list is kept by
``tests/test_exports.py``). The subpackages ``protocol`` (the sans-I/O core), ``client``,
``auth``, ``sinks`` and ``sim`` are public too; ``cli`` and ``tui`` are the command line's
own and not an API. Modules and names starting with ``_`` are private everywhere.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .exceptions import (
    AuthenticationError,
    BearerRefused,
    ChainError,
    ConfigError,
    ConnectError,
    ConnectFailed,
    ConnectionLost,
    DecodeError,
    DiscoveryError,
    ErtcloudError,
    InvalidCredentials,
    LimitExceeded,
    LoginRejected,
    PostRejected,
    ProtocolError,
    RecordingError,
    RefreshRejected,
    SessionClosed,
    SinkNotOpen,
    TimedOut,
    TransientAuthError,
    TransportError,
)
from .version import __version__

if TYPE_CHECKING:
    from . import sync
    from .auth import ClientCredentials, PasswordCredentials, Token, TokenClient, TokenManager
    from .bars import Bar, BarBuilder
    from .chains import ChainChanged
    from .client import Session, Subscription
    from .client.api import connect
    from .client.standby import HotStandby, StandbySubscription
    from .client.subscription_base import BaseSubscription
    from .client.transport import Connection, ConnectOptions, Transport
    from .client.warm_standby import ActiveChanged, WarmStandby
    from .news import BrokenStory, NewsStory
    from .protocol.events import (
        AckReceived,
        BatchAcknowledged,
        ConnectionDead,
        ErrorReceived,
        Event,
        GenericReceived,
        ItemRefreshed,
        ItemStatus,
        ItemUpdated,
        LoginAccepted,
        LoginClosed,
        LoginDenied,
        LoginStateChanged,
        PingReceived,
        PongReceived,
        ProtocolViolation,
        StreamClosed,
    )
    from .protocol.login import LoginParams
    from .protocol.streams import ItemStream
    from .sinks import load, make_sink

#: the module of each other exported name, imported on first use so that ``import ertcloud``
#: (and the command line) loads no network or data library it does not need
_LAZY = {
    "sync": ".",
    "ClientCredentials": ".auth",
    "PasswordCredentials": ".auth",
    "Token": ".auth",
    "TokenClient": ".auth",
    "TokenManager": ".auth",
    "Bar": ".bars",
    "BarBuilder": ".bars",
    "ChainChanged": ".chains",
    "Session": ".client",
    "Subscription": ".client",
    "connect": ".client.api",
    "HotStandby": ".client.standby",
    "StandbySubscription": ".client.standby",
    "BaseSubscription": ".client.subscription_base",
    "Connection": ".client.transport",
    "ConnectOptions": ".client.transport",
    "Transport": ".client.transport",
    "ActiveChanged": ".client.warm_standby",
    "WarmStandby": ".client.warm_standby",
    "BrokenStory": ".news",
    "NewsStory": ".news",
    "AckReceived": ".protocol.events",
    "BatchAcknowledged": ".protocol.events",
    "ConnectionDead": ".protocol.events",
    "ErrorReceived": ".protocol.events",
    "Event": ".protocol.events",
    "GenericReceived": ".protocol.events",
    "ItemRefreshed": ".protocol.events",
    "ItemStatus": ".protocol.events",
    "ItemUpdated": ".protocol.events",
    "LoginAccepted": ".protocol.events",
    "LoginClosed": ".protocol.events",
    "LoginDenied": ".protocol.events",
    "LoginStateChanged": ".protocol.events",
    "PingReceived": ".protocol.events",
    "PongReceived": ".protocol.events",
    "ProtocolViolation": ".protocol.events",
    "StreamClosed": ".protocol.events",
    "LoginParams": ".protocol.login",
    "ItemStream": ".protocol.streams",
    "load": ".sinks",
    "make_sink": ".sinks",
}

__all__ = [
    "AckReceived",
    "ActiveChanged",
    "AuthenticationError",
    "Bar",
    "BarBuilder",
    "BaseSubscription",
    "BatchAcknowledged",
    "BearerRefused",
    "BrokenStory",
    "ChainChanged",
    "ChainError",
    "ClientCredentials",
    "ConfigError",
    "ConnectError",
    "ConnectFailed",
    "ConnectOptions",
    "Connection",
    "ConnectionDead",
    "ConnectionLost",
    "DecodeError",
    "DiscoveryError",
    "ErrorReceived",
    "ErtcloudError",
    "Event",
    "GenericReceived",
    "HotStandby",
    "InvalidCredentials",
    "ItemRefreshed",
    "ItemStatus",
    "ItemStream",
    "ItemUpdated",
    "LimitExceeded",
    "LoginAccepted",
    "LoginClosed",
    "LoginDenied",
    "LoginParams",
    "LoginRejected",
    "LoginStateChanged",
    "NewsStory",
    "PasswordCredentials",
    "PingReceived",
    "PongReceived",
    "PostRejected",
    "ProtocolError",
    "ProtocolViolation",
    "RecordingError",
    "RefreshRejected",
    "Session",
    "SessionClosed",
    "SinkNotOpen",
    "StandbySubscription",
    "StreamClosed",
    "Subscription",
    "TimedOut",
    "Token",
    "TokenClient",
    "TokenManager",
    "TransientAuthError",
    "Transport",
    "TransportError",
    "WarmStandby",
    "__version__",
    "connect",
    "load",
    "make_sink",
    "sync",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
