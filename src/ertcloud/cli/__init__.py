"""The ``ertcloud`` command line."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError, ErtcloudError
from ..version import __version__
from . import board, cluster, demo, discover, market_price, post, record, sim, subscribe, token
from . import dictionary as dictionary_command
from .bars import add_parser as add_bars
from .chain import add_parser as add_chain
from .news import add_parser as add_news
from .options import add_logging_options, log_level, suggest
from .plot import add_parser as add_plot

__all__ = ["main"]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command`` (one of :data:`COMMANDS`), one that has
    that command only, as :func:`main` builds for it (its options are what take the time)."""
    p = argparse.ArgumentParser(
        prog="ertcloud",
        description="Client, command line and simulator for LSEG Real-Time in the cloud.",
    )
    p.add_argument("--version", action=_Version, help="show the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in COMMANDS.items():
        if command in (None, name):
            add(sub)
    for name, parser in sub.choices.items():
        if name != "bench":  # its options are python -m benchmarks' own
            _add_logging_everywhere(parser)
    return p


def _add_logging_everywhere(parser: argparse.ArgumentParser) -> None:
    """The logging options on ``parser`` and on its own subcommands (``cluster status``)."""
    add_logging_options(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _add_logging_everywhere(nested)


class _Version(argparse.Action):
    """``--version``: the version, the transport a session picks by default (as
    ``transport="auto"`` does, without importing it) and the receive core (imported only when
    asked for)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.util import find_spec

        from ..protocol.core import CORE

        transport = "picows" if find_spec("picows") is not None else "aiohttp"
        # on stdout, as argparse's version; the core last, as before the transport was shown
        sys.stdout.write(f"ertcloud {__version__} (transport: {transport}) (core: {CORE})\n")
        parser.exit()


def _add_bench(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmarks (source checkout; see docs/performance.md)",
        description="Benchmark the client and the simulator (see docs/performance.md): "
        "runs python -m benchmarks from the source checkout this ertcloud was installed from.",
        add_help=False,
    )
    p.set_defaults(func=_run_bench, bench_args=[])


#: each command's name and the function that adds its parser, in the order of the help
COMMANDS: dict[str, Callable[[Any], None]] = {
    "demo": demo.add_parser,
    "market-price": market_price.add_parser,
    "sim": sim.add_parser,
    "subscribe": subscribe.add_parser,
    "post": post.add_parser,
    "token": token.add_parser,
    "discover": discover.add_parser,
    "record": record.add_parser,
    "board": board.add_parser,
    "chain": add_chain,
    "news": add_news,
    "bars": add_bars,
    "plot": add_plot,
    "dictionary": dictionary_command.add_parser,
    "cluster": cluster.add_parser,
    "bench": _add_bench,
}


def benchmarks_dir() -> Path | None:
    """``benchmarks/`` of the source checkout the package runs from (None if installed
    without one). Never looked up in the working directory."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "benchmarks" / "runner.py").is_file() else None


def _run_bench(a: argparse.Namespace) -> int:
    root = benchmarks_dir()
    if root is None:
        raise ConfigError(
            "ertcloud bench needs a source checkout (benchmarks/ is not installed); "
            "run python -m benchmarks from the checkout"
        )
    return subprocess.call([sys.executable, "-m", "benchmarks", *a.bench_args], cwd=root)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    # the top level's options take no value: the first other word is the command
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "command", None) == "bench":
        args.bench_args, extra = extra, []  # the options of python -m benchmarks
    if extra:
        # Report an unknown option with the usage of the command it was given to.
        sub = _subparser(parser, getattr(args, "command", None))
        hints = [f"{x}: did you mean {h}?" for x in extra if (h := suggest(sub, x))]
        hint = f" ({'; '.join(hints)})" if hints else ""
        sub.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=log_level(args), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command not in _UNCHECKED:
            from .checks import apply_environment, check_args

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
