"""atheris target: any frame into the simulator's connection must not raise."""

from __future__ import annotations

import asyncio
import json
import sys

import atheris

with atheris.instrument_imports():
    from ertcloud.sim.ads import ServerConfig, StreamingServer
    from ertcloud.sim.gateway import Gateway
    from ertcloud.sim.market import Market

_gw = Gateway(users={"demo": "demo"}, clients={})
_, _body = _gw.token(
    "/auth/oauth2/v1/token",
    {
        "grant_type": "password",
        "username": "demo",
        "password": "demo",
        "client_id": "x",
        "scope": "trapi",
        "takeExclusiveSignOnControl": "true",
    },
    None,
)
_server = StreamingServer(Market(42), _gw, ServerConfig())
_LOGIN = json.dumps(
    {
        "ID": 1,
        "Domain": "Login",
        "Key": {"Elements": {"AuthenticationToken": _body["access_token"]}},
    }
).encode()
_loop = asyncio.new_event_loop()


async def _nothing(_: bytes = b"") -> None:
    return None


async def _run(data: bytes) -> None:
    cs = _server.connect(_nothing, _nothing, "fuzz")
    await cs.receive(_LOGIN)
    await cs.receive(b'{"ID":2,"Key":{"Name":"TRI.N"}}')
    await cs.receive(data)
    _server.forget(cs)


def test_one_input(data: bytes) -> None:
    _loop.run_until_complete(_run(data))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
