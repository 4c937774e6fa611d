# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``_dispatch_pure.dispatch``: the per-frame loop of the receive path.

For an Update on an open MarketPrice stream (fields present, no DoNotCache/DoNotRipple) the
ripple and the merge into the image run here with direct dict calls and no intermediate
set; anything else (another domain, a stream not yet open, Map payloads, limits) goes to
``ItemStream.apply_update``, the pure path, for that message.
"""

from cpython.dict cimport PyDict_Contains, PyDict_GetItem, PyDict_SetItem, PyDict_Update
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

from .events import ItemUpdated
from .messages import Update
from .streams import _RIPPLE_KEYS, _RIPPLE_MOVES, ItemStream, Phase, _too_many


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef Py_ssize_t _offset(object cls, str name) except -1:
    """Where the slot ``name`` of ``cls`` instances is stored (slotted dataclasses and
    msgspec Structs both keep their fields in member slots)."""
    d = getattr(cls, name)
    if type(d).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject*>d).d_member.offset


# Reading a slot by its offset skips the attribute lookup, which costs more from C than
# from the specialising interpreter. Only used on instances of exactly these two types.
cdef Py_ssize_t S_FIELDS = _offset(ItemStream, "fields")
cdef Py_ssize_t S_PHASE = _offset(ItemStream, "phase")
cdef Py_ssize_t S_DOMAIN = _offset(ItemStream, "domain")
cdef Py_ssize_t S_WHOLE = _offset(ItemStream, "whole_chains")
cdef Py_ssize_t S_MAX_FIELDS = _offset(ItemStream, "max_fields")
cdef Py_ssize_t S_SEQ = _offset(ItemStream, "seq_number")
cdef Py_ssize_t S_UPDATES = _offset(ItemStream, "updates")
cdef Py_ssize_t S_DELIVER = _offset(ItemStream, "deliver")
cdef Py_ssize_t M_ID = _offset(Update, "id")
cdef Py_ssize_t M_FIELDS = _offset(Update, "fields")
cdef Py_ssize_t M_SEQ = _offset(Update, "seq_number")
cdef Py_ssize_t M_NO_CACHE = _offset(Update, "do_not_cache")
cdef Py_ssize_t M_NO_RIPPLE = _offset(Update, "do_not_ripple")


cdef inline PyObject* _slot(object o, Py_ssize_t offset):
    return (<PyObject**>((<char*><PyObject*>o) + offset))[0]


cdef inline void _set_slot(object o, Py_ssize_t offset, object value):
    cdef PyObject** p = <PyObject**>((<char*><PyObject*>o) + offset)
    cdef PyObject* old = p[0]
    Py_INCREF(value)
    p[0] = <PyObject*>value
    Py_XDECREF(old)


cdef object _OPEN = Phase.OPEN
cdef object _UPDATE = Update
cdef object _STREAM = ItemStream
cdef object _ITEM_UPDATED = ItemUpdated
cdef object _MARKET_PRICE = "MarketPrice"
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
    """``ItemStream.apply_update`` for an exact ItemStream and Update."""
    cdef PyObject* f = _slot(msg, M_FIELDS)
    cdef PyObject* img_p = _slot(s, S_FIELDS)
    cdef PyObject* domain = _slot(s, S_DOMAIN)
    cdef PyObject* nc = _slot(msg, M_NO_CACHE)
    cdef PyObject* nr = _slot(msg, M_NO_RIPPLE)
    if (
        f is NULL or img_p is NULL or domain is NULL or nc is NULL or nr is NULL
        or type(<object>f) is not dict
        or not <dict>f
        or _slot(s, S_PHASE) != <PyObject*>_OPEN
        or (<object>nc is not None and <object>nc)
        or (<object>nr is not None and <object>nr)
        or type(<object>img_p) is not dict
        or (domain != <PyObject*>_MARKET_PRICE and <object>domain != _MARKET_PRICE)
    ):
        s.apply_update(msg)
        return 0
    cdef dict img = <dict>img_p
    cdef dict fields = <dict>f
    cdef PyObject* whole_p = _slot(s, S_WHOLE)
    cdef object whole = <object>whole_p if whole_p is not NULL else s.whole_chains
    cdef object name
    cdef int hits = 0, overlapping = 0
    for name in fields:
        if PyDict_GetItem(_MOVES, name) is not NULL:
            hits += 1
            if name in _OVERLAPPING:
                overlapping += 1
    if overlapping > 1:  # keep the pure path's order (a set's) for chains that overlap
        for name in fields.keys() & _KEYS:
            _ripple(img, name, whole)
    elif hits:
        for name in fields:
            if PyDict_GetItem(_MOVES, name) is not NULL:
                _ripple(img, name, whole)
    PyDict_Update(img, fields)
    cdef PyObject* limit_p = _slot(s, S_MAX_FIELDS)
    cdef object limit = <object>limit_p if limit_p is not NULL else s.max_fields
    if len(img) > limit:
        raise _too_many(f"fields in the image of {s.name}", len(img), limit)
    cdef PyObject* seq = _slot(msg, M_SEQ)
    if seq is not NULL and <object>seq is not None:
        _set_slot(s, S_SEQ, <object>seq)
    cdef PyObject* updates = _slot(s, S_UPDATES)
    if updates is NULL:
        s.updates += 1
    else:
        _set_slot(s, S_UPDATES, <object>updates + 1)
    return 0


def dispatch(msgs, lookup, on_other):
    """Apply the decoded messages of one frame in order; returns the events (see the
    pure twin ``ertcloud.protocol._dispatch_pure.dispatch``)."""
    cdef list events = []
    cdef object msg, s, deliver, ev
    cdef PyObject* d
    for msg in msgs:
        if type(msg) is _UPDATE:
            s = lookup(<object>_slot(msg, M_ID))
            if s is None:
                continue
            if type(s) is _STREAM:
                _apply_update(s, msg)
                d = _slot(s, S_DELIVER)
                deliver = <object>d if d is not NULL else None
            else:  # a subclass may override anything: the pure path
                s.apply_update(msg)
                deliver = s.deliver
            ev = _ITEM_UPDATED(s, msg)
            if deliver is not None and not events:
                deliver(ev)
            else:
                events.append(ev)
        else:
            on_other(msg, events)
    return events
