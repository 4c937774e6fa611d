"""Every test of tests/client runs on both receive cores, in one pass (tests/receive_cores.py):
the sessions end to end on the pure core too."""

from receive_cores import pytest_generate_tests, receive_core

__all__ = ["pytest_generate_tests", "receive_core"]
