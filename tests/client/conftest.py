"""The tests of tests/client that exercise the receive core run on both, in one pass
(tests/receive_cores.py): the sessions end to end on the pure core too."""

from receive_cores import pytest_generate_tests, receive_core, receive_core_unused

__all__ = ["pytest_generate_tests", "receive_core", "receive_core_unused"]
