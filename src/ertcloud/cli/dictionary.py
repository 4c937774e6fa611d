"""``ertcloud dictionary``: show the field dictionary a session loads (downloaded from the
server, by default the embedded simulator; the builtin table; or a file), or export it
as CSV or JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .common import add_connection_options, open_session
from .options import description

if TYPE_CHECKING:
    from ..protocol.dictionary import Dictionary

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dictionary", help="show or export the field dictionary", description=description(__doc__)
    )
    p.add_argument(
        "--source",
        default="download",
        metavar="download|builtin|PATH",
        help="download it from the server (default), the builtin table, or a file "
        "written by --export json",
    )
    p.add_argument("--export", choices=("csv", "json"), help="write the whole dictionary")
    p.add_argument("-o", "--output", type=Path, help="write the export to this file")
    p.add_argument(
        "--cache-dir", type=Path, help="where downloaded dictionaries are cached "
        "(default: $ERTCLOUD_CACHE_DIR or the user cache directory)"
    )  # fmt: skip
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


async def _load(a: argparse.Namespace) -> Dictionary:
    from ..protocol.dictionary import Dictionary, DictionaryError

    if a.source == "builtin":
        return Dictionary.builtin()
    if a.source != "download":
        try:
            return Dictionary.from_path(a.source)
        except DictionaryError as exc:
            raise ConfigError(str(exc)) from None
    if a.cache_dir is not None:
        os.environ["ERTCLOUD_CACHE_DIR"] = str(a.cache_dir)
    os.environ["ERTCLOUD_DICTIONARY"] = "download"  # what open_session's Session loads
    async with open_session(a) as session:
        return await session.dictionaries.ready()


def summary(d: Dictionary) -> str:
    """A few lines about a dictionary: source, versions, counts."""
    types = Counter(f.type for f in d.fields.values())
    ripples = sum(1 for f in d.fields.values() if f.ripple_to is not None)
    return "\n".join(
        [
            f"dictionary: {d.source or 'unnamed'}",
            f"fields: {len(d)} (version {d.version}), {ripples} rippling",
            f"enum tables: {len(d.enum_tables)} (version {d.enum_version}), "
            f"for {len(d.enums)} fields",
            "types: " + ", ".join(f"{t} {n}" for t, n in types.most_common()),
        ]
    )


async def run(a: argparse.Namespace) -> int:
    d = await _load(a)
    if a.export is None:
        text = summary(d) + "\n"
    else:
        text = d.to_csv() if a.export == "csv" else d.to_json() + "\n"
    if a.output is not None:
        try:
            a.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {a.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0
