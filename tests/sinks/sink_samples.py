"""Sample rows made from real protocol messages, shared by the sink tests."""

from __future__ import annotations

from ertcloud.protocol.messages import Key, Refresh, State, Status, Update
from ertcloud.sinks import Row, row_from_message

T0 = 1_700_000_000.123456


def sample_rows(start: int = 1, n_updates: int = 20) -> list[Row]:
    """A Refresh, Quote and Trade updates, a Status, an order-book Refresh and Update,
    odd names and values: everything a store must keep exactly."""
    rows: list[Row] = []
    seq = start

    def add(msg: Refresh | Update | Status, ric: str, domain: str = "MarketPrice") -> None:
        nonlocal seq
        rows.append(
            row_from_message(seq, T0 + seq * 0.001, msg, ric=ric, domain=domain, service=None)
        )
        seq += 1

    add(
        Refresh(
            id=3,
            key=Key(service="ELEKTRON_DD", name="TRI.N"),
            state=State(stream="Open", data="Ok", text="All is well"),
            seq_number=1234,
            fields={
                "BID": 45.12,
                "ASK": 45.13,
                "BIDSIZE": 10,
                "ASKSIZE": 7,
                "TRDPRC_1": 45.125,
                "DSPLY_NAME": "THOMSON REUTERS",
                "NETCHNG_1": -0.1,
                "TRADE_DATE": "2024-05-01",
                "PCTCHNG": None,
            },
        ),
        "TRI.N",
    )
    for i in range(n_updates):
        if i % 3 == 2:
            add(
                Update(
                    id=3,
                    update_type="Trade",
                    seq_number=1250 + i,
                    fields={"TRDPRC_1": 45.1 + i / 100, "TRDVOL_1": 100 + i},
                ),
                "TRI.N",
            )
        else:
            add(
                Update(
                    id=3,
                    update_type="Quote",
                    seq_number=1250 + i,
                    fields={"BID": 0.1 + 0.2 + i, "ASK": 1e-7 * i + 46, "BIDSIZE": 2**40 + i},
                ),
                "TRI.N",
            )
    add(
        Refresh(
            id=4,
            key=Key(service=257, name="/EUR="),
            state=State(stream="Open", data="Ok"),
            fields={"BID": 1.0812, "ASK": 1.0814, "DSPLY_NAME": "Euro/Dollar ünïcødé 円"},
        ),
        "/EUR=",
    )
    add(
        Refresh(
            id=5,
            domain="MarketByPrice",
            key=Key(name="VOD.L"),
            state=State(stream="Open", data="Ok"),
            map={
                "KeyType": "Buffer",
                "Entries": [
                    {"Action": "Add", "Key": "3.5B", "Fields": {"ORDER_PRC": 3.5, "ORDER_SIDE": 1}},
                    {"Action": "Add", "Key": "3.6A", "Fields": {"ORDER_PRC": 3.6, "ORDER_SIDE": 2}},
                ],
            },
        ),
        "VOD.L",
        "MarketByPrice",
    )
    add(
        Update(
            id=5,
            domain="MarketByPrice",
            map={"Entries": [{"Action": "Delete", "Key": "3.5B"}]},
        ),
        "VOD.L",
        "MarketByPrice",
    )
    add(
        Status(
            id=3,
            key=Key(name="TRI.N"),
            state=State(stream="Open", data="Suspect", code="None", text="Stale data"),
        ),
        "TRI.N",
    )
    return rows
