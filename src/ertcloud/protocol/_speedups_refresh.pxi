# Included at the end of _speedups.pyx (one extension module, one build).
#
# -- Refreshes ----------------------------------------------------------------------------------
#
# The reader: ``_refresh`` reads one Refresh message straight from the bytes into the ``Refresh``
# struct msgspec would build, with the helpers of the Update reader (its string cache, numbers,
# Fields and Key readers). It knows the keys a Refresh of a FieldList item carries (ID, Domain,
# Key, State, Qos, Fields, SeqNumber, PartNumber, PermData, ExtHdr and the flags); anything else
# (Elements, Map, PostUserInfo, a value of a type msgspec would refuse, an escape...) sends the
# whole frame to the general decoder. ``_messages`` reads a frame of Refreshes and Updates.
#
# The apply: ``apply_refresh`` takes a complete or partial Refresh that clears the cache of an
# open-state MarketPrice stream with compact images, and builds its image straight from the
# Fields in their order: the layout of the shape is the table's last one when the names match
# (one pointer comparison per field), else ``Layouts.get``; the whole ripple chains are cached
# on the layout. Everything else (another domain, ClearCache false, a final state, no State, a
# Map, an empty or oversized Fields, a full layout table) is left to ``ItemStream.apply_refresh``.

from cpython.tuple cimport PyTuple_GET_ITEM

from .enums import FINAL_STREAM_STATES as _FINAL_STATES
from .image import Layout as _LayoutType
from .messages import Qos as _QosType
from .messages import Refresh as _RefreshType
from .messages import State as _StateType
from .streams import TRANSITIONS as _TRANSITIONS
from .streams import Interner as _InternerType


cdef object _REFRESH = _RefreshType
cdef object _STATE = _StateType
cdef object _LAYOUT = _LayoutType
cdef object _INTERNER = _InternerType
# (phase, the phase after a complete / a partial Refresh) of ``TRANSITIONS``, compared by
# identity (hashing an Enum member runs Python code)
cdef tuple _NEXT_REFRESH = tuple((a, b) for (a, what), b in _TRANSITIONS.items() if what == "refresh")
cdef tuple _NEXT_PART = tuple((a, b) for (a, what), b in _TRANSITIONS.items() if what == "part")
cdef object _REFRESH_TEMPLATE = _RefreshType(id=0)
cdef object _QOS_TEMPLATE = _QosType()

cdef Py_ssize_t RF_ID = _offset(_RefreshType, "id")
cdef Py_ssize_t RF_KEY = _offset(_RefreshType, "key")
cdef Py_ssize_t RF_STATE = _offset(_RefreshType, "state")
cdef Py_ssize_t RF_QOS = _offset(_RefreshType, "qos")
cdef Py_ssize_t RF_FIELDS = _offset(_RefreshType, "fields")
cdef Py_ssize_t RF_MAP = _offset(_RefreshType, "map")
cdef Py_ssize_t RF_CLEAR = _offset(_RefreshType, "clear_cache")
cdef Py_ssize_t RF_COMPLETE = _offset(_RefreshType, "complete")
cdef Py_ssize_t RF_SEQ = _offset(_RefreshType, "seq_number")
cdef Py_ssize_t S_STATE = _offset(ItemStream, "state")
cdef Py_ssize_t S_REFRESHES = _offset(ItemStream, "refreshes")
cdef Py_ssize_t S_SERVICE = _offset(ItemStream, "service")
cdef Py_ssize_t N_COMPACT = _offset(_InternerType, "compact")
cdef Py_ssize_t N_LAYOUTS = _offset(_InternerType, "layouts")

cdef enum:
    _N_RSCALARS = 12
    _N_QOS = 5

# The top-level keys of a Refresh with a scalar value, and the keys of its Qos.
cdef _ScalarKey _RSCALARS[_N_RSCALARS]
cdef _ScalarKey _QOS_KEYS[_N_QOS]


for _i, (_name, _kind, _attr) in enumerate([
    (b"ID", _K_ID, "id"),
    (b"Domain", _K_STR, "domain"),
    (b"SeqNumber", _K_INT, "seq_number"),
    (b"PartNumber", _K_INT, "part_number"),
    (b"PermData", _K_STR, "perm_data"),
    (b"ExtHdr", _K_STR, "ext_hdr"),
    (b"Solicited", _K_BOOL, "solicited"),
    (b"Complete", _K_BOOL, "complete"),
    (b"ClearCache", _K_BOOL, "clear_cache"),
    (b"Private", _K_BOOL, "private"),
    (b"Qualified", _K_BOOL, "qualified"),
    (b"DoNotCache", _K_BOOL, "do_not_cache"),
]):
    _table_key(_RSCALARS, _i, _name, _kind, _offset(_RefreshType, _attr))
for _i, (_name, _kind, _attr) in enumerate([
    (b"Timeliness", _K_STR, "timeliness"),
    (b"Rate", _K_STR, "rate"),
    (b"TimeInfo", _K_INT, "time_info"),
    (b"RateInfo", _K_INT, "rate_info"),
    (b"Dynamic", _K_BOOL, "dynamic"),
]):
    _table_key(_QOS_KEYS, _i, _name, _kind, _offset(_QosType, _attr))


cdef inline int _find(_ScalarKey* table, int n, const unsigned char* p, Py_ssize_t len_) noexcept:
    cdef int i
    for i in range(n):
        if _is(p, len_, table[i].name, table[i].n):
            return i
    return -1


cdef object _qos(_Cur* c):
    """A Qos object of its five scalar keys, or None to fall back."""
    cdef object qos = _copy(_QOS_TEMPLATE)
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef int seen = 0, i
    cdef object v
    if not _eat(c, 123):
        return None
    if _eat(c, 125):
        return qos
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not _eat(c, 58):
            return None
        v = _scalar(c)
        i = _find(_QOS_KEYS, _N_QOS, p, n)
        if v is None or i < 0 or not _kind_ok(v, _QOS_KEYS[i].kind) or seen & (1 << i):
            return None
        seen |= 1 << i
        if v is not _NONE_SEEN:
            _set_slot(qos, _QOS_KEYS[i].slot, v)
        if _eat(c, 44):
            continue
        if _eat(c, 125):
            return qos
        return None


# the State last read, given again for the same four strings (a State is immutable)
cdef object _last_state = None
cdef object _last_parts = (None, None, None, None)


cdef object _state(_Cur* c):
    """A State object (Stream and Data strings, Code and Text strings or null), or None."""
    global _last_state, _last_parts
    cdef list parts = [None, None, None, None]
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef int seen = 0, i
    cdef object v
    if not _eat(c, 123):
        return None
    if not _eat(c, 125):
        while True:
            _ws(c)
            if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not _eat(c, 58):
                return None
            v = _scalar(c)
            if _is(p, n, "Stream", 6):
                i = 0
            elif _is(p, n, "Data", 4):
                i = 1
            elif _is(p, n, "Code", 4):
                i = 2
            elif _is(p, n, "Text", 4):
                i = 3
            else:
                return None
            if v is None or seen & (1 << i):
                return None
            if type(v) is not str and not (i >= 2 and v is _NONE_SEEN):
                return None
            seen |= 1 << i
            if v is not _NONE_SEEN:
                parts[i] = v
            if _eat(c, 44):
                continue
            if _eat(c, 125):
                break
            return None
    if (seen & 3) != 3:  # Stream and Data are required
        return None
    cdef tuple last = <tuple>_last_parts
    if (
        _last_state is not None
        and <PyObject*>parts[0] == PyTuple_GET_ITEM(last, 0)
        and <PyObject*>parts[1] == PyTuple_GET_ITEM(last, 1)
        and <PyObject*>parts[2] == PyTuple_GET_ITEM(last, 2)
        and <PyObject*>parts[3] == PyTuple_GET_ITEM(last, 3)
    ):
        return _last_state
    _last_state = _STATE(parts[0], parts[1], parts[2], parts[3])
    _last_parts = tuple(parts)
    return _last_state


cdef object _refresh(_Cur* c):
    """One message object that is a Refresh of known keys, as a ``Refresh``; else None."""
    cdef Frame fr = _frame(1)
    cdef _Rec* r
    cdef object msg
    fr.base = c.p
    try:
        r = fr._push_rec()
        msg = _refresh_read(c, fr, r)
        if msg is not None and r.has_fields:
            _set_fields(msg, fr, r)
        return msg
    finally:
        fr._release()


cdef int _set_fields(object msg, Frame fr, _Rec* r) except -1:
    """The Refresh's Fields, read into ``fr``, set on ``msg`` as the dict msgspec gives."""
    cdef dict fields = {}
    _put_fields(fields, fr.fs + r.f0, r.nf)
    _set_slot(msg, RF_FIELDS, fields)
    return 0


cdef object _refresh_read(_Cur* c, Frame fr, _Rec* r):
    """``_refresh`` with its Fields read into ``fr`` (``r``: their place, ``has_fields``, and
    the object's bytes ``start`` and ``end``) and not set on the struct."""
    cdef object msg = _copy(_REFRESH_TEMPLATE)
    cdef const unsigned char* p
    cdef const unsigned char* tp
    cdef Py_ssize_t n, tn
    cdef bint ascii
    cdef int seen = 0, bit, i
    cdef Py_ssize_t slot
    cdef object v
    _ws(c)
    r.start = c.p - fr.base
    if not _eat(c, 123):
        return None
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not _eat(c, 58):
            return None
        _ws(c)
        slot = -1
        if _is(p, n, "Type", 4):
            if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &tp, &tn, &ascii):
                return None
            if not _is(tp, tn, "Refresh", 7):
                return None
            bit = 1
            v = _NONE_SEEN
        elif (
            _is(p, n, "Fields", 6) or _is(p, n, "State", 5)
            or _is(p, n, "Key", 3) or _is(p, n, "Qos", 3)
        ):
            if n == 6:
                bit, slot = 2, RF_FIELDS
            elif n == 5:
                bit, slot = 8, RF_STATE
            elif p[0] == 75:  # 'K'
                bit, slot = 16, RF_KEY
            else:
                bit, slot = 32, RF_QOS
            if c.p < c.end and c.p[0] == 110:  # null
                v = _scalar(c)
                if v is not _NONE_SEEN:
                    return None
            elif bit == 2:
                if _read_fields(c, fr, r):
                    return None
                v, slot = _NONE_SEEN, -1
            elif bit == 8:
                v = _state(c)
            elif bit == 16:
                v = _key(c)
            else:
                v = _qos(c)
        else:
            v = _scalar(c)
            i = _find(_RSCALARS, _N_RSCALARS, p, n)
            if v is None or i < 0 or not _kind_ok(v, _RSCALARS[i].kind):
                return None
            bit, slot = 64 << i, _RSCALARS[i].slot
        if v is None:
            return None
        if seen & bit:
            return None
        seen |= bit
        if slot >= 0 and v is not _NONE_SEEN:
            _set_slot(msg, slot, v)
        if _eat(c, 44):
            continue
        if _eat(c, 125):
            break
        return None
    if (seen & 65) != 65:  # Type and ID are required
        return None
    r.end = c.p - fr.base
    return msg


cdef object _refresh_in(_Cur* c, Frame fr):
    """``_refresh_read`` into a new record of ``fr`` (none left when it gives None)."""
    cdef Py_ssize_t n = fr.n, nfs = fr.nfs
    cdef object msg = _refresh_read(c, fr, fr._push_rec())
    if msg is None:
        fr._rewind(n, nfs)
    return msg


cdef list _messages(const unsigned char* data, Py_ssize_t size, Frame fr):
    """Every message of a frame of Refreshes and Updates, or None to fall back. With ``fr``
    (whose ``base`` is ``data``), each Refresh's Fields are read into it, one record per
    Refresh in their order, and left off the struct (see ``_dispatch``)."""
    cdef _Cur c
    cdef list out = []
    cdef object m
    cdef const unsigned char* start
    cdef bint array
    c.p = data
    c.end = data + size
    _ws(&c)
    if c.p >= c.end or (c.p[0] != 123 and c.p[0] != 91):
        return None
    array = c.p[0] == 91
    if array:
        c.p += 1
        if _eat(&c, 93):
            return None
    while True:
        _ws(&c)
        start = c.p
        m = _refresh(&c) if fr is None else _refresh_in(&c, fr)
        if m is None:  # an Update, or something the general decoder reads
            c.p = start
            m = _update(&c)
            if m is None:
                return None
        out.append(m)
        if not array:
            break
        if _eat(&c, 44):
            continue
        if _eat(&c, 93):
            break
        return None
    _ws(&c)
    if c.p != c.end:
        return None
    return out


# -- the apply -----------------------------------------------------------------------------------

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)


cdef inline bint _same_str(object a, object b) except -1:
    """``a == b`` for a key and a layout name (both exact str: by their cached hashes and
    bytes, without the generic comparison)."""
    if type(a) is not str or type(b) is not str:
        return a == b
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(a)
    if n != PyUnicode_GET_LENGTH(b) or PyUnicode_KIND(a) != PyUnicode_KIND(b):
        return False
    if hash(a) != hash(b):
        return False
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), n * PyUnicode_KIND(a)) == 0


cdef object _match(object layouts, dict fields):
    """The layout whose names are the keys of ``fields`` in their order (None: past the
    table's bound of shapes)."""
    cdef object last = layouts.last
    cdef tuple names
    cdef Py_ssize_t pos = 0, i = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef PyObject* name
    if last is not None and type(last) is _LAYOUT:
        names = <tuple>last.names
        if len(names) == len(fields):
            while PyDict_Next(fields, &pos, &k, &v):
                name = PyTuple_GET_ITEM(names, i)
                if k != name and not _same_str(<object>k, <object>name):
                    break
                i += 1
            else:
                return last
    layout = layouts.get(tuple(fields))
    if layout is not None:
        layouts.last = layout
    return layout


cdef CompactImage _image_in_order(object layout, dict fields):
    """``compact_image(layout, fields)`` for a layout whose names are the keys of
    ``fields`` in their order: one pass over the values."""
    return _image_from(layout, _values_of(layout.names, fields, True), NULL)


def apply_refresh(s, msg):
    """``s.apply_refresh(msg)`` for what the compiled core takes (see above): True when it
    applied the Refresh, False when it left it, untouched, to ``ItemStream.apply_refresh``."""
    return _apply_refresh(s, msg)


cdef bint _apply_refresh(object s, object msg) except -1:
    if type(s) is not _STREAM or type(msg) is not _REFRESH:
        return False
    cdef PyObject* f = _slot(msg, RF_FIELDS)
    if f is NULL or type(<object>f) is not dict:
        return False
    cdef dict fields = <dict>f
    next_phase = _takes(s, msg, len(fields))
    if next_phase is None:
        return False
    layout = _match(<object>_slot(<object>_slot(_settings_of(s), T_INTERNER), N_LAYOUTS), fields)
    if layout is None:
        return False
    _refreshed(s, msg, _image_in_order(layout, fields), layout, next_phase)
    return True


cdef bint _apply_refresh_in(object s, object msg, Frame fr, _Rec* r) except -1:
    """``_apply_refresh`` of a Refresh whose Fields ``_refresh_read`` left in ``fr``."""
    if type(s) is not _STREAM or not r.has_fields:
        return False
    next_phase = _takes(s, msg, r.nf)
    if next_phase is None:
        return False
    layout = _match_in(<object>_slot(<object>_slot(_settings_of(s), T_INTERNER), N_LAYOUTS), fr.fs + r.f0, r.nf)
    if layout is None:
        return False
    _refreshed(s, msg, _image_of(layout, fr.fs + r.f0), layout, next_phase)
    return True


cdef object _takes(object s, object msg, Py_ssize_t nfields):
    """The phase stream ``s`` goes to when the compiled apply takes Refresh ``msg`` (with
    ``nfields`` fields), or None when it leaves it to ``ItemStream.apply_refresh``."""
    cdef PyObject* st = _slot(msg, RF_STATE)
    cdef PyObject* clear = _slot(msg, RF_CLEAR)
    cdef PyObject* mp = _slot(msg, RF_MAP)
    cdef PyObject* domain = _slot(s, S_DOMAIN)
    cdef object settings = _settings_of(s)
    cdef PyObject* interner = _slot(settings, T_INTERNER)
    cdef PyObject* rules = _slot(s, S_RIPPLES)
    cdef PyObject* limit = _slot(settings, T_MAX_FIELDS)
    if (
        nfields == 0
        or st is NULL or type(<object>st) is not _STATE
        or clear is NULL or <object>clear is False
        or mp is NULL or <object>mp is not None
        or domain is NULL or not (domain == <PyObject*>_MARKET_PRICE or <object>domain == _MARKET_PRICE)
        or interner is NULL or type(<object>interner) is not _INTERNER
        or _slot(<object>interner, N_COMPACT) != <PyObject*>_TRUE
        or rules is NULL or type(<object>rules) is not _RULES
        or limit is NULL or not (nfields <= <object>limit)
        or (<object>st).stream in _FINAL_STATES
    ):
        return None
    what = "part" if <object>_slot(msg, RF_COMPLETE) is False else "refresh"
    cdef object phase = <object>_slot(s, S_PHASE)
    for pair in (<tuple>_NEXT_PART if what == "part" else <tuple>_NEXT_REFRESH):
        if (<tuple>pair)[0] is phase:
            return (<tuple>pair)[1]
    return None  # no such transition (a closed stream): the pure path's KeyError


cdef object _match_in(object layouts, _Field* fs, Py_ssize_t n):
    """``_match`` for fields read into a frame: None also when a name comes twice (the dict
    of the fields would hold fewer)."""
    cdef object last = layouts.last
    cdef tuple names
    cdef Py_ssize_t i
    if last is not None and type(last) is _LAYOUT:
        names = <tuple>last.names
        if len(names) == n:
            for i in range(n):
                if fs[i].name != PyTuple_GET_ITEM(names, i) and not _same_str(
                    <object>fs[i].name, <object>PyTuple_GET_ITEM(names, i)
                ):
                    break
            else:
                return last
    names = tuple([<object>fs[i].name for i in range(n)])
    if len(dict.fromkeys(names)) != n:
        return None
    layout = layouts.get(names)
    if layout is not None:
        layouts.last = layout
    return layout


cdef CompactImage _image_of(object layout, _Field* fs):
    """``_image_in_order`` of fields read into a frame (numbers stored as they were read)."""
    return _image_from(layout, NULL, fs)


cdef int _refreshed(object s, object msg, CompactImage img, object layout, object next_phase) except -1:
    """The rest of ``ItemStream.apply_refresh``, step for step, with the image built."""
    cdef PyObject* interner = _slot(_settings_of(s), T_INTERNER)
    cdef PyObject* rules = _slot(s, S_RIPPLES)
    _set_slot(s, S_MAP, None)
    _set_slot(s, S_FIELDS, img)
    chains = layout.chains
    if chains is None or (<tuple>chains)[0] is not <object>rules:
        whole = (<object>rules).whole_chains(img)
        layout.chains = (<object>rules, whole)
    else:
        whole = (<tuple>chains)[1]
    _set_slot(s, S_WHOLE, whole)
    cdef PyObject* seq = _slot(msg, RF_SEQ)
    if seq is not NULL and <object>seq is not None:
        _set_slot(s, S_SEQ, <object>seq)
    _set_slot(s, S_STATE, (<object>interner).state(<object>_slot(msg, RF_STATE)))
    key = <object>_slot(msg, RF_KEY)
    if key is not None:
        service = key.service
        if isinstance(service, str):
            _set_slot(s, S_SERVICE, (<object>interner).sharer()(service, service))
    _set_slot(s, S_REFRESHES, <object>_slot(s, S_REFRESHES) + 1)
    _set_slot(s, S_PHASE, next_phase)
    return 0


# -- the lazy event --------------------------------------------------------------------------

cdef object _refresh_at(object data, Py_ssize_t start, Py_ssize_t end):
    """The Refresh at bytes ``start:end`` of a payload that ``_messages`` read."""
    cdef _Cur c
    cdef Py_ssize_t size
    _buffer(data, &c.p, &size)
    c.end = c.p + end
    c.p += start
    msg = _refresh(&c)
    if msg is None or c.p != c.end:
        raise RuntimeError("an ItemRefreshed's frame no longer reads as it did")
    return msg


@cython.final
cdef class ItemRefreshed(_LazyEvent):
    """A Refresh applied to its stream: :class:`ertcloud.protocol.events.ItemRefreshed` where
    the compiled core is built (the same fields, equality, ``repr`` and pickling as the pure
    core's frozen struct). One whose image the compiled core built from the frame reads
    ``message`` (the ``Refresh`` as msgspec decodes it) from the frame's bytes when it is
    first accessed."""

    cdef object _read(self):
        return _refresh_at(self._data, self._start, self._end)

    @property
    def state(self):
        """``message.state``, without reading the message."""
        if self._data is not None:
            return self._state
        return self._message.state


cdef object _ITEM_REFRESHED = None  # events.ItemRefreshed: see _refreshed_type


cdef inline object _refreshed_type():
    """``events.ItemRefreshed``, looked up once, as ``_event_type``."""
    global _ITEM_REFRESHED
    if _ITEM_REFRESHED is None:
        from .events import ItemRefreshed as cls
        _ITEM_REFRESHED = cls
    return _ITEM_REFRESHED


cdef bint _refresh_event(object msg, Frame fr, _Rec* r, object lookup, object login_id, list events) except -1:
    """Refresh ``msg`` (its Fields in ``fr`` at ``r``) applied by the compiled apply from the
    frame, with an event that reads its message later; False (nothing done) when
    ``ClientProtocol._on_other`` is to take it: the login's, a stream it does not find or
    does not take, or the msgspec event in use."""
    cdef object sid = <object>_slot(msg, RF_ID)
    if _refreshed_type() is not ItemRefreshed or sid == login_id:
        return False
    s = lookup(sid)
    if s is None or not _apply_refresh_in(s, msg, fr, r):
        return False
    cdef ItemRefreshed ev = ItemRefreshed.__new__(ItemRefreshed)
    ev.stream = s
    ev._data = fr.data
    ev._start = r.start
    ev._end = r.end
    ev._seq = <object>_slot(msg, RF_SEQ)
    ev._state = <object>_slot(msg, RF_STATE)
    events.append(ev)
    return True
