"""Time-scripted fault scenarios for the simulator, written in TOML.

::

    loop = 20            # optional: start the script again every 20 s

    [[step]]
    at = 2.0             # seconds after the simulator started
    fault = "drop"

    [[step]]
    at = 5
    fault = "refuse"
    endpoint = 1
    duration = 3         # lasting faults: switch off again after 3 s

    [[step]]
    at = 9
    clear = "refuse"     # or switch a lasting fault off explicitly

Every other key of a step is a parameter of the fault (see ``ertcloud sim --list-faults``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, ErtcloudError
from .faults import FAULTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from .faults import FaultInjector

__all__ = ["Step", "load_scenario", "parse_scenario", "run_scenario"]

log = logging.getLogger("ertcloud.sim")

#: a scenario file is a short script; anything larger is a mistake
MAX_SCENARIO_CHARS = 1 << 20


@dataclass(frozen=True)
class Step:
    """At ``at`` seconds: apply ``fault`` with ``params`` (or clear the fault ``clear``)."""

    at: float
    fault: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None
    clear: str | None = None


def parse_scenario(
    data: dict[str, Any], source: str = "scenario"
) -> tuple[list[Step], float | None]:
    """Steps (sorted by time) and the loop period of a decoded scenario document."""
    raw = data.get("step", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'step' must be an array of tables ([[step]])")
    steps: list[Step] = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: step {n} is not a table")
        item = dict(item)
        at = item.pop("at", None)
        if not isinstance(at, (int, float)) or at < 0:
            raise ConfigError(f"{source}: step {n} needs 'at' (seconds >= 0)")
        clear = item.pop("clear", None)
        fault = item.pop("fault", None)
        duration = item.pop("duration", None)
        if (clear is None) == (fault is None):
            raise ConfigError(f"{source}: step {n} needs exactly one of 'fault' or 'clear'")
        name = str(fault if fault is not None else clear)
        if name not in FAULTS:
            raise ConfigError(f"{source}: step {n}: unknown fault {name!r}")
        if duration is not None and not isinstance(duration, (int, float)):
            raise ConfigError(f"{source}: step {n}: 'duration' must be a number")
        steps.append(
            Step(
                float(at),
                str(fault) if fault is not None else None,
                item,
                float(duration) if duration is not None else None,
                str(clear) if clear is not None else None,
            )
        )
    loop = data.get("loop")
    if loop is not None and (not isinstance(loop, (int, float)) or loop <= 0):
        raise ConfigError(f"{source}: 'loop' must be a positive number of seconds")
    return sorted(steps, key=lambda s: s.at), float(loop) if loop is not None else None


def load_scenario(path: str) -> tuple[list[Step], float | None]:
    """Read a scenario TOML file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from None
    if len(text) > MAX_SCENARIO_CHARS:
        raise ConfigError(f"{path}: scenario too large (over {MAX_SCENARIO_CHARS} characters)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a scenario: values nested too deeply") from None
    return parse_scenario(data, path)


async def run_scenario(
    faults: FaultInjector, steps: list[Step], *, loop_every: float | None = None
) -> None:
    """Play ``steps`` against ``faults`` (once, or every ``loop_every`` seconds)."""
    while True:
        start = time.monotonic()
        for step in steps:
            delay = start + step.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if step.clear is not None:
                    await faults.clear(step.clear)
                elif step.fault is not None:
                    await faults.apply(step.fault, step.duration, **step.params)
            except (ErtcloudError, TypeError, ValueError) as exc:
                log.warning("scenario step at %.1f s failed: %s", step.at, exc)
        if loop_every is None:
            return
        rest = start + loop_every - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
