"""Authentication with the Data Platform gateway (OAuth2 v1 and v2)."""

from .client import RefreshRejected, TokenClient, TransientAuthError
from .grants import ClientCredentials, PasswordCredentials, Token, TokenRequest, redact
from .manager import TokenManager

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
