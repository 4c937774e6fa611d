"""Coverage-guided differential fuzzing of the compiled receive core against the pure one.

Each input is one WebSocket frame fed to two ClientProtocols (pure and compiled core, the
same logged-in streams: whole ripple chains, views, a YieldCurve, a small field limit); any
difference in events or images, or any exception other than the documented LimitExceeded,
is a crash. ``python fuzzing/fuzz_core_twins.py -max_total_time=60 [corpus_dir]``; the
tests run it for 20,000 inputs (tests/compiled_core/test_compiled_core_fuzz.py). Coverage is
traced in ertcloud's modules only: instrumenting the libraries imported with them (hypothesis,
for the twins' strategies) took a dozen seconds at start and guides nothing of the core.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

with atheris.instrument_imports(include=["ertcloud"]):
    from core_twins import Twins

    import ertcloud.protocol.client  # noqa: F401

_state: dict[str, object] = {"twins": None, "runs": 0}


def test_one_input(data: bytes) -> None:
    twins = _state["twins"]
    if twins is None or int(_state["runs"]) % 500 == 0:  # type: ignore[call-overload]
        twins = _state["twins"] = Twins()
    _state["runs"] = int(_state["runs"]) + 1  # type: ignore[call-overload]
    twins.feed(data)  # type: ignore[attr-defined]


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
