"""``ertcloud news``: headlines of Machine Readable News (MRN), live.

    ertcloud news
    ertcloud news --ric TRI.N --subject US --count 5

Stories come from the ``MRN_STORY`` item (``--item MRN_TRNA`` for the analytics) of the
``NewsTextAnalytics`` domain, put back together from their fragments. A story that cannot
be reassembled is reported on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..news import NewsStory, matches
from .common import add_connection_options
from .follow import follow

if TYPE_CHECKING:
    from ..client.session import Session
from .options import description
from .shared_options import add_shared

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "news",
        help="live news headlines (MRN)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared(p, "ric", ric={"default": [], "help": "only stories about this RIC"})
    p.add_argument(
        "--subject", action="append", default=[], help="only stories with this subject (N2:US, US)"
    )
    p.add_argument("--item", default="MRN_STORY", help="MRN_STORY (default) or MRN_TRNA")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("--count", type=int, default=None, help="stop after this many stories")
    add_shared(p, "duration")
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


def line(story: NewsStory) -> str:
    """``created  [RICS]  headline`` (``!`` marks an alert, urgency 1)."""
    when = (story.created or "")[11:19]
    flag = "!" if story.urgency == 1 else " "
    return f"{when} {flag} [{','.join(story.rics)}] {story.headline}"


async def run(a: argparse.Namespace) -> int:
    rics, subjects = set(a.ric), set(a.subject)

    async def lines(session: Session) -> AsyncIterator[str | None]:
        async for story in session.news(a.item):
            if not isinstance(story, NewsStory):
                sys.stderr.write(f"ertcloud: broken story {story.guid}: {story.reason}\n")
                yield None
            elif not matches(story, rics, subjects):
                yield None
            elif a.format == "jsonl":
                yield json.dumps(story.as_row(), ensure_ascii=False)
            else:
                yield line(story)

    return await follow(a, lines)
