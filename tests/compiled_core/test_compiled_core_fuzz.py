"""A bounded fuzz run of the compiled receive core against the pure one: atheris
(coverage-guided, a fixed 20,000 inputs) where it is installed (the test extra), and
hypothesis on mutated frames (more of them where atheris is missing). Any difference or
unexpected exception fails.

Why 20,000 inputs: the coverage the run reaches levels off early. From these seeds, one
40 s run (114k inputs) reached 324 edges after 1.4k inputs, 329 after 11k, 335 after 27k and
338 at the end. A count rather than a time makes the cost the same on a slow machine (about
7 s on a busy 2-core VM, 3 s on a quiet one), and each run draws a new random seed
(libFuzzer prints it, with the failing input), so runs over time explore more.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from core_twins import Twins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import core

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [
    b'[{"ID":2,"Type":"Update","SeqNumber":4,"Fields":{"TRDPRC_1":5.5,"BID":1,"ASK":2}}]',
    b'{"ID":3,"Type":"Update","Fields":{"TRDPRC_1":5,"TRDPRC_2":6,"BID_1":"x"}}',
    b'[{"ID":4,"Type":"Update","Fields":{"DSPLY_NAME":"A\\u00e9"}},{"ID":5,"Type":"Ping"}]',
    b'{"ID":6,"Type":"Update","Fields":{"CRV":{"Entries":[{"Index":0,"Action":"Set"}]}}}',
    b'[{"ID":2,"Type":"Refresh","State":{"Stream":"Open","Data":"Ok"},"Fields":{"BID":1}}]',
    b'{"ID":5,"Type":"Update","Fields":{"A":1,"B":2,"C":3}}',
    b'{"ID":7,"Type":"Status","State":{"Stream":"Closed","Data":"Suspect"}}',
    # frames the compiled reader of Updates takes (decode_updates): its mutations probe it
    b'[{"Type":"Update","ID":2,"Key":{"Name":"WHOLE.L","Service":"ELEKTRON_DD"},'
    b'"UpdateType":"Trade","SeqNumber":9,"Fields":{"TRDPRC_1":1.25,"ACVOL_1":100,'
    b'"BID_1":null,"X":"\xe2\x87\xa7","DSPLY_NAME":"caf\xc3\xa9"}}]',
    b'[ {"ID":4, "Type":"Update", "Fields":{"ACVOL_1":-0, "A":1e-3, "B":true}} ,'
    b' {"Type":"Update","ID":3,"DoNotCache":false,"Fields":{"BID":12345678901234567}}]',
    # Map Updates of the order books (the compiled Map reader and apply)
    b'[{"Type":"Update","ID":8,"Domain":"MarketByPrice","SeqNumber":3,"Map":{"KeyType":"Buffer",'
    b'"Summary":{"Fields":{"TIMACT_MS":1}},"Entries":[{"Action":"Add","Key":"k1","Fields":'
    b'{"ORDER_PRC":1.5,"ORDER_SIDE":"BID"}},{"Action":"Delete","Key":"OTkuOTlC"}]}}]',
    b'{"Type":"Update","ID":9,"Map":{"Entries":[{"Action":"Update","Key":[1],"Elements":'
    b'{"A":1,"B":2}},{"Action":"Add","Key":2},{"Action":"Add","Key":3},{"Action":"Add"}]}}',
    b'[{"Type":"Update","ID":8,"Map":{"CountHint":3,"Summary":{"Fields":{"A":1,"A":2.5}},'
    b'"Entries":[{"Key":"k1","Action":"Add","Fields":{"P":1,"Q":null}},{"Fields":{"Q":true},'
    b'"Action":"Update","Key":"k1","Note":"n"},{},{"Action":"Delete","Key":"k1"}]}}]',
    # Refreshes the compiled reader of Refreshes and its apply take (_speedups_refresh.pxi)
    b'[{"Type":"Refresh","ID":2,"Key":{"Service":"ELEKTRON_DD","Name":"WHOLE.L"},"State":'
    b'{"Stream":"Open","Data":"Ok","Text":"All is well"},"Qos":{"Timeliness":"Realtime",'
    b'"Rate":"TickByTick"},"PermData":"AwO9ZWLA","SeqNumber":3,"Fields":{"TRDPRC_1":1.5,'
    b'"TRDPRC_2":null,"BID":2,"X":"a"}},{"Type":"Update","ID":2,"Fields":{"TRDPRC_1":2}}]',
    b'{"Type":"Refresh","ID":4,"Complete":false,"State":{"Stream":"Open","Data":"Suspect"},'
    b'"Fields":{"TRDPRC_1":1,"TRDPRC_3":3}}',
]
pytestmark = pytest.mark.skipif(
    core.compiled_dispatch is None, reason="the compiled core is not built"
)


ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.skipif(not ATHERIS, reason="atheris not installed")
def test_coverage_guided_fuzz_finds_no_difference(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzzing" / "fuzz_core_twins.py"),
            "-runs=20000",
            "-max_len=2048",
            "-rss_limit_mb=2048",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    assert "Done " in r.stderr, r.stderr[-2000:]


# the coverage-guided run above mutates the same seeds 20,000 times where atheris is installed
@settings(
    max_examples=500 if ATHERIS else 1500,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4096), st.binary(max_size=4)), max_size=4),
    st.booleans(),
)
def test_mutated_frames_find_no_difference(
    seed: bytes, edits: list[tuple[int, bytes]], cut: bool
) -> None:
    frame = seed
    for at, chunk in edits:
        i = at % (len(frame) + 1)
        frame = frame[:i] + chunk + frame[i + len(chunk) :]
    if cut and edits:
        frame = frame[: edits[0][0] % (len(frame) + 1)]
    Twins().feed(frame)
