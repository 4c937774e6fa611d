"""Warm standby on the Login stream: the ``ConsumerConnectionStatus`` Generic message.

A consumer tells each server whether its connection is the active one or the standby
one: a Generic on the Login stream whose Map has one ``WarmStandbyInfo`` entry with a
``WarmStandbyMode`` element (0 active, 1 standby). A server that supports it says so with
``SupportStandby: 1`` (and ``SupportStandbyMode``) in the Login Refresh's ``Key.Elements``.
"""

from __future__ import annotations

from typing import Any

from .messages import Generic, Key

__all__ = [
    "ACTIVE",
    "CONNECTION_STATUS",
    "STANDBY",
    "WARM_STANDBY_SUPPORT",
    "connection_status",
    "warm_standby_mode",
]

CONNECTION_STATUS = "ConsumerConnectionStatus"
ACTIVE = 0
STANDBY = 1
#: ``SupportStandbyMode`` of the Login Refresh: 1 warm standby (2 hot, 3 both)
WARM_STANDBY_SUPPORT = 1


def connection_status(login_id: int, mode: int) -> Generic:
    """The Generic that sets this connection's warm standby ``mode`` (ACTIVE/STANDBY)."""
    entry = {"Action": "Add", "Key": "WarmStandbyInfo", "Elements": {"WarmStandbyMode": mode}}
    return Generic(
        id=login_id,
        domain="Login",
        key=Key(name=CONNECTION_STATUS),
        complete=False,
        map={"KeyType": "AsciiString", "Entries": [entry]},
    )


def warm_standby_mode(msg: Generic) -> int | None:
    """The ``WarmStandbyMode`` (0 or 1) a ConsumerConnectionStatus Generic sets, or None
    if it carries no valid one."""
    cmap: Any = msg.map
    entries = cmap.get("Entries") if isinstance(cmap, dict) else None
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("Key") != "WarmStandbyInfo":
            continue
        if entry.get("Action", "Add") not in ("Add", "Update"):
            continue
        elements = entry.get("Elements")
        mode = elements.get("WarmStandbyMode") if isinstance(elements, dict) else None
        if isinstance(mode, dict):  # the typed form {"Type": "UInt", "Data": 1}
            mode = mode.get("Data")
        if type(mode) is int and mode in (ACTIVE, STANDBY):
            return mode
    return None
