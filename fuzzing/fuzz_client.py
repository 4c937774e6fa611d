"""atheris target: any frame into a logged-in client core must not raise."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ertcloud.protocol import ClientProtocol, codec
    from ertcloud.protocol.messages import Refresh, State


def _client() -> ClientProtocol:
    c = ClientProtocol()
    c.connection_made(0.0)
    c.start_login("token")
    login = Refresh(id=c.login.id, domain="Login", state=State("Open", "Ok"))
    c.receive(codec.encode([login]), 0.0)
    c.request(["TRI.N", "IBM.N"], batch=False)
    c.request(["0#BOOK"], domain="MarketByPrice")
    c.data_to_send(0.0)
    return c


def test_one_input(data: bytes) -> None:
    c = _client()
    c.receive(data, 1.0)
    c.receive(b'[{"Type":"Update","ID":2,"Fields":{"BID":1}}]', 2.0)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
