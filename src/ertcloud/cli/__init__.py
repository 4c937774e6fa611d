"""The ``ertcloud`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..exceptions import ConfigError, ErtcloudError
from ..version import __version__
from . import demo, market_price, sim

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ertcloud",
        description="Client, command line and simulator for LSEG Real-Time in the cloud.",
    )
    p.add_argument("--version", action="version", version=f"ertcloud {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo.add_parser(sub)
    market_price.add_parser(sub)
    sim.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ertcloud`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        sys.stderr.write(f"ertcloud: error: {exc}\n")
        return 2
    except ErtcloudError as exc:
        sys.stderr.write(f"ertcloud: error: {exc}\n")
        return 1
    return int(code or 0)
