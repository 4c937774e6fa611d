"""Property: whatever the values, a row stored by a file or DuckDB sink comes back equal."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.sinks import Row, make_sink

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


# Built once (a strategy built inside the composite is rebuilt at every draw). The field
# names are the strings of [A-Z_0-9]{1,10}, drawn as text from that alphabet: the same space
# as the regex's, without its cost.
_field_names = st.text(
    alphabet=string.ascii_uppercase + "_" + string.digits, min_size=1, max_size=10
)
_fields = st.none() | st.dictionaries(_field_names, values, max_size=5)
_row_counts = st.integers(1, 6)
_stamps = st.floats(0, 4e9, allow_nan=False)
_kinds = st.sampled_from(["Refresh", "Update", "Status"])
_domains = st.sampled_from(["MarketPrice", "MarketByPrice"])
_services = st.none() | st.sampled_from(["ELEKTRON_DD", "257"])
_update_types = st.none() | st.sampled_from(["Quote", "Trade"])


@st.composite
def rows(draw: Any) -> list[Row]:
    n = draw(_row_counts)
    out = []
    for i in range(n):
        fields = draw(_fields)
        out.append(
            Row(
                seq=i + 1,
                ts=draw(_stamps),
                kind=draw(_kinds),
                domain=draw(_domains),
                ric=draw(names),
                service=draw(_services),
                update_type=draw(_update_types),
                fields=fields,
                raw=json.dumps({"Type": "Update", "Fields": fields}),
            )
        )
    return out


@pytest.mark.parametrize("kind", ["jsonl", "csv", "duckdb"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=rows())
def test_any_row_round_trips(kind: str, batch: list[Row]) -> None:
    with tempfile.TemporaryDirectory() as d:
        spec = f"{kind}:{Path(d) / 'r.store'}"
        s = make_sink(spec)
        s.open()
        s.write_batch(batch)
        s.close()
        s = make_sink(spec)
        s.open()
        back = list(s.read_rows())
        assert s.last_seq() == batch[-1].seq
        s.close()
    assert back == batch
