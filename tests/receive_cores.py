"""Run every test of a folder on both receive cores, the pure one and, where it was built, the
compiled one: ``ClientProtocol.dispatch`` and ``fast_decode`` are swapped per module. A
folder's conftest.py imports :func:`pytest_generate_tests` and :func:`receive_core`.

With ``ERTCLOUD_NO_EXTENSIONS=1`` only the pure core runs. A test marked ``serial`` (run alone,
timing-sensitive) runs on the active core only. Processes a test starts run the active core
(the simulator's, which has no receive core, and the CLI's)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ertcloud.protocol import core
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.streams import use_compact_images


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "receive_core" in metafunc.fixturenames:
        forced_pure = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")
        if forced_pure:
            cores = ["pure"]
        elif metafunc.definition.get_closest_marker("serial"):
            cores = [core.CORE]
        else:
            cores = ["pure", "compiled"]
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
    # and the images of streams outside a stream table, as at import with this core
    use_compact_images(core.compiled_image, name == "compiled")
    try:
        yield name
    finally:
        ClientProtocol.dispatch, ClientProtocol.fast_decode = saved
        use_compact_images(core.compiled_image, core.CORE == "compiled")
