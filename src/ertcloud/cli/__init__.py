"""The ``ertcloud`` command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError, ErtcloudError
from ..protocol.core import CORE
from ..version import __version__
from . import board, demo, discover, market_price, post, record, sim, subscribe, token
from .checks import apply_environment, check_args

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ertcloud",
        description="Client, command line and simulator for LSEG Real-Time in the cloud.",
    )
    p.add_argument(
        "--version", action="version", version=f"ertcloud {__version__} (core: {CORE})"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo.add_parser(sub)
    market_price.add_parser(sub)
    sim.add_parser(sub)
    subscribe.add_parser(sub)
    post.add_parser(sub)
    token.add_parser(sub)
    discover.add_parser(sub)
    record.add_parser(sub)
    board.add_parser(sub)
    _add_bench(sub)
    return p


def _add_bench(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmarks (source checkout; see docs/performance.md)",
        description="Benchmark the client and the simulator (see docs/performance.md).",
    )
    # benchmarks/ lives beside src/ in a checkout and is not installed: run from the root.
    runner = None
    if Path("benchmarks", "runner.py").is_file():
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        runner = importlib.import_module("benchmarks.runner")
        runner.add_options(p)

    def run(a: argparse.Namespace) -> int:
        if runner is None:
            raise ConfigError(
                "ertcloud bench runs from the root of a source checkout (benchmarks/ not found)"
            )
        return int(runner.run_args(a, p.error))

    p.set_defaults(func=run)


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of ``command`` (the top-level parser if there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


#: Commands whose options are not the client's (the simulator, the benchmarks).
_UNCHECKED = ("sim", "bench")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ertcloud`` console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Report an unknown option with the usage of the command it was given to.
        _subparser(parser, getattr(args, "command", None)).error(
            f"unrecognized arguments: {' '.join(extra)}"
        )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command not in _UNCHECKED:
            apply_environment(args)
            check_args(args)
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
