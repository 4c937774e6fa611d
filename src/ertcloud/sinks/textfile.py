"""What the file sinks (JSON lines, CSV) share: an appended text file, flushed to disk.

Each batch is handed to the operating system as it is written (so a killed process loses
no batch it wrote), and ``flush`` fsyncs (so a power cut loses at most one flush
interval). A batch that fails half-way (a full disk) is cut off again, so the retry does
not store its first rows twice."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..exceptions import SinkNotOpen

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

    def check_folder(self) -> None:
        """Refuse a path whose folder does not exist: a typo must not create a tree."""
        parent = self.path.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"folder {parent} does not exist")

    def _append(self, write: Callable[[IO[str]], object]) -> None:
        """Write one batch with ``write`` and hand it to the OS; all or nothing."""
        f = self._f
        if f is None:
            raise SinkNotOpen("sink is not open")
        start = os.fstat(f.fileno()).st_size
        try:
            write(f)
            f.flush()
        except BaseException:
            self._f = None
            try:
                f.close()
            except OSError:
                pass
            with self.path.open("rb+") as g:
                g.truncate(start)
            self._f = self.path.open("a", encoding="utf-8", newline=self.newline)
            raise

    newline: str | None = None

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None
