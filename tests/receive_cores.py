"""Run the tests of a folder that exercise the receive core on both cores, the pure one and,
where it was built, the compiled one: ``ClientProtocol.dispatch`` and ``fast_decode`` are
swapped per module. A folder's conftest.py imports :func:`pytest_generate_tests`,
:func:`receive_core` and :func:`receive_core_unused`.

A test runs on both when it is marked ``both_cores`` (or its module is) or takes the
``receive_core`` fixture as an argument. Any other test runs once, on the active core, with the
core's entry points watched (``dispatch``, ``fast_decode`` and the compact image factory): one
that calls any of them fails, asking for the marker, so a test left on one core never depends
on which core it is. With ``ERTCLOUD_NO_EXTENSIONS=1`` only the pure core runs. A test marked
``serial`` (run alone, timing-sensitive) runs on the active core only. Processes a test starts
run the active core (the simulator's, which has no receive core, and the CLI's)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ertcloud.protocol import core
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.streams import use_compact_images

WATCHED = "watched"  # the param of a test on one core: the active one, watched


def _both(metafunc: pytest.Metafunc) -> bool:
    return bool(
        metafunc.definition.get_closest_marker("both_cores")
        or "receive_core" in inspect.signature(metafunc.function).parameters
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "receive_core" in metafunc.fixturenames:
        forced_pure = os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0")
        if forced_pure:
            cores = ["pure"]
        elif metafunc.definition.get_closest_marker("serial"):
            cores = [core.CORE]
        elif not _both(metafunc):
            cores = [WATCHED]
        else:
            cores = ["pure", "compiled"]
        metafunc.parametrize("receive_core", cores, indirect=True, scope="module")


class _Watch:
    """Whether a watched entry point of the core was called (and which one first)."""

    used: str | None = None

    def wrap(self, name: str, fn: Callable[..., Any] | None) -> Callable[..., Any] | None:
        if fn is None:
            return None

        def watched(*args: Any) -> Any:
            self.used = self.used or name
            return fn(*args)

        return watched


_watch = _Watch()


@pytest.fixture(scope="module", autouse=True)
def receive_core(request: pytest.FixtureRequest) -> Iterator[str]:
    """The core under test, for the whole module."""
    param = getattr(request, "param", core.CORE)
    name = core.CORE if param == WATCHED else param
    try:
        fn, fast = core.select(name)
    except ValueError:
        pytest.skip("the compiled core is not built (see test_compiled_core_is_built)")
    factory = core.compiled_image
    if param == WATCHED:  # the compiled receive then leaves every frame to these wrappers
        fn = _watch.wrap("ClientProtocol.dispatch", fn)  # type: ignore[assignment]
        fast = _watch.wrap("ClientProtocol.fast_decode", fast)
        factory = _watch.wrap("the compact image factory", factory)
    saved = ClientProtocol.__dict__["dispatch"], ClientProtocol.__dict__["fast_decode"]
    ClientProtocol.dispatch = staticmethod(fn)  # type: ignore[assignment]
    ClientProtocol.fast_decode = staticmethod(fast)  # type: ignore[assignment,arg-type]
    # and the images of streams outside a stream table, as at import with this core
    use_compact_images(factory, name == "compiled")
    try:
        yield param
    finally:
        ClientProtocol.dispatch, ClientProtocol.fast_decode = saved
        use_compact_images(core.compiled_image, core.CORE == "compiled")


@pytest.fixture(autouse=True)
def receive_core_unused(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on one core, watched: fails if it called the core."""
    callspec = getattr(request.node, "callspec", None)  # none: a unittest case (not watched)
    watched = callspec is not None and callspec.params.get("receive_core") == WATCHED
    _watch.used = None
    yield
    if watched and _watch.used:
        pytest.fail(
            f"{_watch.used} ran in a test that runs on one receive core: mark it (or its "
            "module) `pytest.mark.both_cores` to run it on both",
            pytrace=False,
        )
