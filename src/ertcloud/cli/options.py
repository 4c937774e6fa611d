"""Option conventions of every command: kebab-case names, the vendor examples' spellings as
hidden aliases, help text without reStructuredText markup, and "did you mean" hints."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any

__all__ = ["add_option", "description", "suggest"]

#: the metavar of an option, by dest (names that read better than the dest in capitals)
METAVARS = {
    "clientid": "ID",
    "app_id": "ID",
    "auth_url": "URL",
    "auth_hostname": "HOST",
    "auth_port": "PORT",
    "auth_path": "PATH",
    "view": "FIELDS",
    "fields": "FIELDS",
    "standbyhostname": "HOST",
    "standbyport": "PORT",
    "jwk_file": "FILE",
    "discovery_url": "URL",
}

#: keyword arguments an alias shares with its option (the rest, like help, are its own)
_SHARED = ("action", "type", "choices", "nargs", "const", "metavar")


def add_option(
    group: argparse._ActionsContainer, name: str, *aliases: str, **kw: Any
) -> argparse.Action:
    """``--name`` as documented, plus ``aliases`` (e.g. the vendor examples' ``--auth_url``)
    that work the same but stay out of ``--help``."""
    if "metavar" not in kw and kw.get("action") in (None, "store", "append"):
        meta = METAVARS.get(kw.get("dest", ""))
        if meta:
            kw["metavar"] = meta
    action = group.add_argument(name, **kw)
    if aliases:
        shared = {k: v for k, v in kw.items() if k in _SHARED}
        group.add_argument(
            *aliases,
            dest=action.dest,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
            **shared,
        )
    return action


def description(doc: str | None) -> str:
    """A module docstring as help text: ````x```` and ``:role:`x``` shown as plain x."""
    text = doc or ""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def _canonical(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every long option string of ``parser`` -> the name its help shows."""
    out: dict[str, str] = {}
    shown: dict[str, str] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs:
            continue
        if action.help is not argparse.SUPPRESS:
            shown.setdefault(action.dest, longs[0])
        for s in longs:
            out[s] = action.dest
    return {s: shown.get(dest, s) for s, dest in out.items()}


def suggest(parser: argparse.ArgumentParser, option: str) -> str | None:
    """The documented option closest to a misspelt ``option`` (None if nothing is close)."""
    name = option.split("=", 1)[0]
    if not name.startswith("-"):
        return None
    names = _canonical(parser)
    key = "--" + name.lstrip("-").replace("_", "-").lower()
    for s, shown in names.items():
        if s.replace("_", "-").lower() == key:
            return shown
    match = difflib.get_close_matches(key, [s.replace("_", "-").lower() for s in names], 1, 0.7)
    if not match:
        return None
    for s, shown in names.items():
        if s.replace("_", "-").lower() == match[0]:
            return shown
    return None  # pragma: no cover


#: the levels ``--log-level`` takes, and what ``-v`` / ``-vv`` mean
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_VERBOSE_LEVELS = ("WARNING", "INFO", "DEBUG")


def add_logging_options(p: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``-v/--verbose``, the same on every command. Their defaults are
    SUPPRESS so that a nested command's parser never overwrites what its parent parsed."""
    g = p.add_argument_group("logging")
    g.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="log messages of this level and above on stderr: DEBUG, INFO, WARNING "
        "(default), ERROR or CRITICAL",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log messages: -v for INFO, -vv for DEBUG (--log-level wins)",
    )


def log_level(args: argparse.Namespace) -> str:
    """The level ``--log-level`` or ``-v`` asked for (WARNING if neither)."""
    level = getattr(args, "log_level", None)
    if level:
        return str(level)
    return _VERBOSE_LEVELS[min(getattr(args, "verbose", 0), len(_VERBOSE_LEVELS) - 1)]
