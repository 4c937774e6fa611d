"""Authentication with the Data Platform gateway (OAuth2 v1 and v2).

The names are imported on first use: :mod:`ertcloud.auth.grants` and
:mod:`ertcloud.auth.jwt` need no HTTP library, and the command line builds its options
from them without loading one.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .client import RefreshRejected, TokenClient, TransientAuthError
    from .grants import ClientCredentials, PasswordCredentials, Token, TokenRequest, redact
    from .manager import TokenManager

#: the module of each name
_LAZY = {
    "RefreshRejected": ".client",
    "TokenClient": ".client",
    "TransientAuthError": ".client",
    "ClientCredentials": ".grants",
    "PasswordCredentials": ".grants",
    "Token": ".grants",
    "TokenRequest": ".grants",
    "redact": ".grants",
    "TokenManager": ".manager",
}

__all__ = [
    "ClientCredentials",
    "PasswordCredentials",
    "RefreshRejected",
    "Token",
    "TokenClient",
    "TokenManager",
    "TokenRequest",
    "TransientAuthError",
    "redact",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
