"""The one interface every sink implements.

A sink is synchronous and is only ever called from one worker thread (the
:class:`~ertcloud.sinks.runner.SinkRunner` gives each sink its own), so a slow disk or
database never blocks the event loop that receives the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from .rows import Row

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """Where rows go. ``open`` before anything else, ``close`` last (it flushes)."""

    #: The spec the sink was made from, secrets redacted (for progress lines and metrics).
    name: str

    def open(self) -> None:
        """Create files/tables/streams as needed; appends to what is already there."""

    def last_seq(self) -> int:
        """The highest ``seq`` already stored (0 when empty): a recorder resumes after it."""

    def write_batch(self, rows: Sequence[Row]) -> None:
        """Store rows (in order). May buffer until :meth:`flush`.

        A batch that raises is retried as it is until it succeeds, so a failed call must
        leave none of its rows stored, or the sink must skip the rows it already holds
        (every built-in sink does one or the other). A sink that can read the rows after a
        given ``seq`` cheaply may also offer ``read_rows_after(seq)``."""

    def flush(self) -> None:
        """Make everything written so far durable and visible to readers."""

    def close(self) -> None:
        """Flush and release the backend. Safe to call twice."""

    def read_rows(self) -> Iterator[Row]:
        """Every stored row, in ``seq`` order (for loading and checking a recording)."""
