"""The seeded market generator: images, determinism, quotes, trades, ripples, posting."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol.fields import FIELDS, RIPPLE_TARGETS, json_type_ok
from ertcloud.sim.market import Instrument, Market
from ertcloud.sim.market.table import TABLE, FieldSet

T0 = 1_732_550_000.25  # 2024-11-25 15:53:20.250 UTC


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(seed: int = 42, **kw: Any) -> Market:
    return Market(seed, clock=FakeClock(), **kw)


@pytest.fixture(scope="module")
def market() -> Market:
    return make()


def _luhn_ok(code: str) -> bool:
    digits = "".join(str(int(c, 36)) for c in code[:-1])
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(code[-1])


def _check_image(inst: Instrument) -> None:
    for name, value in inst.image.items():
        fd = FIELDS.get(name)
        assert fd is not None, f"{inst.ric}: unknown field {name}"
        assert json_type_ok(fd, value), f"{inst.ric}: {name}={value!r} is not a valid {fd.type}"


def _on_tick(value: float, tick: float) -> bool:
    n = value / tick
    return abs(n - round(n)) < 1e-6


# ------------------------------------------------------------------ universe and images


def test_universe(market: Market) -> None:
    rics = list(market.instruments)
    assert rics[0] == "TRI.N"
    for ric in (
        "IBM.N",
        "T.N",
        "MSFT.O",
        "AAPL.O",
        "AMZN.O",
        "GOOGL.O",
        "JPM.N",
        "VOD.L",
        "BARC.L",
        "HSBA.L",
        "TRI.TO",
        "RY.TO",
        "7203.T",
        "EUR=",
        "JPY=",
        "GBP=",
        "CHF=",
        "AUD=",
        "CAD=",
        ".SPX",
        ".DJI",
        ".IXIC",
        ".FTSE",
        ".GDAXI",
        ".N225",
        "US10YT=RR",
    ):
        assert ric in market.instruments, ric
        assert market.instruments[ric].ric == ric
    kinds = Counter(i.kind for i in market.instruments.values())
    assert kinds["equity"] >= 24
    assert kinds["fx"] >= 6
    assert kinds["index"] >= 6
    assert kinds["bond"] >= 2
    assert set(kinds) == {"equity", "fx", "index", "bond"}


def test_every_record_is_its_class_field_set_in_order(market: Market) -> None:
    # The instrument table declares each class's record layout; the classes compute it.
    kinds = Counter(inst.kind for inst in market.instruments.values())
    assert set(kinds) == set(TABLE.field_sets)
    for inst in market.instruments.values():
        fs = TABLE.field_sets[inst.kind]
        assert tuple(inst.image) == fs.fields, inst.ric
        assert {k: inst.image[k] for k in fs.constants} == fs.constants, inst.ric
        assert all(inst.image[k] is None for k in fs.blank), inst.ric


def test_table_lists_every_instrument_once_with_known_venues() -> None:
    rics = [
        *(e.ric for e in TABLE.equities),
        *(f.ric for f in TABLE.fx),
        *(i.ric for i in TABLE.indices),
        *(b.ric for b in TABLE.bonds),
    ]
    assert len(rics) == len(set(rics)) == len(make().instruments)
    assert all(e.ric.rsplit(".", 1)[1] in TABLE.venues for e in TABLE.equities)
    assert {v for i in TABLE.indices for v in i.chain} <= set(TABLE.venues)
    assert {v.tick_rule for v in TABLE.venues.values()} <= set(TABLE.tick_bands)


def test_a_record_off_its_field_set_is_refused() -> None:
    fs = FieldSet("demo", ("A", "B", "C"), {"A": 1}, ("C",))
    assert list(fs.image({"B": 2})) == ["A", "B", "C"]
    with pytest.raises(ValueError, match="demo record fields differ from its field set: \\['D'\\]"):
        fs.image({"B": 2, "D": 4})
    with pytest.raises(ValueError, match="\\['B'\\]"):
        fs.image({})


def test_every_image_uses_known_fields_with_valid_types(market: Market) -> None:
    for inst in market.instruments.values():
        _check_image(inst)


def test_equity_image(market: Market) -> None:
    img = market.instruments["TRI.N"].image
    assert 40 <= len(img) <= 100
    for name in (
        "DSPLY_NAME",
        "CURRENCY",
        "PROD_PERM",
        "RDNDISPLAY",
        "TRDPRC_1",
        "TRDPRC_5",
        "BID",
        "ASK",
        "BIDSIZE",
        "ASKSIZE",
        "NETCHNG_1",
        "PCTCHNG",
        "HIGH_1",
        "LOW_1",
        "OPEN_PRC",
        "HST_CLOSE",
        "ACVOL_1",
        "TRDVOL_1",
        "TRADE_DATE",
        "SALTIM",
        "TRDTIM_1",
        "QUOTIM",
        "QUOTIM_MS",
    ):
        assert img.get(name) is not None, name
    assert img["CURRENCY"] == "USD"
    assert img["RDN_EXCHD2"] == "NYS"
    assert img["TRADE_DATE"] == "2024-11-25"
    assert img["SALTIM"] == "15:53:20"
    assert img["QUOTIM_MS"] == (15 * 3600 + 53 * 60 + 20) * 1000 + 250
    assert img["BID"] < img["ASK"]
    assert img["LOW_1"] <= img["TRDPRC_1"] <= img["HIGH_1"]
    assert img["NETCHNG_1"] == pytest.approx(img["TRDPRC_1"] - img["HST_CLOSE"], abs=1e-9)
    assert market.instruments["VOD.L"].image["CURRENCY"] == "GBp"
    assert market.instruments["7203.T"].image["CURRENCY"] == "JPY"


def test_identifiers_have_valid_check_digits(market: Market) -> None:
    for inst in market.instruments.values():
        isin = inst.image.get("ISIN_CODE")
        if isin is not None:
            assert len(isin) == 12 and _luhn_ok(isin), (inst.ric, isin)


def test_fx_index_bond_images(market: Market) -> None:
    eur = market.instruments["EUR="].image
    assert "TRDPRC_1" not in eur
    assert eur["CURRENCY"] == "USD"
    assert market.instruments["JPY="].image["CURRENCY"] == "JPY"
    assert eur["BID"] < eur["ASK"]
    assert eur["PRIMACT_1"] == eur["BID"]
    spx = market.instruments[".SPX"].image
    assert spx["BID"] is None and spx["ASK"] is None
    assert spx["TRDPRC_1"] > 0
    bond = market.instruments["US10YT=RR"].image
    assert bond["BID"] < bond["ASK"]
    assert bond["B_YLD_1"] > bond["A_YLD_1"]  # a lower price is a higher yield
    assert 0 < bond["MID_YLD_1"] < 20


def test_prices_on_tick_grid(market: Market) -> None:
    for inst in market.instruments.values():
        tick = inst.image.get("PRC_TICK")
        if inst.kind != "equity" or tick is None:
            continue
        for name in ("BID", "ASK", "TRDPRC_1", "HST_CLOSE"):
            assert _on_tick(inst.image[name], tick), (inst.ric, name, inst.image[name], tick)


# ------------------------------------------------------------------ lookups


def test_get() -> None:
    m = make()
    tri = m.get("TRI.N")
    assert tri is not None and tri.ric == "TRI.N"
    assert m.get("/TRI.N") is tri
    assert m.get("NOPE.N") is None
    assert m.get("/NOPE.N") is None
    assert m.get("") is None
    inst, _, _ = m.step("/TRI.N")
    assert inst is tri
    with pytest.raises(KeyError):
        m.step("NOPE.N")


# ------------------------------------------------------------------ determinism


def _run(m: Market, n: int, ric: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for _ in range(n):
        inst, utype, fields = m.step(ric)
        out.append((inst.ric, utype, dict(fields)))
    return out


def test_determinism() -> None:
    a, b = make(7), make(7)
    assert {r: i.image for r, i in a.instruments.items()} == {
        r: i.image for r, i in b.instruments.items()
    }
    assert _run(a, 3000) == _run(b, 3000)
    assert {r: i.image for r, i in a.instruments.items()} == {
        r: i.image for r, i in b.instruments.items()
    }
    c = make(8)
    assert _run(make(7), 200) != _run(c, 200)


def test_instruments_are_independent_of_extra_rics() -> None:
    a = make(5)
    b = make(5, extra_rics=["ACME.N", "ZZZ.L"])
    assert a.instruments["TRI.N"].image == b.instruments["TRI.N"].image
    assert _run(a, 500, "TRI.N") == _run(b, 500, "TRI.N")


# ------------------------------------------------------------------ quotes and trades


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 1500))
def test_bid_below_ask_and_images_valid_after_steps(seed: int, n: int) -> None:
    m = make(seed)
    for _ in range(n):
        inst, utype, _ = m.step()
        assert utype in ("Quote", "Trade")
        bid, ask = inst.image.get("BID"), inst.image.get("ASK")
        if bid is not None or ask is not None:
            assert bid is not None and ask is not None
            assert 0 < bid < ask, (inst.ric, bid, ask)
    for inst in m.instruments.values():
        _check_image(inst)
        img = inst.image
        if img.get("BID") is not None:
            assert img["BID"] < img["ASK"]
        if inst.kind == "equity":
            tick = img["PRC_TICK"]
            assert _on_tick(img["BID"], tick) and _on_tick(img["ASK"], tick)
            assert _on_tick(img["TRDPRC_1"], tick)


def test_update_types_per_kind() -> None:
    m = make(3)
    types: dict[str, Counter[str]] = {}
    for _ in range(20_000):
        inst, utype, _ = m.step()
        types.setdefault(inst.kind, Counter())[utype] += 1
    assert set(types["fx"]) == {"Quote"}
    assert set(types["bond"]) == {"Quote"}
    assert set(types["index"]) == {"Trade"}
    eq = types["equity"]
    share = eq["Quote"] / (eq["Quote"] + eq["Trade"])
    assert 0.6 < share < 0.7


def test_selection_is_weighted() -> None:
    m = make(11)
    counts = Counter(m.step()[0].ric for _ in range(30_000))
    assert set(counts) == set(m.instruments)  # every instrument gets picked
    assert counts["EUR="] > counts["US2YT=RR"] * 2
    assert counts["MSFT.O"] > counts["BHP.AX"] * 2


def test_changed_fields_are_applied_and_leave_ripples_out() -> None:
    m = make(2)
    keys = {r: set(i.image) for r, i in m.instruments.items()}
    for _ in range(5000):
        inst, _, fields = m.step()
        assert fields
        assert not set(fields) & RIPPLE_TARGETS
        for name, value in fields.items():
            assert inst.image[name] == value
    assert {r: set(i.image) for r, i in m.instruments.items()} == keys


def test_trade_ripples_and_stats() -> None:
    m = make(9)
    tri = m.instruments["TRI.N"]
    img = tri.image
    trades = 0
    for _ in range(2000):
        before = dict(img)
        _, utype, fields = m.step("TRI.N")
        if utype != "Trade":
            assert img["BID_1"] == before["BID"]
            assert img["BID_2"] == before["BID_1"]
            assert img["ASK_1"] == before["ASK"]
            assert img["TRDPRC_1"] == before["TRDPRC_1"]
            continue
        trades += 1
        assert img["TRDPRC_2"] == before["TRDPRC_1"]
        assert img["TRDPRC_3"] == before["TRDPRC_2"]
        assert img["TRDPRC_4"] == before["TRDPRC_3"]
        assert img["TRDPRC_5"] == before["TRDPRC_4"]
        assert "TRDPRC_1" in fields and "TRDVOL_1" in fields
        assert img["BID"] <= img["TRDPRC_1"] <= img["ASK"]
        assert img["ACVOL_1"] == before["ACVOL_1"] + img["TRDVOL_1"]
        assert img["NUM_MOVES"] == before["NUM_MOVES"] + 1
        assert img["NETCHNG_1"] == pytest.approx(img["TRDPRC_1"] - img["HST_CLOSE"], abs=1e-9)
        pct = (img["TRDPRC_1"] / img["HST_CLOSE"] - 1) * 100
        assert img["PCTCHNG"] == pytest.approx(pct, abs=0.006)
        assert img["LOW_1"] <= img["TRDPRC_1"] <= img["HIGH_1"]
        assert img["HIGH_1"] >= before["HIGH_1"] and img["LOW_1"] <= before["LOW_1"]
        if img["TRDPRC_1"] != before["TRDPRC_1"]:
            up = img["TRDPRC_1"] > before["TRDPRC_1"]
            assert img["PRCTCK_1"] == ("⇧" if up else "⇩")
    assert trades > 500


def test_acvol_and_num_moves_monotonic() -> None:
    m = make(4)
    last = {r: (i.image.get("ACVOL_1"), i.image.get("NUM_MOVES")) for r, i in m.instruments.items()}
    for _ in range(20_000):
        inst, _, _ = m.step()
        acv, nm = inst.image.get("ACVOL_1"), inst.image.get("NUM_MOVES")
        pacv, pnm = last[inst.ric]
        if pacv is not None:
            assert acv >= pacv
        if pnm is not None:
            assert nm >= pnm
        last[inst.ric] = (acv, nm)


def test_index_breadth_stays_consistent() -> None:
    m = make(6)
    spx = m.instruments[".SPX"].image
    total = spx["ISSUES_ADV"] + spx["ISSUES_DEC"] + spx["ISSUES_UNC"]
    for _ in range(3000):
        m.step(".SPX")
        assert spx["ISSUES_ADV"] + spx["ISSUES_DEC"] + spx["ISSUES_UNC"] == total
        assert min(spx["ISSUES_ADV"], spx["ISSUES_DEC"], spx["ISSUES_UNC"]) >= 0
        assert spx["LOW_1"] <= spx["TRDPRC_1"] <= spx["HIGH_1"]


def test_prices_stay_realistic() -> None:
    m = make(12)
    start = {r: i.image.get("BID") or i.image.get("TRDPRC_1") for r, i in m.instruments.items()}
    for _ in range(50_000):
        m.step()
    for ric, inst in m.instruments.items():
        now = inst.image.get("BID") or inst.image.get("TRDPRC_1")
        assert now is not None and start[ric] is not None
        assert abs(math.log(now / start[ric])) < 0.2, ric


def test_times_follow_the_clock() -> None:
    clock = FakeClock(T0)
    m = Market(1, clock=clock)
    clock.t = T0 + 3600 * 9 + 0.5  # 2024-11-26 00:53:20.750 UTC
    while True:
        _, utype, fields = m.step("IBM.N")
        if utype == "Trade":
            break
    assert fields["SALTIM"] == "00:53:20"
    assert fields["TRDTIM_1"] == "00:53:20"
    assert fields["SALTIM_MS"] == (53 * 60 + 20) * 1000 + 750
    assert fields["TRADE_DATE"] == "2024-11-26"
    _, _, q = m.step("EUR=")
    assert q["QUOTIM"] == "00:53:20" and q["QUOTIM_MS"] == 3_200_750
    assert q["QUOTE_DATE"] == "2024-11-26"


# ------------------------------------------------------------------ extra RICs and posting


def test_extra_rics() -> None:
    m = make(1, extra_rics=["ACME.N", "FOO.L", "/BAR.O", "NODOT", "TRI.N"])
    n = len(make(1).instruments)
    assert len(m.instruments) == n + 4
    for ric in ("ACME.N", "FOO.L", "BAR.O", "NODOT"):
        inst = m.get(ric)
        assert inst is not None and inst.kind == "equity"
        _check_image(inst)
        assert _luhn_ok(inst.image["ISIN_CODE"])
    assert m.instruments["FOO.L"].image["CURRENCY"] == "GBp"
    assert m.instruments["ACME.N"].image["DSPLY_NAME"] == "ACME"
    # static data is deterministic from the name, whatever the seed
    other = make(99, extra_rics=["ACME.N"])
    for name in ("ISIN_CODE", "DSPLY_NAME", "PRC_TICK", "CURRENCY"):
        assert other.instruments["ACME.N"].image[name] == m.instruments["ACME.N"].image[name]
    for _ in range(500):
        inst, _, _ = m.step("ACME.N")
        assert inst.image["BID"] < inst.image["ASK"]
    with pytest.raises(ValueError):
        make(extra_rics=["/"])


def test_apply() -> None:
    m = make(1)
    img = m.instruments["TRI.N"].image
    m.apply("TRI.N", {"DSPLY_NAME": "POSTED", "BID": 200.0, "ASK": 200.02})
    assert img["DSPLY_NAME"] == "POSTED"
    assert img["BID"] == 200.0
    m.step("TRI.N")  # the process continues from the posted prices
    assert abs(img["BID"] - 200.0) < 1.0
    assert img["BID"] < img["ASK"]
    old = img["TRDPRC_1"]
    m.apply("/TRI.N", {"TRDPRC_1": 201.0}, ripple=True)
    assert img["TRDPRC_1"] == 201.0 and img["TRDPRC_2"] == old
    m.apply("TRI.N", {"ACVOL_1": None, "HST_CLOSE": None})
    for _ in range(200):
        inst, _, _ = m.step("TRI.N")
        _check_image(inst)
    with pytest.raises(KeyError):
        m.apply("NOPE.N", {"BID": 1.0})


def test_posted_records_and_book_params() -> None:
    m = make(1)
    inst = m.create("UMER.TST", {"BID": 22.1, "ASK": 24.5})
    assert m.get("/UMER.TST") is inst and inst.kind == "posted"
    assert not m.steppable("UMER.TST") and m.steppable("TRI.N")
    m.apply("UMER.TST", {"BID": 22.2}, ripple=True)
    # Ripple moves values within the record's fields; it never adds one (nor does a cache).
    assert inst.image == {"BID": 22.2, "ASK": 24.5}
    full = m.create("RIP.TST", {"BID": 1.0, "BID_1": 0.9, "BID_2": 0.8})
    m.apply("RIP.TST", {"BID": 1.1}, ripple=True)
    assert full.image == {"BID": 1.1, "BID_1": 1.0, "BID_2": 0.9}
    with pytest.raises(ValueError):
        m.create("TRI.N", {})
    tick, dec, lot = m.book_params("TRI.N") or (0.0, 0, 0)
    assert tick == 0.01 and dec == 2 and lot == 100
    assert m.book_params("EUR=") is None and m.book_params("UMER.TST") is None
    day, ms = m.stamp()
    assert len(day) == 10 and 0 <= ms < 86_400_000
