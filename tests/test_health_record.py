"""The health record keeps its rarely moved counters apart, yet reads as the dataclass it was."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from ertcloud.client.integrity import StreamHealth, _HealthFields

_VALUES = {
    "last_seq": st.none() | st.integers(0, 2**31),
    "step": st.none() | st.integers(1, 10),
    "learned": st.integers(0, 5),
    "gaps": st.integers(0, 3),
    "missing": st.integers(0, 3),
    "skipped": st.integers(0, 3),
    "out_of_order": st.integers(0, 3),
    "stale": st.booleans(),
    "stale_reason": st.sampled_from(["", "silent", "suspect"]),
    "last_message": st.floats(0, 1e9),
    "seen": st.integers(0, 1000),
    "next_seq": st.integers(-1, 2**31),
}
_ASSIGNMENTS = st.lists(
    st.sampled_from(sorted(_VALUES)).flatmap(lambda n: st.tuples(st.just(n), _VALUES[n])),
    max_size=20,
)


@given(st.fixed_dictionaries({}, optional=_VALUES), _ASSIGNMENTS)
def test_reads_as_the_dataclass(init: dict[str, object], steps: list[tuple[str, object]]) -> None:
    h, model = StreamHealth(**init), _HealthFields(**init)  # type: ignore[arg-type]
    for name, value in steps:
        setattr(h, name, value)
        setattr(model, name, value)
    assert dataclasses.astuple(h) == dataclasses.astuple(model)
    assert dataclasses.asdict(h) == dataclasses.asdict(model)
    assert repr(h) == repr(model).replace("_HealthFields", "StreamHealth")
    assert h == StreamHealth(**dataclasses.asdict(model))
    assert dataclasses.replace(h, seen=7) == StreamHealth(
        **{**dataclasses.asdict(model), "seen": 7}
    )


def test_a_healthy_record_has_no_rare_part() -> None:
    h = StreamHealth(last_seq=10, step=1, learned=3, next_seq=11)
    h.gaps = 0  # a default assigned makes no rare part
    h.stale, h.stale_reason = False, ""
    assert h._rare is None
    assert len(StreamHealth.__slots__) < len(dataclasses.fields(StreamHealth))
    h.gaps += 1
    assert h._rare is not None and h.gaps == 1 and h.missing == 0
    assert StreamHealth.__match_args__ == tuple(f.name for f in dataclasses.fields(StreamHealth))
