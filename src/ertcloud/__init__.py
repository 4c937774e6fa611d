"""ertcloud: asyncio client, command line and simulator for LSEG Real-Time in the cloud.

Everything a user of the library needs is exported here (the list is kept by
``tests/test_exports.py``). The subpackages ``protocol`` (the sans-I/O core), ``client``,
``auth``, ``sinks`` and ``sim`` are public too; ``cli`` and ``tui`` are the command line's
own and not an API. Modules and names starting with ``_`` are private everywhere.
"""

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
    TimedOut,
    TransientAuthError,
    TransportError,
)
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
from .version import __version__

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
