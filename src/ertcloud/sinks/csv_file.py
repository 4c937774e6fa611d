"""CSV with a header row; ``fields`` is JSON text, missing values are empty cells."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence

from ..exceptions import RecordingError, SinkNotOpen
from .rows import COLUMNS, Row
from .textfile import TextFileSink, last_line

__all__ = ["CsvSink"]


class CsvSink(TextFileSink):
    """Appends rows to a CSV file (``csv:PATH``); writes the header when the file is new."""

    scheme = "csv"
    newline = ""

    def open(self) -> None:
        self.check_folder()
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._f = self.path.open("a", encoding="utf-8", newline="")
        if new:
            csv.writer(self._f).writerow(COLUMNS)
        else:
            with self.path.open("r", encoding="utf-8", newline="") as f:
                header = next(csv.reader(f), None)
            if header is None or tuple(header) != COLUMNS:
                self._f.close()
                self._f = None
                raise RecordingError(f"{self.path} is not an ertcloud CSV recording (bad header)")

    def last_seq(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            line = last_line(f).decode("utf-8")
        rec = next(csv.reader([line]), None)
        if rec and rec[0] == "seq":
            return 0
        if rec and len(rec) == len(COLUMNS) and rec[0].isdigit():
            return int(rec[0])
        # The last record spans several lines (a value with a line break): read it all.
        last = 0
        with self.path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                last = int(r["seq"])
        return last

    def write_batch(self, rows: Sequence[Row]) -> None:
        if self._f is None:
            raise SinkNotOpen("sink is not open")
        recs = [
            tuple("" if v is None else repr(v) if isinstance(v, float) else v for v in r.as_tuple())
            for r in rows
        ]
        self._append(lambda f: csv.writer(f).writerows(recs))

    def read_rows(self) -> Iterator[Row]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", newline="") as f:
            for rec in csv.DictReader(f):
                yield Row.from_values({k: (rec[k] if rec[k] != "" else None) for k in COLUMNS})
