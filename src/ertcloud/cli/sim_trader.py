"""The trader options of ``ertcloud sim``: chain churn, news rate, warm standby."""

from __future__ import annotations

import argparse
from typing import Any

from ..exceptions import ConfigError

__all__ = ["add_trader_options", "trader_config"]


def add_trader_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chains, news and warm standby")
    g.add_argument(
        "--chain-churn",
        type=float,
        default=None,
        metavar="PER_MIN",
        help="constituent changes (a link swapped, added or removed) per minute per "
        "subscribed chain record, at most 60 x --rate (default 0.05 per tick: 6 at --rate 2)",
    )
    g.add_argument(
        "--news-rate",
        type=float,
        default=None,
        metavar="PER_MIN",
        help="stories per minute per subscribed MRN item, at most 60 x --rate "
        "(default half the ticks: 60 at --rate 2)",
    )
    g.add_argument(
        "--support-standby",
        action="store_true",
        help="warm standby: advertise SupportStandby 1 in the Login Refresh and honour the "
        "ConsumerConnectionStatus Generic (a standby connection gets no Updates)",
    )


def trader_config(a: argparse.Namespace) -> dict[str, Any]:
    """The ServerConfig fields the trader options set."""
    out: dict[str, Any] = {"support_standby": a.support_standby}
    for option, dest, per_min in (
        ("--chain-churn", "chain_churn", a.chain_churn),
        ("--news-rate", "news_chance", a.news_rate),
    ):
        if per_min is None:
            continue
        most = 60 * a.rate
        if not per_min >= 0:
            raise ConfigError(f"{option} must be a number >= 0, got {per_min:g}")
        if per_min > most:
            raise ConfigError(
                f"{option} {per_min:g} is more than one per tick: at most {most:g} "
                f"per minute at --rate {a.rate:g} (raise --rate)"
            )
        out[dest] = per_min / most if most > 0 else 0.0
    return out
