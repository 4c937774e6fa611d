"""What the file sinks (JSON lines, CSV) share: an appended text file, flushed to disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["TextFileSink", "last_line"]


def last_line(f: IO[bytes]) -> bytes:
    """The last complete line of a binary file opened for reading (b"" if none)."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    pos, chunk = end, b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step) + chunk
        lines = chunk.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            return lines[-1]
    return b""


class TextFileSink:
    """An append-only text file named ``<scheme>:PATH``; ``flush`` reaches the disk."""

    scheme = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"{self.scheme}:{path}"
        self._f: IO[str] | None = None

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None
