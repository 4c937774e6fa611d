"""Printing in the vendor examples' format, with secrets redacted by default."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ..auth.grants import redact

__all__ = ["Printer", "pretty"]


def pretty(obj: Any) -> str:
    """The examples' pretty-printer: sorted keys, indent 2, no space after ``:``."""
    return json.dumps(obj, sort_keys=True, indent=2, separators=(",", ":"))


class Printer:
    """Writes ``SENT:`` / ``RECEIVED: `` blocks and the examples' status lines."""

    def __init__(
        self, out: TextIO | None = None, *, show_secrets: bool = False, label: str = ""
    ) -> None:
        self.out = out or sys.stdout
        self.show_secrets = show_secrets
        self.label = label  # " on session1" for multi-session output

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def block(self, header: str, obj: Any) -> None:
        self.out.write(header + "\n" + pretty(redact(obj, self.show_secrets)) + "\n")
        self.out.flush()

    def sent(self, data: bytes | str) -> None:
        obj = _loads(data)
        items = obj if isinstance(obj, list) else [obj]
        for m in items:  # the examples print each sent message on its own
            self.block(f"SENT{self.label}:", m)

    def received(self, data: bytes | str) -> None:
        self.block(
            f"RECEIVED{self.label}: " if not self.label else f"RECEIVED{self.label}:", _loads(data)
        )


def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return {"<unparsable frame>": text[:500]}
