"""Every test of tests/protocol runs on both receive cores: the pure one and, where it was
built, the compiled one (``ClientProtocol.dispatch`` and ``fast_decode`` swapped per module).

unittest-style cases (the hypothesis state machine's TestCase) cannot be parametrized: they
run on the active core here, and on the other one in tests/compiled_core. With
``ERTCLOUD_NO_EXTENSIONS=1`` (make test's second pass, on the pure core) only the pure one
runs: the first pass already ran both."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ertcloud.protocol import core
from ertcloud.protocol.client import ClientProtocol


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "receive_core" in metafunc.fixturenames:
        forced_pure = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")
        cores = ["pure"] if forced_pure else ["pure", "compiled"]
        metafunc.parametrize("receive_core", cores, indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def receive_core(request: pytest.FixtureRequest) -> Iterator[str]:
    """The core under test, for the whole module."""
    name = getattr(request, "param", core.CORE)
    try:
        fn, fast = core.select(name)
    except ValueError:
        pytest.skip("the compiled core is not built (see test_compiled_core_is_built)")
    saved = ClientProtocol.__dict__["dispatch"], ClientProtocol.__dict__["fast_decode"]
    ClientProtocol.dispatch = staticmethod(fn)  # type: ignore[assignment]
    ClientProtocol.fast_decode = staticmethod(fast)  # type: ignore[assignment,arg-type]
    try:
        yield name
    finally:
        ClientProtocol.dispatch, ClientProtocol.fast_decode = saved
