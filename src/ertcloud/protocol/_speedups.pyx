# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``_dispatch_pure.dispatch``: the per-frame loop of the receive path.

For an Update on an open MarketPrice stream (fields present, no DoNotCache/DoNotRipple) the
ripple and the merge into the image run here with direct dict calls and no intermediate
set; anything else (another domain, a stream not yet open, Map payloads, limits) goes to
``ItemStream.apply_update``, the pure path, for that message.
"""

from cpython.dict cimport PyDict_Contains, PyDict_GetItem, PyDict_SetItem, PyDict_Update
from cpython.object cimport PyObject

from .events import ItemUpdated
from .messages import Update
from .streams import _RIPPLE_KEYS, _RIPPLE_MOVES, Phase, _too_many

cdef object _OPEN = Phase.OPEN
cdef object _UPDATE = Update
cdef object _ITEM_UPDATED = ItemUpdated
cdef dict _MOVES = dict(_RIPPLE_MOVES)
cdef object _KEYS = _RIPPLE_KEYS


def _overlapping():
    """Ripple fields whose chains share fields (TRDPRC_1 and TRDPRC_2...): their order of
    application matters, so with two of them in one update the pure path's order is kept."""
    out = set()
    for a, ma in _RIPPLE_MOVES.items():
        fa = {f for m in ma for f in m}
        for b, mb in _RIPPLE_MOVES.items():
            if a != b and fa & {f for m in mb for f in m}:
                out.add(a)
    return frozenset(out)


cdef object _OVERLAPPING = _overlapping()


cdef inline int _ripple(dict img, object name, object whole) except -1:
    cdef tuple moves = <tuple>PyDict_GetItem(_MOVES, name)
    cdef tuple mv
    cdef PyObject* v
    if name in whole:
        for mv in moves:
            img[mv[0]] = img[mv[1]]
    else:
        for mv in moves:
            if PyDict_Contains(img, mv[0]):
                v = PyDict_GetItem(img, mv[1])
                PyDict_SetItem(img, mv[0], <object>v if v is not NULL else None)
    return 0


cdef int _apply_update(object s, object msg) except -1:
    cdef object f = msg.fields
    if (
        type(f) is not dict
        or not f
        or s.phase is not _OPEN
        or msg.do_not_cache
        or msg.do_not_ripple
        or s.domain != "MarketPrice"
    ):
        s.apply_update(msg)
        return 0
    cdef object img_o = s.fields
    if type(img_o) is not dict:
        s.apply_update(msg)
        return 0
    cdef dict img = <dict>img_o
    cdef object whole = s.whole_chains
    cdef object name
    cdef int hits = 0, overlapping = 0
    for name in <dict>f:
        if PyDict_GetItem(_MOVES, name) is not NULL:
            hits += 1
            if name in _OVERLAPPING:
                overlapping += 1
    if overlapping > 1:  # keep the pure path's order (a set's) for chains that overlap
        for name in f.keys() & _KEYS:
            _ripple(img, name, whole)
    elif hits:
        for name in <dict>f:
            if PyDict_GetItem(_MOVES, name) is not NULL:
                _ripple(img, name, whole)
    PyDict_Update(img, f)
    if len(img) > s.max_fields:
        raise _too_many(f"fields in the image of {s.name}", len(img), s.max_fields)
    cdef object seq = msg.seq_number
    if seq is not None:
        s.seq_number = seq
    s.updates += 1
    return 0


def dispatch(msgs, lookup, on_other):
    """Apply the decoded messages of one frame in order; returns the events (see the
    pure twin ``ertcloud.protocol._dispatch_pure.dispatch``)."""
    cdef list events = []
    cdef object msg, s, deliver, ev
    for msg in msgs:
        if type(msg) is _UPDATE:
            s = lookup(msg.id)
            if s is None:
                continue
            _apply_update(s, msg)
            deliver = s.deliver
            ev = _ITEM_UPDATED(s, msg)
            if deliver is not None and not events:
                deliver(ev)
            else:
                events.append(ev)
        else:
            on_other(msg, events)
    return events
