"""The public API of the package: ``ertcloud.__all__`` is this kept list, every name in it
resolves, and every exported exception is raised somewhere in the library."""

from __future__ import annotations

import inspect
import pathlib

import ertcloud
from ertcloud import exceptions

KEPT = {
    # sessions and subscriptions
    "Session", "Subscription", "BaseSubscription", "HotStandby", "StandbySubscription",
    "WarmStandby", "ActiveChanged",
    "ItemStream", "LoginParams", "connect", "sync",
    # transports
    "Transport", "Connection", "ConnectOptions",
    # authentication
    "ClientCredentials", "PasswordCredentials", "Token", "TokenClient", "TokenManager",
    # events
    "Event", "AckReceived", "BatchAcknowledged", "ConnectionDead", "ErrorReceived",
    "GenericReceived", "ItemRefreshed", "ItemStatus", "ItemUpdated", "LoginAccepted",
    "LoginClosed", "LoginDenied", "LoginStateChanged", "PingReceived", "PongReceived",
    "ProtocolViolation", "StreamClosed",
    # exceptions
    "ErtcloudError", "ConfigError", "AuthenticationError", "InvalidCredentials",
    "TransientAuthError", "RefreshRejected", "DiscoveryError", "BearerRefused",
    "TransportError", "ConnectError", "ConnectFailed", "ConnectionLost", "LoginRejected",
    "ProtocolError", "DecodeError", "LimitExceeded", "PostRejected", "SessionClosed",
    "TimedOut", "SinkNotOpen",
    "ChainError", "RecordingError",
    # sinks
    "load", "make_sink",
    # trader features
    "Bar", "BarBuilder", "BrokenStory", "ChainChanged", "NewsStory",
    "__version__",
}  # fmt: skip


def test_all_is_the_kept_list_and_every_name_resolves() -> None:
    assert set(ertcloud.__all__) == KEPT
    assert len(ertcloud.__all__) == len(KEPT)  # no name twice
    for name in ertcloud.__all__:
        assert getattr(ertcloud, name) is not None, name


def test_the_event_and_the_exception_of_a_refused_login_have_distinct_names() -> None:
    assert issubclass(ertcloud.LoginRejected, ertcloud.ErtcloudError)
    assert not issubclass(ertcloud.LoginDenied, BaseException)


def test_every_exported_exception_is_raised_somewhere() -> None:
    """Nothing is exported that is never raised: each class (or a subclass of it) is
    instantiated somewhere in the library's source."""
    src = pathlib.Path(ertcloud.__file__).parent
    text = "\n".join(p.read_text() for p in src.rglob("*.py"))
    classes = {
        obj for name in exceptions.__all__ if inspect.isclass(obj := getattr(exceptions, name))
    }
    # made somewhere (``raise X(...)``, or an instance kept to be raised later)
    made = {c for c in classes if text.count(f"{c.__name__}(") > text.count(f"class {c.__name__}(")}
    for cls in classes:
        assert any(issubclass(r, cls) for r in made), f"{cls.__name__} is never raised"


def test_the_exception_tree_keeps_the_builtin_bases() -> None:
    assert issubclass(ertcloud.ConfigError, ValueError)
    assert issubclass(ertcloud.TimedOut, TimeoutError)
    assert issubclass(ertcloud.DecodeError, ValueError)
    assert issubclass(ertcloud.SinkNotOpen, RuntimeError)
    for lost in (ertcloud.ConnectFailed, ertcloud.ConnectionLost):
        assert issubclass(lost, ertcloud.TransportError)
    assert ertcloud.ConnectError is ertcloud.TransportError
    assert not issubclass(ertcloud.ConnectFailed, ertcloud.ConnectionLost)
