"""``python -m benchmarks.simulator [ertcloud sim options]``: ``ertcloud sim`` whose bench
mode writes with the fast sender of :mod:`benchmarks.fast_sender`, the simulator every
figure of ``python -m benchmarks`` is measured against."""

from __future__ import annotations

import sys

from benchmarks.fast_sender import install


def main(argv: list[str] | None = None) -> int:
    """Run ``ertcloud sim`` with ``argv`` (default: this process's arguments)."""
    from ertcloud.cli import main as ertcloud_main

    install()
    return ertcloud_main(["sim", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
