"""Enumerations of the WebSocket API (tr_json2): message types, domains, states, codes."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A str-valued enum that prints as its value (Python 3.10 has no enum.StrEnum)."""

    def __str__(self) -> str:
        return str(self.value)


class MsgType(StrEnum):
    REQUEST = "Request"
    REFRESH = "Refresh"
    STATUS = "Status"
    UPDATE = "Update"
    CLOSE = "Close"
    ACK = "Ack"
    GENERIC = "Generic"
    POST = "Post"
    PING = "Ping"
    PONG = "Pong"
    ERROR = "Error"


#: Numeric message classes accepted on input (RDM numbering).
MSG_TYPE_NUMBERS: dict[int, str] = {
    1: "Request",
    2: "Refresh",
    3: "Status",
    4: "Update",
    5: "Close",
    6: "Ack",
    7: "Generic",
    8: "Post",
}

#: Domain names and their RDM numbers.
DOMAINS: dict[str, int] = {
    "Login": 1,
    "Source": 4,
    "Dictionary": 5,
    "MarketPrice": 6,
    "MarketByOrder": 7,
    "MarketByPrice": 8,
    "MarketMaker": 9,
    "SymbolList": 10,
    "ServiceProviderStatus": 11,
    "History": 12,
    "Headline": 13,
    "Story": 14,
    "ReplayHeadline": 15,
    "ReplayStory": 16,
    "Transaction": 17,
    "YieldCurve": 22,
    "Contribution": 27,
    "ProviderAdmin": 29,
    "Analytics": 30,
    "Reference": 31,
    "NewsTextAnalytics": 33,
    "EconomicIndicator": 34,
    "Poll": 35,
    "Forecast": 36,
    "MarketByTime": 37,
    "System": 127,
}
DOMAIN_NAMES: dict[int, str] = {v: k for k, v in DOMAINS.items()}


class StreamState(StrEnum):
    OPEN = "Open"
    NON_STREAMING = "NonStreaming"
    CLOSED_RECOVER = "ClosedRecover"
    CLOSED = "Closed"
    REDIRECTED = "Redirected"


class DataState(StrEnum):
    OK = "Ok"
    SUSPECT = "Suspect"
    NO_CHANGE = "NoChange"


STATE_CODES: frozenset[str] = frozenset(
    """None NotFound Timeout NotEntitled InvalidArgument UsageError Preempted
    JitConflationStarted RealtimeResumed FailoverStarted FailoverCompleted GapDetected
    NoResources TooManyItems AlreadyOpen SourceUnknown NotOpen NonUpdatingItem
    UnsupportedViewType InvalidView FullViewProvided UnableToRequestAsBatch
    NoBatchViewSupportInReq ExceededMaxMountsPerUser Error DacsDown UserUnknownToPermSys
    MaxLoginsReached UserAccessToAppDenied GapFill AppAuthorizationFailed""".split()
)

UPDATE_TYPES: dict[str, int] = {
    "Unspecified": 0,
    "Quote": 1,
    "Trade": 2,
    "NewsAlert": 3,
    "VolumeAlert": 4,
    "OrderIndication": 5,
    "ClosingRun": 6,
    "Correction": 7,
    "MarketDigest": 8,
    "QuotesTrade": 9,
    "Multiple": 10,
    "Verify": 11,
}

NAK_CODES: frozenset[str] = frozenset(
    """None AccessDenied DeniedBySrc SourceDown SourceUnknown NoResources NoResponse
    GatewayDown SymbolUnknown NotOpen InvalidContent""".split()
)

#: Stream states after which the stream id is free again.
FINAL_STREAM_STATES: frozenset[str] = frozenset(
    {"NonStreaming", "Closed", "ClosedRecover", "Redirected"}
)
