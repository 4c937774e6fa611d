"""The session's field dictionary: downloaded from the server at login (and cached on disk
by version), the table built into the package, or a file.

``Session(dictionary=...)`` takes ``"download"``, ``"builtin"`` or a path; without it,
``$ERTCLOUD_DICTIONARY`` or else ``"download"``.
A download asks for the Info summary of ``RWFFld`` and ``RWFEnum`` first; when a file of
those versions is in the cache it is used, otherwise the Normal dictionary is fetched and
saved. When the server refuses or does not answer, the builtin table is used, with one
warning in the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..protocol.dictionary import (
    FILTER_INFO,
    FILTER_NORMAL,
    Dictionary,
    DictionaryError,
    builtin,
)
from ..protocol.events import ItemRefreshed, StreamClosed
from ..protocol.ripples import ripple_rules
from .deadline import within
from .subscription import Subscription

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "DictionarySource",
    "cache_dir",
    "download_dictionary",
    "load_dictionary",
    "resolve_dictionary",
]

log = logging.getLogger("ertcloud.client")

#: ``"download"``, ``"builtin"``, or the path of a dictionary file (JSON export).
DictionarySource = str | os.PathLike[str]
_NAMES = ("RWFFld", "RWFEnum")
_SAFE = re.compile(r"[^0-9A-Za-z._-]")
_TOP_ID = 2**31 - 2


def cache_dir() -> Path:
    """Where downloaded dictionaries are kept: ``$ERTCLOUD_CACHE_DIR``, else the user's
    cache directory (``$XDG_CACHE_HOME``, ``~/.cache``, ``%LOCALAPPDATA%``) + ``ertcloud``."""
    explicit = os.environ.get("ERTCLOUD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "ertcloud" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ertcloud"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ertcloud"


def load_dictionary(source: DictionarySource) -> Dictionary | None:
    """The dictionary of a source that needs no server (``None`` for ``"download"``)."""
    if source == "download":
        return None
    if source == "builtin":
        return builtin()
    return Dictionary.from_path(source)


class DictionaryUnavailable(Exception):
    """The server refused the Dictionary request or sent something unreadable."""


async def _fetch(
    session: Session, filter_: int, service: str | int | None, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """The ``Series`` of every refresh part of RWFFld and RWFEnum at ``filter_``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    parts: dict[str, list[dict[str, Any]]] = {n: [] for n in _NAMES}
    waiting = set(_NAMES)

    def on_refresh(ev: ItemRefreshed) -> None:
        msg = ev.message
        if isinstance(msg.series, dict):
            parts[ev.stream.name].append(msg.series)
        if msg.complete is not False:
            waiting.discard(ev.stream.name)
            if not waiting and not done.done():
                done.set_result(None)

    def on_status(ev: Any) -> None:
        if isinstance(ev, StreamClosed) and ev.stream.name in waiting and not done.done():
            st = ev.state
            done.set_exception(
                DictionaryUnavailable(f"{ev.stream.name}: {st.stream}/{st.data} {st.text or ''}")
            )

    sub = Subscription(session, on_refresh=on_refresh, on_status=on_status, queue=False)
    streams = [
        s
        for name in _NAMES
        for s in session.protocol.request(
            name,
            domain="Dictionary",
            service=service,
            streaming=False,
            key_filter=filter_,
            stream_id=_free_id(session),
        )
    ]
    sub._attach(streams)
    session._kick()
    try:
        await within(done, timeout, "dictionary download: no answer")
    finally:
        await sub.close()
    return parts


def _free_id(session: Session) -> int:
    """A stream id at the top of the id space, which the allocator never hands out: the
    dictionary requests leave the ids of the user's items as they would be without them."""
    sid = _TOP_ID
    while session.protocol.streams.get(sid) is not None:
        sid -= 1
    return sid


def _version_of(series: list[dict[str, Any]]) -> str:
    for s in series:
        summary = s.get("Summary")
        el = summary.get("Elements") if isinstance(summary, dict) else None
        if isinstance(el, dict) and el.get("Version") is not None:
            return str(el["Version"])
    raise DictionaryUnavailable("the dictionary summary has no Version")


async def download_dictionary(
    session: Session,
    *,
    service: str | int | None = None,
    cache: Path | None = None,
    timeout: float = 30.0,
) -> Dictionary:
    """Download the server's dictionary, or read it from ``cache`` when a file of the
    server's versions is there. Raises :class:`DictionaryUnavailable` (or
    ``TimeoutError``) when the server refuses or does not answer."""
    info = await _fetch(session, FILTER_INFO, service, timeout)
    fld_version, enum_version = _version_of(info["RWFFld"]), _version_of(info["RWFEnum"])
    folder = cache if cache is not None else cache_dir()
    server = _SAFE.sub("_", str(service or "default"))
    path = (
        folder
        / f"dictionary-{server}-{_SAFE.sub('_', fld_version)}-{_SAFE.sub('_', enum_version)}.json"
    )
    if await asyncio.to_thread(path.is_file):
        try:
            d = await asyncio.to_thread(Dictionary.from_path, path)
            d.source = "download (cached)"
            return d
        except DictionaryError as exc:
            log.info("ignoring the cached dictionary %s: %s", path, exc)
    full = await _fetch(session, FILTER_NORMAL, service, timeout)
    try:
        d = Dictionary.from_series(full["RWFFld"], full["RWFEnum"])
    except DictionaryError as exc:
        raise DictionaryUnavailable(str(exc)) from None
    d.source = "download"
    try:
        await asyncio.to_thread(_save, d, path)
    except OSError as exc:
        log.info("cannot cache the dictionary in %s: %s", folder, exc.strerror)
    return d


def _save(d: Dictionary, path: Path) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(d.to_json(), encoding="utf-8")
    tmp.replace(path)


async def resolve_dictionary(
    session: Session,
    source: DictionarySource,
    *,
    cache: Path | None = None,
    timeout: float = 30.0,
) -> Dictionary:
    """The dictionary for ``source``; a failed download falls back to the builtin table
    with one warning."""
    d = load_dictionary(source)
    if d is not None:
        return d
    try:
        return await download_dictionary(session, cache=cache, timeout=timeout)
    except (DictionaryUnavailable, TimeoutError, asyncio.TimeoutError) as exc:
        log.warning("dictionary download failed (%s); using the builtin table", exc or "timeout")
        return builtin()


class SessionDictionary:
    """The dictionary of one session: the builtin table (or the given file) at once, the
    server's once :meth:`start`'s download (for ``"download"``) is done."""

    def __init__(
        self,
        session: Session,
        source: DictionarySource | None = None,
        cache: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._session = session
        if source is None:
            source = os.environ.get("ERTCLOUD_DICTIONARY") or "download"
        self.source = source
        self.cache = Path(cache) if cache is not None else None
        self.timeout = timeout
        self.current = load_dictionary(source) or builtin()
        self._ready = asyncio.Event()
        if source != "download":
            self._ready.set()

    @property
    def current(self) -> Dictionary:
        """The dictionary in use."""
        return self._current

    @current.setter
    def current(self, dictionary: Dictionary) -> None:
        # the stream table ripples by the fields of the dictionary in use
        self._current = dictionary
        self._session.protocol.streams.use_ripples(ripple_rules(dictionary))

    def start(self) -> None:
        """Begin the download in the background (after the first login)."""
        if self.source != "download" or self._ready.is_set():
            return
        self._session._spawn(self._download())  # cancelled when the session shuts down

    async def _download(self) -> None:
        try:
            self.current = await resolve_dictionary(
                self._session, "download", cache=self.cache, timeout=self.timeout
            )
        finally:
            self._ready.set()

    async def ready(self) -> Dictionary:
        """Wait for the download (if any) and return the dictionary in use."""
        await self._ready.wait()
        return self.current
