"""Printing in the vendor examples' format, with secrets redacted by default, or as one
short line per message (``LinePrinter``); both can count what they print (``Tally``)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..auth.grants import redact

__all__ = ["LinePrinter", "Printer", "Tally", "pretty"]

#: the fields a one-line view shows first, when a message has them
_KEY_FIELDS = ("BID", "ASK", "BIDSIZE", "ASKSIZE", "TRDPRC_1", "TRDVOL_1", "NETCHNG_1")


def pretty(obj: Any) -> str:
    """The examples' pretty-printer: sorted keys, indent 2, no space after ``:``."""
    return json.dumps(obj, sort_keys=True, indent=2, separators=(",", ":"))


@dataclass
class Tally:
    """What went by: per item its Refreshes and Updates, Pings, and the time span."""

    names: dict[int, str] = field(default_factory=dict)  # stream id -> item name
    refreshes: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    pings: int = 0
    started: float = field(default_factory=time.monotonic)

    def sent(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        key, sid = msg.get("Key"), msg.get("ID")
        if isinstance(key, dict) and isinstance(sid, int) and msg.get("Domain") != "Login":
            name = key.get("Name")
            if isinstance(name, str):
                self.names[sid] = name

    def name_of(self, msg: dict[str, Any]) -> str | None:
        key = msg.get("Key")
        if isinstance(key, dict) and isinstance(key.get("Name"), str):
            return str(key["Name"])
        sid = msg.get("ID")
        return self.names.get(sid) if isinstance(sid, int) else None

    def received(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        kind = msg.get("Type")
        if kind == "Ping":
            self.pings += 1
            return
        if msg.get("Domain") == "Login" or msg.get("ID") == 1:
            return
        name = self.name_of(msg)
        if name is None:
            return
        counts = {"Refresh": self.refreshes, "Update": self.updates, "Status": self.statuses}
        target = counts.get(str(kind))
        if target is not None:
            target[name] = target.get(name, 0) + 1

    @property
    def items(self) -> list[str]:
        return list(dict.fromkeys([*self.refreshes, *self.updates, *self.statuses]))

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Printer:
    """Writes ``SENT:`` / ``RECEIVED: `` blocks and the examples' status lines."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        show_secrets: bool = False,
        label: str = "",
        tally: Tally | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.show_secrets = show_secrets
        self.label = label  # " on session1" for multi-session output
        self.tally = tally

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def block(self, header: str, obj: Any) -> None:
        self.out.write(header + "\n" + pretty(redact(obj, self.show_secrets)) + "\n")
        self.out.flush()

    def sent(self, data: bytes | str) -> None:
        obj = _loads(data)
        items = obj if isinstance(obj, list) else [obj]
        if self.tally is not None:
            for m in items:
                self.tally.sent(m)
        for m in items:  # the examples print each sent message on its own
            self.block(f"SENT{self.label}:", m)

    def received(self, data: bytes | str) -> None:
        obj = _loads(data)
        if self.tally is not None:
            for m in obj if isinstance(obj, list) else [obj]:
                self.tally.received(m)
        self.block(f"RECEIVED{self.label}: " if not self.label else f"RECEIVED{self.label}:", obj)


class LinePrinter(Printer):
    """One short line per message: ``<- TRI.N Update Quote BID 173.36 ASK 173.40``; the
    status lines as they are; the token reply as one line, redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.tally is None:
            self.tally = Tally()  # for the item names of Updates, which carry only an ID

    def block(self, header: str, obj: Any) -> None:
        if self.show_secrets:
            super().block(header, obj)
            return
        head = header.removesuffix(" RECEIVED:").removesuffix(":")
        if isinstance(obj, dict) and "expires_in" in obj:
            head += f" (a token for {obj['expires_in']} s)"
        self.line(head)

    def sent(self, data: bytes | str) -> None:
        obj = _loads(data)
        assert self.tally is not None
        for m in obj if isinstance(obj, list) else [obj]:
            self.tally.sent(m)
            self.line(f"-> {self._describe(m)}")

    def received(self, data: bytes | str) -> None:
        obj = _loads(data)
        assert self.tally is not None
        for m in obj if isinstance(obj, list) else [obj]:
            self.tally.received(m)
            self.line(f"<- {self._describe(m)}")

    def _describe(self, m: Any) -> str:
        if not isinstance(m, dict):
            return json.dumps(m)[:200]
        assert self.tally is not None
        kind = str(m.get("Type", "?"))
        if m.get("Domain") == "Login":
            parts = ["Login", kind]
        else:
            name = self.tally.name_of(m)
            parts = [name or f"#{m.get('ID')}", kind]
        if kind == "Update" and m.get("UpdateType"):
            parts.append(str(m["UpdateType"]))
        state = m.get("State")
        if isinstance(state, dict):
            st = f"{state.get('Stream', '')}/{state.get('Data', '')}".strip("/")
            if state.get("Data") not in (None, "Ok") and state.get("Text"):
                st += f" ({state['Text']})"
            parts.append(st)
        fields = m.get("Fields")
        if isinstance(fields, dict):
            shown = [k for k in _KEY_FIELDS if k in fields] or list(fields)[:4]
            parts += [f"{k} {fields[k]}" for k in shown[:6]]
            if kind == "Refresh":
                parts.append(f"({len(fields)} fields)")
        entries = (m.get("Map") or {}).get("Entries") if isinstance(m.get("Map"), dict) else None
        if isinstance(entries, list):
            parts.append(f"({len(entries)} book entries)")
        return "  ".join(parts)


def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return {"<unparsable frame>": text[:500]}
