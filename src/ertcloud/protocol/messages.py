"""Typed message model of the WebSocket API (tr_json2).

One msgspec Struct per wire ``Type``, decoded as a tagged union on the ``Type`` key.
Attribute names follow Python conventions; the wire names (``ID``, ``SeqNumber``,
``PostID``...) are declared per field. Absent optional attributes are ``None`` and are
omitted on output, so encoded messages stay as small as the ones real servers send.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import field

__all__ = [
    "Ack",
    "Close",
    "Error",
    "Generic",
    "Key",
    "Message",
    "Ping",
    "Pong",
    "Post",
    "PostUserInfo",
    "Priority",
    "Qos",
    "Refresh",
    "Request",
    "State",
    "Status",
    "Update",
]

#: A field value as carried in a FieldList: number, string, null, or a nested container.
FieldValue = Any
Fields = dict[str, FieldValue]


class _Base(msgspec.Struct, omit_defaults=True, kw_only=True, rename="pascal", gc=False):
    # gc=False: messages hold only JSON data (no reference cycles), so the collector need
    # not track the one or two structs decoded per message.
    pass


class Key(_Base):
    """Item or user identity: ``{"Name": ..., "Service": ...}``."""

    name: str | list[str] | None = None
    service: str | int | None = None
    name_type: str | int | None = None
    elements: dict[str, Any] | None = None
    filter: int | None = None
    identifier: int | None = None


class State(msgspec.Struct, omit_defaults=True, rename="pascal", gc=False, frozen=True):
    """Stream and data state of an item or login stream (immutable: streams in the same
    state share one)."""

    stream: str
    data: str
    code: str | None = None
    text: str | None = None


class Qos(_Base):
    timeliness: str | None = None
    rate: str | None = None
    time_info: int | None = None
    rate_info: int | None = None
    dynamic: bool | None = None


class Priority(_Base):
    class_: int = field(name="Class")
    count: int


class PostUserInfo(_Base):
    address: str
    user_id: int = field(name="UserID")


class Message(_Base, tag_field="Type"):
    """Base of every message; ``Type`` is the tag."""


class Request(Message, tag="Request"):
    id: int = field(name="ID")
    key: Key | None = None
    domain: str | int | None = None
    streaming: bool | None = None
    refresh: bool | None = None
    view: list[str | int] | None = None
    pause: bool | None = None
    priority: Priority | None = None
    qos: Qos | None = None
    worst_qos: Qos | None = None
    private: bool | None = None
    qualified: bool | None = None
    key_in_updates: bool | None = None
    conf_info_in_updates: bool | None = None
    ext_hdr: str | None = None
    elements: dict[str, Any] | None = None


class Refresh(Message, tag="Refresh"):
    id: int = field(name="ID")
    domain: str | int | None = None
    key: Key | None = None
    state: State | None = None
    solicited: bool | None = None
    complete: bool | None = None
    clear_cache: bool | None = None
    part_number: int | None = None
    qos: Qos | None = None
    seq_number: int | None = None
    perm_data: str | None = None
    private: bool | None = None
    qualified: bool | None = None
    do_not_cache: bool | None = None
    post_user_info: PostUserInfo | None = None
    ext_hdr: str | None = None
    fields: Fields | None = None
    elements: dict[str, Any] | None = None
    map: dict[str, Any] | None = None
    vector: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    filter_list: dict[str, Any] | None = None
    json: Any = None


class Update(Message, tag="Update"):
    id: int = field(name="ID")
    domain: str | int | None = None
    key: Key | None = None
    update_type: str | int | None = None
    seq_number: int | None = None
    do_not_conflate: bool | None = None
    do_not_ripple: bool | None = None
    do_not_cache: bool | None = None
    discardable: bool | None = None
    conflation_info: dict[str, int] | None = None
    perm_data: str | None = None
    post_user_info: PostUserInfo | None = None
    ext_hdr: str | None = None
    fields: Fields | None = None
    elements: dict[str, Any] | None = None
    map: dict[str, Any] | None = None
    vector: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    filter_list: dict[str, Any] | None = None
    json: Any = None
    # Simulator extension: send time (ns since epoch) for latency measurement.
    sim_ts: int | None = field(default=None, name="SimTs")


class Status(Message, tag="Status"):
    id: int = field(name="ID")
    domain: str | int | None = None
    key: Key | None = None
    state: State | None = None
    clear_cache: bool | None = None
    perm_data: str | None = None
    private: bool | None = None
    qualified: bool | None = None
    post_user_info: PostUserInfo | None = None
    ext_hdr: str | None = None
    elements: dict[str, Any] | None = None


class Close(Message, tag="Close"):
    id: int | list[int] = field(name="ID")
    domain: str | int | None = None


class Post(Message, tag="Post"):
    id: int = field(name="ID")
    domain: str | int | None = None
    key: Key | None = None
    message: dict[str, Any] | None = None
    ack: bool | None = None
    post_id: int | None = field(default=None, name="PostID")
    post_user_info: PostUserInfo | None = None
    complete: bool | None = None
    part_number: int | None = None
    seq_number: int | None = None
    perm_data: str | None = None
    post_user_rights: int | None = None
    ext_hdr: str | None = None


class Ack(Message, tag="Ack"):
    ack_id: int = field(name="AckID")
    id: int | None = field(default=None, name="ID")
    domain: str | int | None = None
    key: Key | None = None
    nak_code: str | None = None
    text: str | None = None
    seq_number: int | None = None
    private: bool | None = None
    qualified: bool | None = None


class Generic(Message, tag="Generic"):
    id: int = field(name="ID")
    domain: str | int | None = None
    key: Key | None = None
    complete: bool | None = None
    part_number: int | None = None
    seq_number: int | None = None
    sec_seq_number: int | None = None
    perm_data: str | None = None
    ext_hdr: str | None = None
    fields: Fields | None = None
    elements: dict[str, Any] | None = None
    map: dict[str, Any] | None = None
    json: Any = None


class Error(Message, tag="Error"):
    id: int = field(name="ID")
    text: str
    debug: dict[str, Any] | None = None


class Ping(Message, tag="Ping"):
    pass


class Pong(Message, tag="Pong"):
    pass


AnyMessage = (
    Request | Refresh | Update | Status | Close | Post | Ack | Generic | Error | Ping | Pong
)
ITEM_MESSAGES = (Refresh, Update, Status)
