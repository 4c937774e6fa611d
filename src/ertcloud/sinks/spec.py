"""Sink specs as strings: ``jsonl:PATH``, ``csv:PATH``, ``parquet:DIR``, ``duckdb:PATH``
(or just a path ending ``.db``/``.duckdb``), ``postgres://...``, ``nats://HOST:PORT``."""

from __future__ import annotations

from ..exceptions import ConfigError
from .base import Sink

__all__ = ["SCHEMES", "make_sink"]

SCHEMES = ("jsonl", "csv", "parquet", "duckdb", "postgres", "nats")
_BY_SUFFIX = {
    ".db": "duckdb",
    ".duckdb": "duckdb",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


def split_spec(spec: str) -> tuple[str, str]:
    s = spec.strip()
    if not s:
        raise ConfigError("empty sink spec")
    low = s.lower()
    if low.startswith(("postgres://", "postgresql://")):
        return "postgres", s
    if low.startswith("nats://"):
        return "nats", s
    kind, sep, rest = s.partition(":")
    if sep and kind.lower() in SCHEMES and len(kind) > 1:
        if not rest:
            raise ConfigError(f"sink spec {spec!r} has no path")
        return kind.lower(), rest
    for suffix, k in _BY_SUFFIX.items():
        if low.endswith(suffix):
            return k, s
    raise ConfigError(
        f"unknown sink {spec!r}: use jsonl:PATH, csv:PATH, parquet:DIR, duckdb:PATH "
        "(or PATH.db/.duckdb), postgres://... or nats://HOST:PORT"
    )


def make_sink(spec: str) -> Sink:
    """The sink a spec names (not opened yet). Raises :class:`ConfigError` for a bad spec
    or a missing optional dependency."""
    kind, target = split_spec(spec)
    try:
        if kind == "jsonl":
            from .jsonl import JsonlSink

            return JsonlSink(target)
        if kind == "csv":
            from .csv_file import CsvSink

            return CsvSink(target)
        if kind == "parquet":
            from .parquet_dir import ParquetSink

            return ParquetSink(target)
        if kind == "duckdb":
            from .duckdb_store import DuckDBSink

            return DuckDBSink(target)
        if kind == "postgres":
            from .postgres import PostgresSink

            return PostgresSink(target)
        from .nats_stream import NatsSink

        return NatsSink(target)
    except ImportError as exc:
        raise ConfigError(str(exc)) from None
