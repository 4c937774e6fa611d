"""What one sink still has to write: rows in memory, and past a bound, in a spill file.

Rows leave a :class:`Backlog` in the order they entered it. While the sink keeps up the
backlog holds one batch or two; while it is down (a database restarting, a full disk)
rows pile up in memory up to ``memory_rows``, then go to an append-only spill file of at
most ``spill_bytes``; once the spill file is in use every new row goes there too, so the
order never changes. Rows that fit nowhere are dropped and counted: the caller says so.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .rows import COLUMNS, Row

__all__ = ["Backlog"]


def _encode(r: Row) -> bytes:
    return (json.dumps(r.as_dict() | {"fields": r.fields}, separators=(",", ":")) + "\n").encode()


class Backlog:
    """An ordered queue of rows for one sink, in memory then on disk, both bounded."""

    def __init__(
        self,
        *,
        memory_rows: int = 100_000,
        spill_bytes: int = 1 << 30,
        spill_dir: str | Path | None = None,
        tag: str = "sink",
    ) -> None:
        self.memory_rows = memory_rows
        self.spill_bytes = spill_bytes
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.tag = tag
        self._mem: deque[Row] = deque()
        self._spill_path: Path | None = None
        self._spill_w: IO[bytes] | None = None
        self._spill_r: IO[bytes] | None = None
        self._spill_rows = 0  # rows in the spill file not read back yet
        self._spill_size = 0
        #: rows ever written to the spill file / dropped because both bounds were full
        self.spilled = 0
        self.dropped = 0
        self.spill_error: str | None = None

    def __len__(self) -> int:
        return len(self._mem) + self._spill_rows

    @property
    def spill_path(self) -> Path | None:
        return self._spill_path

    @property
    def spilling(self) -> bool:
        return self._spill_rows > 0

    def push(self, rows: Sequence[Row]) -> int:
        """Queue rows; returns how many of them had to be dropped."""
        before = self.dropped
        i = 0
        if not self._spill_rows:
            room = self.memory_rows - len(self._mem)
            i = max(0, min(room, len(rows)))
            self._mem.extend(rows[:i])
        if i < len(rows):
            self._spill(rows[i:])
        return self.dropped - before

    def _spill(self, rows: Sequence[Row]) -> None:
        if self.spill_bytes <= 0:
            self.dropped += len(rows)
            return
        try:
            self._spill_write(rows)
        except OSError as exc:
            # a full or missing spill disk: the rows are dropped (and counted), never an
            # exception into the dispatcher that feeds every sink
            self.spill_error = f"{type(exc).__name__}: {exc}"
            self.dropped += len(rows)

    def _spill_write(self, rows: Sequence[Row]) -> None:
        if self._spill_w is None:
            d = self.spill_dir or Path(tempfile.gettempdir())
            fd, name = tempfile.mkstemp(
                prefix=f"ertcloud-spill-{self.tag}-", suffix=".jsonl", dir=d
            )
            os.close(fd)
            self._spill_path = Path(name)
            self._spill_w = self._spill_path.open("ab")
            self._spill_r = self._spill_path.open("rb")
            self._spill_size = 0
        data = [_encode(r) for r in rows]
        n = 0
        size = self._spill_size
        for b in data:
            if size + len(b) > self.spill_bytes:
                break
            size += len(b)
            n += 1
        if n:
            self._spill_w.write(b"".join(data[:n]))
            self._spill_w.flush()
            self._spill_size = size
            self._spill_rows += n
            self.spilled += n
        self.dropped += len(rows) - n

    def peek(self, limit: int) -> list[Row]:
        """Up to ``limit`` of the oldest rows (not removed: :meth:`pop` them once written)."""
        mem = self._mem
        out = [mem[i] for i in range(min(limit, len(mem)))]
        want = min(limit - len(out), self._spill_rows)
        if want > 0 and self._spill_r is not None:
            pos = self._spill_r.tell()
            for _ in range(want):
                line = self._spill_r.readline()
                if not line:
                    break
                d = json.loads(line)
                out.append(Row.from_values({k: d.get(k) for k in COLUMNS}))
            self._spill_r.seek(pos)
        return out

    def pop(self, rows: Sequence[Row]) -> None:
        """Remove ``rows``, the oldest ones :meth:`peek` returned."""
        n = len(rows)
        k = min(n, len(self._mem))
        for _ in range(k):
            self._mem.popleft()
        n -= k
        if n <= 0 or self._spill_r is None:
            return
        for _ in range(n):
            self._spill_r.readline()
        self._spill_rows -= n
        if not self._spill_rows:
            self._drop_spill()  # drained: back to memory, and the disk space is returned

    def _drop_spill(self) -> None:
        for f in (self._spill_w, self._spill_r):
            if f is not None:
                f.close()
        self._spill_w = self._spill_r = None
        if self._spill_path is not None:
            self._spill_path.unlink(missing_ok=True)
            self._spill_path = None
        self._spill_rows = self._spill_size = 0

    def close(self) -> None:
        """Forget what is left (the caller has counted it) and delete the spill file."""
        self._mem.clear()
        self._drop_spill()
