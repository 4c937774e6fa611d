"""``ertcloud post``: contribute field values to an item and wait for the Ack."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..exceptions import ConfigError, ErtcloudError, PostRejected
from . import interrupt
from .common import add_connection_options, open_session
from .options import description
from .shared_options import add_shared

__all__ = ["add_parser", "parse_fields"]


def parse_fields(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are read as JSON (numbers, null) or else as text."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--field expects NAME=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out[name.strip()] = value
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "post",
        help="contribute field values to an item (Post, waits for the Ack)",
        description=description(__doc__),
    )
    p.add_argument("ric", help="the item to post to")
    p.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        required=True,
        help="a field to post; repeat for several",
    )
    p.add_argument(
        "--refresh", action="store_true", help="post a Refresh (whole image) not an Update"
    )
    p.add_argument(
        "--off-stream",
        action="store_true",
        help="post through the login stream instead of an open item stream",
    )
    add_shared(p, "service", service={"help": "service name (off-stream posts)"})
    p.add_argument("--no-ack", action="store_true", help="do not ask for an Ack")
    add_connection_options(p)
    p.set_defaults(func=lambda a: interrupt.run(run(a)))


async def run(a: argparse.Namespace) -> int:
    fields = parse_fields(a.field)
    async with open_session(a) as session:
        if a.off_stream:
            target: Any = a.ric
        else:
            sub = session.subscribe(a.ric, service=a.service)
            try:
                await sub.wait_complete(timeout=15)
            except TimeoutError:  # TimedOut
                raise ErtcloudError(f"no image of {a.ric} within 15 s") from None
            target = sub.streams[0]
            if not target.is_open:
                st = target.state
                # The server refused the item: a runtime failure, not a usage error.
                raise ErtcloudError(f"cannot open {a.ric}: {st.text if st else 'closed'}")
        try:
            ack = await session.post(
                target,
                fields,
                message_type="Refresh" if a.refresh else "Update",
                service=a.service,
                ack=not a.no_ack,
            )
        except PostRejected as exc:
            sys.stderr.write(f"ertcloud: error: {exc}\n")
            return 1
        except asyncio.TimeoutError:
            sys.stderr.write("ertcloud: error: no Ack received within 10 s\n")
            return 1
    if ack is None:
        print(f"posted to {a.ric} (no Ack requested)")
    else:
        print(f"posted to {a.ric}: Ack {ack.ack_id}" + (f" ({ack.text})" if ack.text else ""))
    return 0
