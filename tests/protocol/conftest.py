"""Every test of tests/protocol runs on both receive cores: the pure one and, where it was
built, the compiled one (``ClientProtocol.dispatch`` swapped per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ertcloud.protocol import core
from ertcloud.protocol.client import ClientProtocol


@pytest.fixture(scope="module", params=["pure", "compiled"], autouse=True)
def receive_core(request: pytest.FixtureRequest) -> Iterator[str]:
    """The core under test, for the whole module."""
    fn = core.pure_dispatch if request.param == "pure" else core.compiled_dispatch
    if fn is None:
        pytest.skip("the compiled core is not built (see test_compiled_core_is_built)")
    saved = ClientProtocol.__dict__["dispatch"]
    ClientProtocol.dispatch = staticmethod(fn)  # type: ignore[assignment]
    try:
        yield request.param
    finally:
        ClientProtocol.dispatch = saved
