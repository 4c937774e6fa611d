"""Getting the data out: sinks behind one small interface, and loading recordings back.

::

    from ertcloud.sinks import make_sink, load
    df = load("ticks.db")                      # the messages table as a pandas DataFrame
    quotes = load("jsonl:ticks.jsonl", table="quotes")
"""

from __future__ import annotations

from ..bars import bars_frame as bars
from .base import Sink
from .frames import RecordingError, load, records_frame, rows_frame
from .rows import Row, row_from_message
from .runner import SinkRunner, SinkStats
from .spec import SCHEMES, make_sink

__all__ = [
    "SCHEMES",
    "RecordingError",
    "Row",
    "Sink",
    "SinkRunner",
    "SinkStats",
    "bars",
    "load",
    "make_sink",
    "records_frame",
    "row_from_message",
    "rows_frame",
]


def load_jsonl(path: str, table: str = "messages") -> object:
    """A JSON-lines recording as a pandas DataFrame."""
    return load(f"jsonl:{path}", table)


def load_csv(path: str, table: str = "messages") -> object:
    """A CSV recording as a pandas DataFrame."""
    return load(f"csv:{path}", table)


def load_parquet(path: str, table: str = "messages") -> object:
    """A Parquet recording (folder of parts) as a pandas DataFrame."""
    return load(f"parquet:{path}", table)


def load_duckdb(path: str, table: str = "messages") -> object:
    """A DuckDB recording as a pandas DataFrame."""
    return load(f"duckdb:{path}", table)


__all__ += ["load_csv", "load_duckdb", "load_jsonl", "load_parquet"]
