"""``ClientProtocol.after_login``: what it returns goes out after each Login Refresh and
before the item requests (warm standby's role must reach the server before its items)."""

from __future__ import annotations

import json

import pytest

from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.messages import Message
from ertcloud.protocol.standby import STANDBY, connection_status

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)

LOGIN_REFRESH = json.dumps(
    [
        {
            "ID": 1,
            "Type": "Refresh",
            "Domain": "Login",
            "Key": {"Name": "u", "Elements": {"SupportStandby": 1}},
            "State": {"Stream": "Open", "Data": "Ok"},
        }
    ]
)


def sent(proto: ClientProtocol) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for frame in proto.data_to_send(0.0):
        data = json.loads(frame)
        out.extend(data if isinstance(data, list) else [data])
    return out


def test_the_role_goes_before_the_item_requests_on_every_login() -> None:
    proto = ClientProtocol()
    calls: list[bool] = []

    def role() -> list[Message]:
        calls.append(proto.login.supports("Standby"))
        return [connection_status(proto.login.id, STANDBY)]

    proto.after_login = role
    for _ in range(2):  # the first connection, then a reconnect
        proto.connection_made(0.0)
        proto.start_login("token")
        if not proto.streams.get(2):
            proto.request(["TRI.N", "IBM.N"])
        assert [m["Domain"] for m in sent(proto)] == ["Login"]  # items wait for the login
        proto.receive(LOGIN_REFRESH, 0.0)
        out = sent(proto)
        assert out[0]["Type"] == "Generic" and out[0]["Key"] == {
            "Name": "ConsumerConnectionStatus"
        }
        assert out[0]["Map"]["Entries"][0]["Elements"] == {"WarmStandbyMode": 1}  # type: ignore[index]
        assert all(m["Type"] == "Request" for m in out[1:])
        names = {m["Key"]["Name"] for m in out[1:]}  # type: ignore[index]
        assert names == {"TRI.N", "IBM.N"}
        proto.connection_lost()
    assert calls == [True, True]  # called once the Login Refresh is known
