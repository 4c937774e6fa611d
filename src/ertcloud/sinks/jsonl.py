"""JSON lines: one object per message, ``fields`` as an object. Also the replay format."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from ..exceptions import SinkNotOpen
from .rows import COLUMNS, Row
from .textfile import TextFileSink, last_line

__all__ = ["JsonlSink"]


class JsonlSink(TextFileSink):
    """Appends rows to a JSON-lines file (``jsonl:PATH``)."""

    scheme = "jsonl"

    def open(self) -> None:
        self.check_folder()
        if self.path.exists():
            # A run killed mid-write leaves a partial last line: cut it off.
            with self.path.open("rb+") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                if size:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        f.seek(0)
                        data = f.read()
                        f.truncate(data.rfind(b"\n") + 1)
        self._f = self.path.open("a", encoding="utf-8")

    def last_seq(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            line = last_line(f)
        return int(json.loads(line)["seq"]) if line.strip() else 0

    def write_batch(self, rows: Sequence[Row]) -> None:
        if self._f is None:
            raise SinkNotOpen("sink is not open")
        out = []
        for r in rows:
            d: dict[str, Any] = {
                "seq": r.seq,
                "ts": r.ts,
                "kind": r.kind,
                "domain": r.domain,
                "ric": r.ric,
                "service": r.service,
                "update_type": r.update_type,
                "fields": r.fields,
                "raw": r.raw,
            }
            out.append(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
        if out:
            text = "\n".join(out) + "\n"
            self._append(lambda f: f.write(text))

    def read_rows(self) -> Iterator[Row]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    yield Row.from_values({k: d.get(k) for k in COLUMNS})
