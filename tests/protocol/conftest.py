"""The tests of tests/protocol that exercise the receive core run on both: the pure one and,
where it was built, the compiled one (``ClientProtocol.dispatch`` and ``fast_decode`` swapped
per module; tests/receive_cores.py).

unittest-style cases (the hypothesis state machine's TestCase) cannot be parametrized: they
run on the active core here, and on the other one in tests/compiled_core."""

from receive_cores import pytest_generate_tests, receive_core, receive_core_unused

__all__ = ["pytest_generate_tests", "receive_core", "receive_core_unused"]
