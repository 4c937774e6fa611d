"""ertcloud: asyncio client, command line and simulator for LSEG Real-Time in the cloud."""

from .auth import ClientCredentials, PasswordCredentials, TokenClient, TokenManager
from .bars import Bar, BarBuilder
from .chains import ChainChanged, ChainError
from .client import Session, Subscription
from .client.api import connect
from .exceptions import (
    AuthenticationError,
    ConfigError,
    ConnectError,
    DiscoveryError,
    ErtcloudError,
    InvalidCredentials,
    LimitExceeded,
    LoginRejected,
    PostRejected,
    ProtocolError,
    SessionClosed,
)
from .news import BrokenStory, NewsStory
from .protocol.login import LoginParams
from .version import __version__

__all__ = [
    "AuthenticationError",
    "ClientCredentials",
    "ConfigError",
    "ConnectError",
    "DiscoveryError",
    "ErtcloudError",
    "InvalidCredentials",
    "LimitExceeded",
    "LoginParams",
    "LoginRejected",
    "PasswordCredentials",
    "PostRejected",
    "ProtocolError",
    "Session",
    "SessionClosed",
    "Subscription",
    "TokenClient",
    "TokenManager",
    "__version__",
    "connect",
]

# trader features: chains, news, bars (docs/trader.md)
__all__ += ["Bar", "BarBuilder", "BrokenStory", "ChainChanged", "ChainError", "NewsStory"]
