"""``session.snapshot()``: the live records of a session as a DataFrame."""

from __future__ import annotations

import asyncio

import pytest

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.exceptions import ConfigError
from ertcloud.sim.server import SimServer


async def test_snapshot_as_pandas_and_polars(sim: SimServer) -> None:
    import pandas as pd  # here: every xdist worker collects this module, few run it
    import polars as pl

    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "c"))
    async with Session(sim.websocket_url, tokens=tokens) as session:
        sub = session.subscribe(["TRI.N", "EUR="])
        await sub.wait_complete(timeout=20)
        for _ in range(400):  # an update on top of each image
            if all(sub.records[r].updates > 0 for r in ("TRI.N", "EUR=")):
                break
            await asyncio.sleep(0.05)
        df = session.snapshot()
        assert isinstance(df, pd.DataFrame)
        assert sorted(df.index) == ["EUR=", "TRI.N"]
        for ric in ("TRI.N", "EUR="):
            stream = sub.records[ric]
            assert df.loc[ric, "BID"] == stream.fields["BID"]
            assert df.loc[ric, "state"] == "Open/Ok"
        assert df.loc["TRI.N", "DSPLY_NAME"] == sub.records["TRI.N"].fields["DSPLY_NAME"]
        pdf = session.snapshot(kind="polars")
        assert isinstance(pdf, pl.DataFrame)
        assert sorted(pdf["ric"].to_list()) == ["EUR=", "TRI.N"]
        with pytest.raises(ConfigError):
            session.snapshot(kind="arrow")
