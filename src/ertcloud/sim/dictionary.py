"""The Dictionary domain of the simulated server: ``RWFFld`` (field definitions) and
``RWFEnum`` (enum tables) from the package's own table, at the verbosity the request's
``Key.Filter`` asks for (Info 0, Minimal 3, Normal 7, Verbose 15), in one refresh or in
several parts.

No I/O: a function from a request to the messages that answer it.
"""

from __future__ import annotations

from ..protocol.dictionary import FILTER_NORMAL, Dictionary, builtin
from ..protocol.messages import Key, Message, Refresh, State, Status

__all__ = ["DICTIONARY_NAMES", "dictionary_messages"]

#: The dictionaries the server provides (``DictionariesProvided`` in the directory).
DICTIONARY_NAMES = ("RWFFld", "RWFEnum")
_OK = State(stream="NonStreaming", data="Ok", text="All is well")


def dictionary_messages(
    sid: int,
    key: Key | None,
    service: str,
    *,
    streaming: bool,
    part_entries: int = 0,
    serve: bool = True,
    dictionary: Dictionary | None = None,
) -> list[Message]:
    """The answer to a Dictionary-domain request on stream ``sid``.

    ``part_entries`` > 0 splits the entries into refresh parts of at most that many (the
    Summary and CountHint in the first part only, ``Complete: false`` on all but the
    last); 0 sends one part, which the vendor's Python library needs (it keeps only the
    part that carries the version). ``serve=False`` refuses every request.
    """
    name = key.name if key is not None else None
    filter_ = key.filter if key is not None and key.filter is not None else FILTER_NORMAL
    if not serve or not isinstance(name, str) or name not in DICTIONARY_NAMES:
        text = "Dictionary not available" if serve else "Dictionary domain not served"
        return [
            Status(
                id=sid,
                domain="Dictionary",
                key=Key(name=name if isinstance(name, str) else None, service=service),
                state=State(stream="Closed", data="Suspect", code="NotFound", text=text),
            )
        ]
    d = dictionary or builtin()
    entries = d.entries(name, filter_)
    state = State(stream="Open", data="Ok", text="All is well") if streaming else _OK
    rkey = Key(name=name, service=service, filter=filter_)
    size = part_entries if part_entries > 0 else max(len(entries), 1)
    chunks = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
    out: list[Message] = []
    last = len(chunks) - 1
    for i, chunk in enumerate(chunks):
        series: dict[str, object] = {"Entries": chunk}
        if i == 0:
            series = {"CountHint": len(entries), "Summary": {"Elements": d.summary(name)}, **series}
        out.append(
            Refresh(
                id=sid,
                domain="Dictionary",
                key=rkey,
                state=state,
                solicited=True,
                complete=None if i == last else False,
                part_number=i if last > 0 else None,
                clear_cache=None if i == 0 else False,
                series=series,
            )
        )
    return out
