# Included at the end of _speedups.pyx (one extension module, one build).
#
# -- Map Updates (MarketByPrice, MarketByOrder, ...) -----------------------------------------
#
# The reader: ``_map`` reads the value of an Update's "Map" key straight from the bytes into
# what msgspec decodes for ``dict[str, Any]``: objects, arrays and the scalars of the Fields
# reader, nested no deeper than Map -> Entries -> entry -> Fields. Anything else (a deeper
# container, an escape, a number it would not read as msgspec does, malformed JSON) sends the
# whole frame to the general decoder, as everything ``_update`` does not know.
#
# The loop over a Frame reads a Map of the usual shape (``_read_map``) not into dicts but into
# the frame: its Summary's Fields and each entry's Fields into the frame's fields (C numbers,
# shared names), each entry's Action and Key into the frame's entries, and applies it from
# there (``_apply_entries``); the message's dict is read again from the bytes if it is built.
#
# The apply: ``_apply_other`` takes what ``_apply_update`` leaves to the pure path. A Map
# Update of an open stream whose book is an exact ``MapImage`` (plain dicts, no DoNotCache, no
# Fields) is applied here, step for step as ``MapImage.apply`` and ``ItemStream.apply_update``
# do (same order, same limits, same errors); anything else goes to ``ItemStream.apply_update``.

from cpython.dict cimport PyDict_Copy
from cpython.long cimport PyLong_AsLongLongAndOverflow

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

from .streams import MapImage as _MapImageType


cdef Py_ssize_t M_MAP = _offset(Update, "map")
cdef Py_ssize_t S_MAP = _offset(ItemStream, "map")
cdef Py_ssize_t I_SUMMARY = _offset(_MapImageType, "summary")
cdef Py_ssize_t I_ENTRIES = _offset(_MapImageType, "entries")
cdef Py_ssize_t I_MAX_ENTRIES = _offset(_MapImageType, "max_entries")
cdef Py_ssize_t I_MAX_FIELDS = _offset(_MapImageType, "max_fields")
cdef object _MAP_IMAGE = _MapImageType

cdef enum:
    _MAP_DEPTH = 4  # containers at depths 0-3: Map, Entries, an entry, its Fields


cdef object _json_value(_Cur* c, int depth):
    """A JSON value as msgspec decodes it into ``Any`` (null as ``_NONE_SEEN``), or None to
    fall back."""
    _ws(c)
    if c.p >= c.end:
        return None
    cdef unsigned char ch = c.p[0]
    if ch == 123 or ch == 91:  # '{' '['
        if depth >= _MAP_DEPTH:
            return None
        return _json_object(c, depth) if ch == 123 else _json_array(c, depth)
    return _scalar(c)


cdef object _json_object(_Cur* c, int depth):
    cdef dict out = {}
    cdef object k, v
    c.p += 1  # '{'
    if _eat(c, 125):  # '}'
        return out
    while True:
        _ws(c)
        k = _string(c)
        if k is None or not _eat(c, 58):  # ':'
            return None
        v = _json_value(c, depth + 1)
        if v is None:
            return None
        PyDict_SetItem(out, k, None if v is _NONE_SEEN else v)
        if _eat(c, 44):  # ','
            continue
        if _eat(c, 125):
            return out
        return None


cdef object _json_array(_Cur* c, int depth):
    cdef list out = []
    cdef object v
    c.p += 1  # '['
    if _eat(c, 93):  # ']'
        return out
    while True:
        v = _json_value(c, depth + 1)
        if v is None:
            return None
        out.append(None if v is _NONE_SEEN else v)
        if _eat(c, 44):
            continue
        if _eat(c, 93):
            return out
        return None


cdef object _map(_Cur* c):
    """The value of an Update's "Map": an object (a dict), null (``_NONE_SEEN``), or None to
    fall back (msgspec's ``dict[str, Any] | None`` takes nothing else)."""
    _ws(c)
    if c.p < c.end and c.p[0] == 123:
        return _json_object(c, 0)
    if c.p < c.end and c.p[0] == 110:
        v = _scalar(c)
        return v if v is _NONE_SEEN else None
    return None


cdef enum:
    _A_NONE = 0
    _A_DELETE = 1
    _A_ADD = 2
    _A_UPDATE = 3


cdef int _read_map(_Cur* c, Frame fr, _Rec* r) except -1:
    """The value of an Update's "Map" into ``r``: into the frame when ``fr.raw_maps`` and
    ``_map_into`` takes it, else as a dict (``_map``); _FALLBACK for what ``_map`` does not
    read."""
    cdef const unsigned char* at
    _ws(c)
    at = c.p
    if fr.raw_maps and c.p < c.end and c.p[0] == 123:
        if _map_into(c, fr, r) == 0:
            r.raw_map = True
            r.map_at = at - fr.base
            return 0
        r.has_summary = False
        r.ne = 0
        c.p = at  # what it read stays in the frame unused until released
    v = _map(c)
    if v is None:
        return _FALLBACK
    if v is not _NONE_SEEN:
        _hold(&r.map, v)
    return 0


cdef object _map_again(Frame fr, _Rec* r):
    """The dict of a Map that ``_read_map`` read into the frame."""
    cdef _Cur c
    c.p = fr.base + r.map_at
    c.end = fr.base + r.end
    v = _map(&c)
    if v is None or v is _NONE_SEEN:
        raise RuntimeError("a Map no longer reads as it did")
    return v


cdef inline bint _null(_Cur* c):
    return c.p < c.end and c.p[0] == 110 and _scalar(c) is _NONE_SEEN  # 'n'


cdef inline int _ignored(_Cur* c) except -1:
    """A scalar the apply does not use (validated as ``_map`` would); _FALLBACK for a container."""
    if c.p >= c.end or c.p[0] == 123 or c.p[0] == 91 or _scalar(c) is None:
        return _FALLBACK
    return 0


cdef enum:
    _MORE = 2  # not _FALLBACK, not 0


cdef int _next(_Cur* c, unsigned char close) except -1:
    """After a member: _MORE at ',' (another follows), 0 at ``close`` (the last), _FALLBACK
    else."""
    if _eat(c, 44):
        return _MORE
    return 0 if _eat(c, close) else _FALLBACK


cdef int _map_into(_Cur* c, Frame fr, _Rec* r) except -1:
    """A Map object whose Summary is null or holds only Fields (of scalars) and whose Entries
    are null or objects of Action (a string or null), Key (a scalar) and Fields (of scalars),
    into the frame (``r``'s), besides scalars it ignores; _FALLBACK for anything else (then
    ``_map`` reads it as a dict)."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef int seen = 0, bit, more
    c.p += 1  # '{'
    r.e0 = fr.nents
    r.ne = 0
    _ws(c)
    if _eat(c, 125):
        return 0
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not ascii or not _eat(c, 58):
            return _FALLBACK
        _ws(c)
        bit = 0
        if _is(p, n, "Entries", 7):
            bit = 1
            if c.p < c.end and c.p[0] == 91:
                if _entries_into(c, fr, r):
                    return _FALLBACK
            elif not _null(c):
                return _FALLBACK
        elif _is(p, n, "Summary", 7):
            bit = 2
            if c.p < c.end and c.p[0] == 123:
                if _summary_into(c, fr, r):
                    return _FALLBACK
            elif not _null(c):
                return _FALLBACK
        elif _ignored(c):
            return _FALLBACK
        if seen & bit:
            return _FALLBACK
        seen |= bit
        more = _next(c, 125)
        if more != _MORE:
            return more


cdef int _summary_into(_Cur* c, Frame fr, _Rec* r) except -1:
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef int more
    c.p += 1  # '{'
    _ws(c)
    if _eat(c, 125):
        return 0
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not ascii or not _eat(c, 58):
            return _FALLBACK
        _ws(c)
        if _is(p, n, "Fields", 6):
            if r.has_summary:
                return _FALLBACK
            if c.p < c.end and c.p[0] == 123:
                r.has_summary = True
                if _fields_into(c, fr, &r.sf0, &r.snf):
                    return _FALLBACK
            elif not _null(c):
                return _FALLBACK
        elif _ignored(c):
            return _FALLBACK
        more = _next(c, 125)
        if more != _MORE:
            return more


cdef int _entries_into(_Cur* c, Frame fr, _Rec* r) except -1:
    cdef int more
    c.p += 1  # '['
    _ws(c)
    if _eat(c, 93):
        return 0
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 123:
            return _FALLBACK
        r.ne += 1
        if _entry_into(c, fr, fr._push_ent()):
            return _FALLBACK
        more = _next(c, 93)
        if more != _MORE:
            return more


cdef extern from "Python.h":
    Py_ssize_t _length "PyUnicode_GET_LENGTH" (PyObject* o)
    void* _data "PyUnicode_DATA" (PyObject* o)


cdef enum:
    _KEY_BITS = 13
    _KEY_SLOTS = 1 << _KEY_BITS  # 64 KiB of pointers
    _KEY_LEN = 64  # longer keys are made fresh

# The strings of entry Keys, in a table of their own: a book's keys (price levels, order ids)
# are many more than its field names, each read now and then, so through the shared string
# cache they would take the entries (and the memo lines) of the field names; here a key read
# again is the very str the book holds (its hash kept, the dict's lookup an identity check),
# and one that misses costs a pointer.
cdef PyObject* _keys[_KEY_SLOTS]


cdef object _entry_key(_Cur* c):
    """An entry's Key that is a string (None to fall back), shared through ``_keys``."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef uint64_t a, b
    cdef PyObject* o
    cdef PyObject** slot
    cdef object s
    if _raw_string(c, &p, &n, &ascii):
        return None
    if not ascii or n > _KEY_LEN:
        return _make_str(p, n, ascii)
    _words(p, n, c.end, &a, &b)
    slot = &_keys[_mix(a, b, n, _KEY_BITS)]
    o = slot[0]
    # every string in the table is one of _make_str's ASCII ones: its bytes are its data
    if o is not NULL and _length(o) == n and memcmp(_data(o), p, n) == 0:
        return <object>o
    s = _make_str(p, n, True)
    Py_INCREF(s)
    slot[0] = <PyObject*>s
    Py_XDECREF(o)
    return s


def entry_key_slot(str s):
    """The ``_keys`` entry an ASCII key would take, for the tests."""
    cdef bytes raw = s.encode("ascii")
    cdef const unsigned char* p = raw
    cdef Py_ssize_t n = len(raw)
    cdef uint64_t a, b
    _words(p, n, p + n, &a, &b)
    return _mix(a, b, n, _KEY_BITS)


cdef int _entry_into(_Cur* c, Frame fr, _Ent* e) except -1:
    cdef const unsigned char* p
    cdef const unsigned char* ap
    cdef Py_ssize_t n, an
    cdef bint ascii
    cdef int seen = 0, bit, more
    cdef object v
    c.p += 1  # '{'
    _ws(c)
    if _eat(c, 125):
        return 0
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not ascii or not _eat(c, 58):
            return _FALLBACK
        _ws(c)
        if _is(p, n, "Fields", 6):
            bit = 1
            if c.p < c.end and c.p[0] == 123:
                e.has_fields = True
                if _fields_into(c, fr, &e.f0, &e.nf):
                    return _FALLBACK
            elif not _null(c):
                return _FALLBACK
        elif _is(p, n, "Action", 6):
            bit = 2
            if c.p < c.end and c.p[0] == 34:
                if _raw_string(c, &ap, &an, &ascii) or not ascii:  # else _map may not read it
                    return _FALLBACK
                if _is(ap, an, "Update", 6):
                    e.action = _A_UPDATE
                elif _is(ap, an, "Add", 3):
                    e.action = _A_ADD
                elif _is(ap, an, "Delete", 6):
                    e.action = _A_DELETE
            elif not _null(c):  # a JSON value that is no string equals no action
                return _FALLBACK
        elif _is(p, n, "Key", 3):
            bit = 4
            if c.p >= c.end or c.p[0] == 123 or c.p[0] == 91:
                return _FALLBACK
            v = _entry_key(c) if c.p[0] == 34 else _scalar(c)
            if v is None:
                return _FALLBACK
            if v is not _NONE_SEEN:
                _hold(&e.key, v)
        elif _is(p, n, "Elements", 8):
            return _FALLBACK
        else:
            bit = 0
            if _ignored(c):
                return _FALLBACK
        if seen & bit:
            return _FALLBACK
        seen |= bit
        more = _next(c, 125)
        if more != _MORE:
            return more


cdef inline int _put_fields(dict d, _Field* fs, Py_ssize_t n) except -1:
    cdef Py_ssize_t j
    for j in range(n):
        PyDict_SetItem(d, <object>fs[j].name, _box(&fs[j]))
    return 0


cdef inline Py_ssize_t _bound(object m, bint* ok) noexcept:
    """A limit as a C number for ``len(x) > m`` (``ok``), when it is an int; else ``ok``
    False (then ``_over`` compares as Python does)."""
    cdef int overflow = 0
    cdef long long v
    ok[0] = type(m) is int
    if not ok[0]:
        return 0
    v = PyLong_AsLongLongAndOverflow(m, &overflow)
    if overflow:  # past any length, or below every one
        return PY_SSIZE_T_MAX if overflow > 0 else -1
    return <Py_ssize_t>v


cdef inline bint _over(Py_ssize_t n, bint ok, Py_ssize_t lim, object m) except -1:
    """``n > m``, with ``lim`` and ``ok`` from ``_bound(m)``."""
    return n > lim if ok else bool(n > m)


cdef int _apply_entries(object book, Frame fr, _Rec* r) except -1:
    """``_apply_map`` for a Map that ``_read_map`` read into the frame (``r``'s)."""
    cdef dict summary = <dict>_slot(book, I_SUMMARY)
    cdef dict entries = <dict>_slot(book, I_ENTRIES)
    cdef object max_fields = <object>_slot(book, I_MAX_FIELDS)
    cdef object max_entries = <object>_slot(book, I_MAX_ENTRIES)
    cdef bint fok, eok
    cdef Py_ssize_t flim = _bound(max_fields, &fok), elim = _bound(max_entries, &eok)
    cdef _Ent* e
    cdef object key, row
    cdef dict data
    cdef PyObject* cur
    cdef Py_ssize_t k
    if r.has_summary:
        _put_fields(summary, fr.fs + r.sf0, r.snf)
        if _over(len(summary), fok, flim, max_fields):
            raise _too_many("fields in a map summary", len(summary), max_fields)
    for k in range(r.e0, r.e0 + r.ne):
        e = &fr.ents[k]
        key = <object>e.key if e.key is not NULL else None
        if e.action == _A_DELETE:
            entries.pop(key, None)
        elif e.action == _A_ADD:
            row = {}
            if e.has_fields:
                _put_fields(<dict>row, fr.fs + e.f0, e.nf)
            PyDict_SetItem(entries, key, row)
            if _over(len(<dict>row), fok, flim, max_fields):
                raise _too_many("fields in a map entry", len(<dict>row), max_fields)
        elif e.action == _A_UPDATE:
            cur = PyDict_GetItem(entries, key)
            if cur is NULL:
                row = {}
                PyDict_SetItem(entries, key, row)
            else:
                row = <object>cur
            if e.has_fields:
                if type(row) is dict:
                    _put_fields(<dict>row, fr.fs + e.f0, e.nf)
                    if _over(len(<dict>row), fok, flim, max_fields):
                        raise _too_many("fields in a map entry", len(<dict>row), max_fields)
                else:
                    data = {}
                    _put_fields(data, fr.fs + e.f0, e.nf)
                    row.update(data)
                    if len(row) > max_fields:
                        raise _too_many("fields in a map entry", len(row), max_fields)
        if _over(len(entries), eok, elim, max_entries):
            raise _too_many("entries in a map", len(entries), max_entries)
    return 0


cdef inline bint _plain_dict(PyObject* o):
    return o is not NULL and type(<object>o) is dict


cdef inline object _get(dict d, object key):
    cdef PyObject* v = PyDict_GetItem(d, key)
    return <object>v if v is not NULL else None


cdef int _apply_map(object book, dict container, bint owned) except -1:
    """``MapImage.apply`` for an exact MapImage whose summary and entries are dicts
    (``owned``: nothing else holds ``container``, so an added entry keeps its dict)."""
    cdef dict summary = <dict>_slot(book, I_SUMMARY)
    cdef dict entries = <dict>_slot(book, I_ENTRIES)
    cdef object max_fields = <object>_slot(book, I_MAX_FIELDS)
    cdef object max_entries = <object>_slot(book, I_MAX_ENTRIES)
    cdef object sm = _get(container, "Summary")
    cdef object sf, rows, entry, key, action, data, row
    cdef PyObject* cur
    if isinstance(sm, dict):
        sf = _get(<dict>sm, "Fields")
        if isinstance(sf, dict):
            PyDict_Update(summary, sf)
            if len(summary) > max_fields:
                raise _too_many("fields in a map summary", len(summary), max_fields)
    rows = _get(container, "Entries")
    if not isinstance(rows, list):
        return 0
    for entry in <list>rows:
        if not isinstance(entry, dict):
            continue
        key = _get(<dict>entry, "Key")
        if isinstance(key, (list, dict)):
            key = repr(key)
        action = _get(<dict>entry, "Action")
        data = _get(<dict>entry, "Fields")
        if data is None:
            data = _get(<dict>entry, "Elements")
        if type(action) is not str:  # a JSON value that is no string equals no action
            pass
        elif action == "Delete":
            entries.pop(key, None)
        elif action == "Add":
            if owned and type(data) is dict:
                row = data
            else:
                row = PyDict_Copy(data) if isinstance(data, dict) else {}
            PyDict_SetItem(entries, key, row)
            if len(<dict>row) > max_fields:
                raise _too_many("fields in a map entry", len(<dict>row), max_fields)
        elif action == "Update":
            cur = PyDict_GetItem(entries, key)
            if cur is NULL:
                row = {}
                PyDict_SetItem(entries, key, row)
            else:
                row = <object>cur
            if isinstance(data, dict):
                if type(row) is dict:
                    PyDict_Update(row, data)
                else:
                    row.update(data)
                if len(row) > max_fields:
                    raise _too_many("fields in a map entry", len(row), max_fields)
        if len(entries) > max_entries:
            raise _too_many("entries in a map", len(entries), max_entries)
    return 0


cdef bint _book_ok(object s):
    """Whether a Map Update goes to the stream's book here: an open stream whose book is an
    exact MapImage of plain dicts."""
    cdef PyObject* book = _slot(s, S_MAP)
    return not (
        book is NULL or type(<object>book) is not _MAP_IMAGE
        or not _plain_dict(_slot(<object>book, I_SUMMARY))
        or not _plain_dict(_slot(<object>book, I_ENTRIES))
        or _slot(s, S_UPDATES) is NULL
        or _slot(s, S_PHASE) != <PyObject*>_OPEN
    )


cdef int _apply_other(object s, object msg) except -1:
    """``ItemStream.apply_update`` for an exact ItemStream and Update that ``_apply_update``
    does not take: a Map Update of an open stream here, anything else the pure path."""
    cdef PyObject* m = _slot(msg, M_MAP)
    cdef PyObject* f = _slot(msg, M_FIELDS)
    cdef PyObject* nc = _slot(msg, M_NO_CACHE)
    if (
        m is NULL or type(<object>m) is not dict
        or f is NULL or (<object>f is not None and (type(<object>f) is not dict or <dict>f))
        or nc is NULL or (<object>nc is not None and <object>nc is not False)
        or not _book_ok(s)
    ):
        s.apply_update(msg)
        return 0
    _apply_map(<object>_slot(s, S_MAP), <dict>m, False)
    return _count(s, _slot(msg, M_SEQ))


cdef int _apply_book(object s, Frame fr, _Rec* r) except -1:
    """``_apply_other`` for a Map Update read into ``r`` (into the frame, or a dict that is
    the record's own), whose stream ``_book_ok`` takes."""
    cdef dict m
    if r.raw_map:
        _apply_entries(<object>_slot(s, S_MAP), fr, r)
    else:
        m = <dict>r.map
        _apply_map(<object>_slot(s, S_MAP), m, Py_REFCNT(m) == 2)  # the record's and m
    return _count(s, r.vals[1])


cdef int _count(object s, PyObject* seq) except -1:
    """The sequence number (``seq``: the message's, NULL or None for none) and the count."""
    if seq is not NULL and <object>seq is not None:
        _set_slot(s, S_SEQ, <object>seq)
    _set_slot(s, S_UPDATES, <object>_slot(s, S_UPDATES) + 1)
    return 0
