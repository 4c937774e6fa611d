# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``_dispatch_pure.dispatch``: the per-frame loop of the receive path.

For an Update on an open MarketPrice stream (fields present, no DoNotCache/DoNotRipple) the
ripple and the merge into the image run here with direct dict calls and no intermediate
set; Map Updates are applied in ``_speedups_map.pxi``; anything else (another domain, a stream
not yet open, limits) goes to ``ItemStream.apply_update``, the pure path, for that message.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_GetItemWithError, PyDict_Next, PyDict_SetItem, PyDict_Update
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_FromDouble
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsSsize_t, PyLong_FromLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_RawFree, PyMem_RawMalloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_REFCNT, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.string cimport memset

from collections.abc import Mapping, Sequence

from .image import FieldImage, image_from_dict
from .messages import Update
from .ripples import RippleRules
from .streams import ItemStream, Phase, StreamSettings, StreamTable, _too_many


cdef extern from "Python.h":
    char* PyBytes_AS_STRING(object o)
    object PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    Py_UCS4 PyUnicode_READ_CHAR(object o, Py_ssize_t index)
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)
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
cdef Py_ssize_t S_SETTINGS = _offset(ItemStream, "_settings")
cdef Py_ssize_t T_MAX_FIELDS = _offset(StreamSettings, "max_fields")
cdef Py_ssize_t T_INTERNER = _offset(StreamSettings, "interner")
cdef Py_ssize_t S_SEQ = _offset(ItemStream, "seq_number")
cdef Py_ssize_t S_UPDATES = _offset(ItemStream, "updates")
cdef Py_ssize_t S_DELIVER = _offset(ItemStream, "deliver")
cdef Py_ssize_t S_RIPPLES = _offset(ItemStream, "ripples")
cdef Py_ssize_t R_KEYS = _offset(RippleRules, "keys")
cdef Py_ssize_t R_MOVES = _offset(RippleRules, "moves")
cdef Py_ssize_t R_GROUPS = _offset(RippleRules, "groups")
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
cdef object _SETTINGS = StreamSettings


cdef inline object _settings_of(object s):
    """The table settings of stream ``s`` (an exact ItemStream): its shared ones, or its own
    (made by the property on first use)."""
    cdef PyObject* p = _slot(s, S_SETTINGS)
    if p is NULL or type(<object>p) is not _SETTINGS:
        s.interner
        p = _slot(s, S_SETTINGS)
    return <object>p
cdef object _ITEM_UPDATED = None  # events.ItemUpdated: see _event_type
cdef object _MARKET_PRICE = "MarketPrice"
cdef object _RULES = RippleRules


# -- the compact image -------------------------------------------------------------------------
#
# One Layout (field name -> slot, shared by every image of one shape) and, per image, one block
# of 8-byte values with a 2-bit tag each: a float or an integer that fits 64 bits is stored as a
# C value (no object per field), an ASCII string of the Refresh that no other image shares
# (an ISIN, a name) as its bytes after the tags, anything else (shared strings, None,
# booleans, containers, larger integers) as an object reference. Fields the layout does not
# have go to ``extra``.

cdef struct _Str:  # an ASCII string in the image's own bytes
    unsigned int at  # its offset in the bytes after the tags
    unsigned int n  # its length


cdef union _Val:
    double d
    long long i
    PyObject* o
    _Str s


cdef enum:
    _T_OBJ = 0
    _T_FLOAT = 1
    _T_INT = 2
    # only in an image: in a slot of 8, a string of its own bytes (built at its Refresh); in a
    # narrow slot, a date, a time or a code of 4 characters packed in 4 bytes (see ``_pack_dt``)
    _T_STR = 3


cdef struct _Slot  # the reader's cache entry of a short string (below)
cdef struct _Memo


cdef struct _Field:
    # one field of an Update read from the frame (see ``Frame``), its number a C value
    PyObject* name  # a new reference
    _Val v  # v.o a new reference when tag is _T_OBJ
    int tag
    _Slot* cs  # the reader's cache entry of the name (NULL: none), which remembers its slot
    # a _T_FLOAT read exactly as m / 10**e (m below 2**27, e up to 9): its narrow slot's 4
    # bytes, known from the digits (no division to check them); else _NO_DEC
    unsigned int dec
    _Slot* memo  # set where an Update is applied: _memo_of(this field)
    bint rippled  # set there: it has ripple moves


cdef inline object _box(_Field* f):
    if f.tag == _T_FLOAT:
        return PyFloat_FromDouble(f.v.d)
    if f.tag == _T_INT:
        return PyLong_FromLongLong(f.v.i)
    return <object>f.v.o


cdef object _FLOAT = float
cdef object _INT = int
cdef object _FIELD_IMAGE = FieldImage


# A layout may also give its numbers 4 bytes instead of 8 (``Layout.widths``, fixed by the first
# image of the layout: each field whose value there fits): an integer of 32 bits, a decimal of
# up to 27 bits and 9 places (m / 10**e, which gives the double back exactly, as the reader's
# own exact division does), or None. An image whose values fit the narrow slots is built with
# them; a value that does not fit (at the Refresh or in a later Update) makes the image wide
# (every slot 8 bytes) from then on.
cdef double _P10[10]
_P10[:] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]
cdef enum:
    _DEC_PLACES = 10
    _NO_DEC = 15  # places no narrow decimal has: _Field.dec unknown
cdef double _DEC_MAX = 134217728.0  # 2**27


cdef inline bint _dec_at(double d, unsigned int e, unsigned int* out) noexcept:
    cdef double x = d * _P10[e]
    cdef long long m
    if not (-_DEC_MAX < x < _DEC_MAX):  # NaN too
        return False
    m = llrint(x)
    if <double>m / _P10[e] != d or (m == 0 and signbit(d)):
        return False
    out[0] = ((<unsigned int>(<int>m)) << 4) | e
    return True


cdef inline bint _dec(double d, unsigned int hint, unsigned int* out) noexcept:
    """``d`` as a narrow decimal (the places of ``hint`` tried first), if it fits."""
    cdef unsigned int e
    if _dec_at(d, hint, out):
        return True
    for e in range(_DEC_PLACES):
        if e != hint and _dec_at(d, e, out):
            return True
        if not (-_DEC_MAX < d * _P10[e] < _DEC_MAX):
            return False
    return False


cdef inline double _undec(unsigned int u) noexcept:
    return (<int>u >> 4) / _P10[u & 15]


# A date "YYYY-MM-DD" or a time "HH:MM:SS" (digits only; the codes of the feed's date and time
# fields) fits a narrow slot too: its digits as one decimal number, the top bits 10 for a date
# (0 for a time); so does an ASCII string of at most 4 characters, none NUL (exchange, currency
# and condition codes): its characters 7 bits each, the top bits 11; and so does a string of
# one or two other characters below U+8000 (the tick arrows ⇧ ⇩ of BID_TICK_1 and PRCTCK_1):
# 15 bits each, the top bits 01. Any other string in that slot makes the image wide, as a
# number that does not fit does.
cdef enum:
    _DT_DATE = 0x80000000
    _DT_CODE = 0xC0000000
    _DT_CHARS = 0x40000000


cdef inline bint _pack_chars(object s, unsigned int* out) noexcept:
    """``_pack_dt`` of a string that is not ASCII: one or two characters below U+8000."""
    cdef Py_ssize_t ln = PyUnicode_GET_LENGTH(s), j
    cdef Py_UCS4 ch
    if ln < 1 or ln > 2:
        return False
    out[0] = _DT_CHARS
    for j in range(ln):
        ch = PyUnicode_READ_CHAR(s, j)
        if ch == 0 or ch >= 0x8000:
            return False
        out[0] |= (<unsigned int>ch) << (15 * j)
    return True


cdef inline int _digits(const unsigned char* c, Py_ssize_t k) noexcept:
    """The number of the 2 or 4 ASCII digits at ``c`` (``k`` of them), -1 if any is not one."""
    cdef int x = 0
    cdef Py_ssize_t j
    for j in range(k):
        if not (48 <= c[j] <= 57):
            return -1
        x = x * 10 + (c[j] - 48)
    return x


cdef inline bint _pack_dt(object s, unsigned int* out) noexcept:
    cdef Py_ssize_t ln
    cdef const unsigned char* c
    cdef int a, b, d
    if not PyUnicode_IS_COMPACT_ASCII(s):
        return _pack_chars(s, out)
    ln = PyUnicode_GET_LENGTH(s)
    c = <const unsigned char*>PyUnicode_DATA(s)
    if ln == 10 and c[4] == 45 and c[7] == 45:  # YYYY-MM-DD
        a, b, d = _digits(c, 4), _digits(c + 5, 2), _digits(c + 8, 2)
        if a < 0 or b < 0 or d < 0:
            return False
        out[0] = _DT_DATE | <unsigned int>(a * 10000 + b * 100 + d)
        return True
    if ln == 8 and c[2] == 58 and c[5] == 58:  # HH:MM:SS
        a, b, d = _digits(c, 2), _digits(c + 3, 2), _digits(c + 6, 2)
        if a < 0 or b < 0 or d < 0:
            return False
        out[0] = <unsigned int>(a * 10000 + b * 100 + d)
        return True
    if ln <= 4:
        out[0] = _DT_CODE
        for a in range(ln):
            if c[a] == 0:
                return False
            out[0] |= (<unsigned int>c[a]) << (7 * a)
        return True
    return False


cdef inline void _put2(unsigned char* c, unsigned int x) noexcept:
    c[0] = 48 + x // 10
    c[1] = 48 + x % 10


cdef object _unpack_dt(unsigned int u):
    """The string ``_pack_dt`` packed into ``u``."""
    cdef object s
    cdef unsigned char* c
    cdef unsigned int x = u & ~(<unsigned int>_DT_DATE)
    cdef Py_ssize_t j, k = 0
    if (u & _DT_CODE) == _DT_CODE:
        while k < 4 and (u >> (7 * k)) & 127:
            k += 1
        s = PyUnicode_New(k, 127)
        c = <unsigned char*>PyUnicode_DATA(s)
        for j in range(k):
            c[j] = (u >> (7 * j)) & 127
        return s
    if (u & _DT_CODE) == _DT_CHARS:
        s = chr(u & 0x7FFF)
        if (u >> 15) & 0x7FFF:
            s += chr((u >> 15) & 0x7FFF)
        return s
    if u & _DT_DATE:
        s = PyUnicode_New(10, 127)
        c = <unsigned char*>PyUnicode_DATA(s)
        _put2(c, x // 1000000)
        _put2(c + 2, (x // 10000) % 100)
        c[4] = 45
        _put2(c + 5, (x // 100) % 100)
        c[7] = 45
        _put2(c + 8, x % 100)
        return s
    s = PyUnicode_New(8, 127)
    c = <unsigned char*>PyUnicode_DATA(s)
    _put2(c, x // 10000)
    c[2] = 58
    _put2(c + 3, (x // 100) % 100)
    c[5] = 58
    _put2(c + 6, x % 100)
    return s


cdef inline int _narrow_of(PyObject* v, _Field* f, unsigned int hint, unsigned int* out) noexcept:
    """The tag of a value (``v``, or ``f`` when ``v`` is NULL) in a narrow slot, with its
    4 bytes in ``out``; -1 when it does not fit one (a string: -1 unless a date or a time)."""
    cdef int overflow = 0
    cdef long long x
    if v is NULL:
        if f.tag == _T_FLOAT:
            return _T_FLOAT if _dec(f.v.d, hint, out) else -1
        if f.tag == _T_INT:
            x = f.v.i
        else:
            v = f.v.o
    if v is not NULL:
        if v == <PyObject*>None:
            out[0] = 0
            return _T_OBJ
        if type(<object>v) is _FLOAT:
            return _T_FLOAT if _dec(PyFloat_AS_DOUBLE(<object>v), hint, out) else -1
        if type(<object>v) is not _INT:
            if type(<object>v) is str and _pack_dt(<object>v, out):
                return _T_STR
            return -1
        x = PyLong_AsLongLongAndOverflow(<object>v, &overflow)
        if overflow:
            return -1
    if not (-2147483648 <= x <= 2147483647):
        return -1
    out[0] = <unsigned int>(<int>x)
    return _T_INT


cdef inline void _tag_at(unsigned char* tags, Py_ssize_t i, unsigned char tag) noexcept:
    """Set the 2-bit tag of slot ``i`` in the tag bytes ``tags``."""
    cdef int shift = (i & 3) << 1
    tags[i >> 2] = (tags[i >> 2] & ~(3 << shift)) | (tag << shift)


@cython.final
@cython.no_gc  # its values come from decoded JSON: they never refer back to an image
cdef class CompactImage:
    """A field image in a shared layout, its numbers stored natively; a read-only
    ``Mapping`` (see :mod:`ertcloud.protocol.image`)."""

    cdef dict index  # the layout's name -> slot
    cdef tuple names  # the layout's names, in slot order (as many as the image has slots)
    cdef _Val* vals  # n values, then their tags (2 bits each), then the image's own strings
    cdef dict extra  # fields the layout does not have (None while there are none)
    # None: every value in 8 bytes, slot i at vals[i]; else the layout's widths: the byte
    # offset of each slot, then the size of the values, then where the 4-byte slots start
    cdef bytes offs

    def __cinit__(self):
        self.names = ()
        self.vals = NULL

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.vals is not NULL:
            for i in range(self._n()):
                if self._tag(i) == _T_OBJ and not self._small(i):
                    Py_XDECREF(self._w(i).o)
            PyMem_RawFree(self.vals)

    cdef inline Py_ssize_t _n(self) noexcept:
        """The number of slots (no field of its own: an image is 16 bytes smaller so)."""
        return PyTuple_GET_SIZE(self.names)

    cdef inline const unsigned int* _o(self) noexcept:
        return <const unsigned int*>PyBytes_AS_STRING(self.offs)

    cdef inline bint _small(self, Py_ssize_t i) noexcept:
        """Whether slot ``i`` holds 4 bytes."""
        return self.offs is not None and self._o()[i] >= self._o()[self._n() + 1]

    cdef inline _Val* _w(self, Py_ssize_t i) noexcept:
        """Slot ``i`` of 8 bytes."""
        if self.offs is None:
            return self.vals + i
        return <_Val*>((<char*>self.vals) + self._o()[i])

    cdef inline unsigned int* _u(self, Py_ssize_t i) noexcept:
        """Slot ``i`` of 4 bytes."""
        return <unsigned int*>((<char*>self.vals) + self._o()[i])

    cdef inline unsigned char* _tags(self) noexcept:
        if self.offs is None:
            return <unsigned char*>(self.vals + self._n())
        return (<unsigned char*>self.vals) + self._o()[self._n()]

    cdef inline unsigned char _tag(self, Py_ssize_t i) noexcept:
        return (self._tags()[i >> 2] >> ((i & 3) << 1)) & 3

    cdef inline void _set_tag(self, Py_ssize_t i, unsigned char tag) noexcept:
        _tag_at(self._tags(), i, tag)

    cdef inline Py_ssize_t _slot(self, object name):
        cdef PyObject* p = PyDict_GetItem(self.index, name)
        return -1 if p is NULL else PyLong_AsSsize_t(<object>p)

    cdef inline object _load(self, Py_ssize_t i):
        cdef unsigned char tag = self._tag(i)
        cdef unsigned int u
        cdef _Val* v
        if self._small(i):
            u = self._u(i)[0]
            if tag == _T_FLOAT:
                return PyFloat_FromDouble(_undec(u))
            if tag == _T_INT:
                return PyLong_FromLongLong(<int>u)
            if tag == _T_STR:
                return _unpack_dt(u)
            return None
        v = self._w(i)
        if tag == _T_FLOAT:
            return PyFloat_FromDouble(v.d)
        if tag == _T_INT:
            return PyLong_FromLongLong(v.i)
        if tag == _T_STR:
            return PyUnicode_DecodeASCII(self._bytes() + v.s.at, v.s.n, NULL)
        return <object>v.o

    cdef inline const char* _bytes(self) noexcept:
        return (<const char*>self._tags()) + (self._n() + 3) // 4

    cdef inline unsigned int _hint(self, Py_ssize_t i) noexcept:
        """The places of the decimal in narrow slot ``i`` (2 if it holds none)."""
        return self._u(i)[0] & 15 if self._tag(i) == _T_FLOAT else 2

    cdef int _widen(self) except -1:
        """Every slot 8 bytes from now on (a value did not fit a narrow one)."""
        cdef Py_ssize_t i, n = self._n(), area = 0, tb = (n + 3) // 4
        cdef unsigned char tag
        cdef unsigned int u
        cdef _Val* v
        cdef _Val* new
        cdef object s
        for i in range(n):
            if self._tag(i) == _T_STR and not self._small(i):
                v = self._w(i)
                area = max(area, <Py_ssize_t>(v.s.at + v.s.n))
        new = <_Val*>PyMem_RawMalloc(n * sizeof(_Val) + tb + area)
        if new is NULL:
            raise MemoryError()
        memcpy(new + n, self._tags(), tb + area)
        for i in range(n):
            tag = self._tag(i)
            if self._small(i):
                u = self._u(i)[0]
                if tag == _T_FLOAT:
                    new[i].d = _undec(u)
                elif tag == _T_INT:
                    new[i].i = <int>u
                else:
                    if tag == _T_STR:  # a packed date or time: an object in a wide slot
                        s = _unpack_dt(u)
                        _tag_at(<unsigned char*>(new + n), i, _T_OBJ)
                    else:
                        s = None
                    Py_INCREF(s)
                    new[i].o = <PyObject*>s
            else:
                new[i] = self._w(i)[0]  # its reference moves over
        PyMem_RawFree(self.vals)
        self.vals = new
        self.offs = None
        return 0

    cdef inline int _store(self, Py_ssize_t i, object v) except -1:
        cdef unsigned int u
        cdef int tag
        if self._small(i):
            tag = _narrow_of(<PyObject*>v, NULL, self._hint(i), &u)
            if tag >= 0:
                self._u(i)[0] = u
                self._set_tag(i, tag)
                return 0
            self._widen()
        cdef _Val* w = self._w(i)
        cdef PyObject* old = w.o if self._tag(i) == _T_OBJ else NULL
        cdef int overflow = 0
        cdef long long x
        cdef object t = type(v)
        if t is _FLOAT:
            w.d = PyFloat_AS_DOUBLE(v)
            self._set_tag(i, _T_FLOAT)
            Py_XDECREF(old)
            return 0
        if t is _INT:
            x = PyLong_AsLongLongAndOverflow(v, &overflow)
            if not overflow:
                w.i = x
                self._set_tag(i, _T_INT)
                Py_XDECREF(old)
                return 0
        Py_INCREF(v)
        w.o = <PyObject*>v
        self._set_tag(i, _T_OBJ)
        Py_XDECREF(old)
        return 0

    cdef inline Py_ssize_t _len(self):
        return self._n() + (len(self.extra) if self.extra is not None else 0)

    cdef inline int _move(self, Py_ssize_t dst, Py_ssize_t src) except -1:
        """Slot ``dst`` takes the value of slot ``src``, as it is stored."""
        cdef unsigned char tag
        cdef const unsigned int* o
        cdef PyObject* old
        cdef _Val* w
        if self.offs is not None:
            o = self._o()
            if (o[src] >= o[self._n() + 1]) != (o[dst] >= o[self._n() + 1]):
                return self._store(dst, self._load(src))
            if o[src] >= o[self._n() + 1]:  # both narrow
                (<unsigned int*>((<char*>self.vals) + o[dst]))[0] = (<unsigned int*>((<char*>self.vals) + o[src]))[0]
                self._set_tag(dst, self._tag(src))
                return 0
        tag = self._tag(src)
        w = self._w(dst)
        old = w.o if self._tag(dst) == _T_OBJ else NULL
        if tag == _T_OBJ:
            Py_INCREF(<object>self._w(src).o)
        w[0] = self._w(src)[0]
        self._set_tag(dst, tag)
        Py_XDECREF(old)
        return 0

    cdef inline int _put(self, _Field* f) except -1:
        """Field ``f`` stored as ``_merge`` stores a value (a number as it was read); ``f.memo``
        set (``_apply_fields``)."""
        cdef _Slot* m = f.memo
        cdef PyObject* p
        cdef Py_ssize_t i
        cdef PyObject* old
        cdef unsigned int u
        cdef unsigned int* up
        cdef unsigned char* tb
        cdef const unsigned int* o
        cdef _Val* w
        if m is not NULL and m.index == <PyObject*>self.index:
            i = m.at
        else:
            p = PyDict_GetItemWithError(self.index, <object>f.name)
            i = -1 if p is NULL else PyLong_AsSsize_t(<object>p)
            if m is not NULL:  # remember it for this layout
                _hold(&m.index, self.index)
                m.at = i
        if i < 0:
            if self.extra is None:
                self.extra = {}
            PyDict_SetItem(self.extra, <object>f.name, _box(f))
            return 0
        if f.tag == _T_OBJ:
            return self._store(i, <object>f.v.o)
        if self.offs is not None:
            o = self._o()
            if o[i] >= o[self._n() + 1]:  # a narrow slot: its 4 bytes and its tag, at hand
                up = <unsigned int*>((<char*>self.vals) + o[i])
                tb = (<unsigned char*>self.vals) + o[self._n()]
                if f.tag == _T_FLOAT:
                    if f.dec != _NO_DEC:
                        up[0] = f.dec
                        _tag_at(tb, i, _T_FLOAT)
                        return 0
                    if _dec(f.v.d, up[0] & 15 if self._tag(i) == _T_FLOAT else 2, &u):
                        up[0] = u
                        _tag_at(tb, i, _T_FLOAT)
                        return 0
                elif -2147483648 <= f.v.i <= 2147483647:  # _T_INT
                    up[0] = <unsigned int>(<int>f.v.i)
                    _tag_at(tb, i, _T_INT)
                    return 0
                self._widen()
        w = self._w(i)
        old = w.o if self._tag(i) == _T_OBJ else NULL
        w[0] = f.v
        self._set_tag(i, f.tag)
        Py_XDECREF(old)
        return 0

    cdef int _set(self, object name, object v) except -1:
        cdef Py_ssize_t i = self._slot(name)
        if i >= 0:
            return self._store(i, v)
        if self.extra is None:
            self.extra = {}
        self.extra[name] = v
        return 0

    cdef int _merge(self, dict fields) except -1:
        """``dict.update`` of the fields."""
        cdef Py_ssize_t pos = 0
        cdef PyObject* k
        cdef PyObject* v
        cdef PyObject* p
        while PyDict_Next(fields, &pos, &k, &v):
            p = PyDict_GetItem(self.index, <object>k)
            if p is not NULL:
                self._store(PyLong_AsSsize_t(<object>p), <object>v)
            else:
                if self.extra is None:
                    self.extra = {}
                PyDict_SetItem(self.extra, <object>k, <object>v)
        return 0

    cdef dict _dict(self):
        cdef dict out = {}
        cdef Py_ssize_t i
        for i in range(self._n()):
            PyDict_SetItem(out, self.names[i], self._load(i))
        if self.extra:
            out.update(self.extra)
        return out

    def _apply(self, dict changed, rules, whole, bint ripple):
        """Ripple (when ``ripple``) and merge an Update's fields, as
        ``ItemStream.apply_update`` does for a MarketPrice dict image."""
        cdef object name
        if ripple:
            table = rules.moves
            for name in changed.keys() & rules.keys:
                _ripple(self, table, name, whole)
        self._merge(changed)

    def __getitem__(self, name):
        cdef Py_ssize_t i = self._slot(name)
        if i >= 0:
            return self._load(i)
        if self.extra is not None:
            return self.extra[name]
        raise KeyError(name)

    def get(self, name, default=None):
        cdef Py_ssize_t i = self._slot(name)
        if i >= 0:
            return self._load(i)
        if self.extra is not None:
            return self.extra.get(name, default)
        return default

    def __contains__(self, name):
        return name in self.index or (self.extra is not None and name in self.extra)

    def __iter__(self):
        if self.extra:
            return iter(self.names + tuple(self.extra))
        return iter(self.names)

    def __len__(self):
        return self._len()

    def keys(self):
        """The field names (a view: of the layout's while no field was added to it, else of
        a copy)."""
        if not self.extra:
            return self.index.keys()
        return dict.fromkeys(self.names + tuple(self.extra)).keys()

    def items(self):
        """The fields (a view of a copy: it does not follow later updates)."""
        return self._dict().items()

    def values(self):
        """The values (a view of a copy: it does not follow later updates)."""
        return self._dict().values()

    def copy(self):
        """The fields as a new dict."""
        return self._dict()

    def __eq__(self, other):
        if type(other) is CompactImage:
            return self._dict() == (<CompactImage>other)._dict()
        if isinstance(other, Mapping):
            return self._dict() == dict(other.items())
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        raise TypeError("unhashable type: 'CompactImage'")

    def __or__(self, other):
        return {**self._dict(), **other}

    def __ror__(self, other):
        return {**other, **self._dict()}

    def __repr__(self):
        return repr(self._dict())

    def __reduce__(self):
        return (image_from_dict, (self._dict(),))


Mapping.register(CompactImage)
cdef object _COMPACT = CompactImage


cdef enum:
    _SHARE_SLOTS = 4096  # a power of two
    _SHARE_LEN = 32


# Short strings of the images (codes, conditions, and the symbol an image repeats in several
# fields) as one copy each: a small table by hash, an entry replaced on collision, so it never
# grows (strings are immutable: sharing is safe).
cdef PyObject* _shared[_SHARE_SLOTS]


cdef inline object _share(object v):
    if type(v) is not str or len(<str>v) > _SHARE_LEN:
        return v
    cdef PyObject** slot = &_shared[<size_t>hash(v) & (_SHARE_SLOTS - 1)]
    if slot[0] is not NULL and (slot[0] == <PyObject*>v or <str>slot[0] == <str>v):
        return <object>slot[0]
    Py_INCREF(v)
    Py_XDECREF(slot[0])
    slot[0] = <PyObject*>v
    return v


# At a Refresh, an ASCII string that misses the table above is copied into the image's own
# bytes (and put in the table, so that the next image with the same value shares it): the
# strings only one item has (its name, ISIN, CUSIP, trade id) cost their length, not an object
# each. A string given twice in one image is copied once (the table's entry remembers the
# offset it got in the image being built).
cdef unsigned long long _build_gen = 0
cdef unsigned long long _shared_gen[_SHARE_SLOTS]
cdef unsigned int _shared_at[_SHARE_SLOTS]
cdef struct _Plan:  # what ``_image_from`` found of one value before it allocates the image
    Py_ssize_t at  # the offset of its string in the image's bytes, or -1
    unsigned int u  # its 4 bytes in a narrow slot
    int tag  # its tag there

cdef Py_ssize_t _plan_cap = 0
cdef _Plan* _plan = NULL
cdef enum:
    _OWN_MAX = 0xFFFF  # longer strings stay objects


cdef bytes _widths_of(Py_ssize_t n, PyObject** objs, _Field* fs):
    """A layout's slot offsets (see ``CompactImage.offs``) from its first image's values:
    4 bytes for each number that fits them, after the slots of 8; b"" if none fits."""
    cdef Py_ssize_t i, wide = 0, small = 0
    cdef unsigned int u
    cdef unsigned int* o
    cdef list is_small = [False] * n
    for i in range(n):
        if _narrow_of(objs[i] if objs is not NULL else NULL, fs + i if objs is NULL else NULL, 2, &u) > _T_OBJ:
            is_small[i] = True
            small += 1
        else:
            wide += 1
    if small == 0:
        return b""
    out = PyBytes_FromStringAndSize(NULL, (n + 2) * sizeof(unsigned int))
    o = <unsigned int*>PyBytes_AS_STRING(out)
    o[n + 1] = <unsigned int>(wide * 8)
    o[n] = <unsigned int>(wide * 8 + small * 4)
    wide = small = 0
    for i in range(n):
        if is_small[i]:
            o[i] = o[n + 1] + <unsigned int>(4 * small)
            small += 1
        else:
            o[i] = <unsigned int>(8 * wide)
            wide += 1
    return out


cdef CompactImage _image_from(object layout, PyObject** objs, _Field* fs):
    """A :class:`CompactImage` in ``layout`` of its values in slot order: ``objs[i]``, or
    ``fs[i]`` (numbers as read) when ``objs`` is NULL."""
    cdef CompactImage img = CompactImage.__new__(CompactImage)
    cdef tuple names = layout.names
    cdef Py_ssize_t i, n = len(names), area = 0, at, ln
    cdef size_t h
    cdef PyObject* v
    cdef PyObject** slot
    cdef _Plan* plan
    cdef char* own
    cdef bytes widths
    cdef const unsigned int* o = NULL
    cdef bint narrow
    cdef _Val* w
    global _build_gen, _plan, _plan_cap
    img.index = layout.index
    img.names = names
    if n == 0:
        return img
    if n > _plan_cap:
        _plan = <_Plan*>_grown(_plan, &_plan_cap, sizeof(_Plan), n)
    plan = _plan
    widths = layout.widths
    if widths is None:
        widths = _widths_of(n, objs, fs)
        layout.widths = widths
    narrow = len(widths) > 0
    if narrow:
        o = <const unsigned int*>PyBytes_AS_STRING(widths)
    _build_gen += 1
    for i in range(n):
        plan[i].at = -1
        if narrow and o[i] >= o[n + 1]:
            plan[i].tag = _narrow_of(objs[i] if objs is not NULL else NULL, fs + i if objs is NULL else NULL, 2, &plan[i].u)
            if plan[i].tag >= 0:
                continue
            narrow = False  # the image is wide
        if objs is not NULL:
            v = objs[i]
        elif fs[i].tag == _T_OBJ:
            v = fs[i].v.o
        else:
            continue
        if type(<object>v) is not str or not PyUnicode_IS_COMPACT_ASCII(<object>v):
            continue
        ln = PyUnicode_GET_LENGTH(<object>v)
        if ln > _SHARE_LEN:
            if ln <= _OWN_MAX:
                plan[i].at = area
                area += ln
            continue
        h = <size_t>hash(<object>v) & (_SHARE_SLOTS - 1)
        slot = &_shared[h]
        if slot[0] is not NULL and (slot[0] == v or <str>slot[0] == <str>v):
            if _shared_gen[h] == _build_gen:  # given earlier in this image: its bytes
                plan[i].at = _shared_at[h]
            continue  # else the table's copy
        Py_INCREF(<object>v)
        Py_XDECREF(slot[0])
        slot[0] = v
        _shared_gen[h] = _build_gen
        _shared_at[h] = <unsigned int>area
        plan[i].at = area
        area += ln
    if narrow:
        img.offs = widths
    img.vals = <_Val*>PyMem_RawMalloc((o[n] if narrow else n * sizeof(_Val)) + (n + 3) // 4 + area)
    if img.vals is NULL:
        raise MemoryError()
    memset(img._tags(), 0xAA, (n + 3) // 4)  # every tag _T_INT: nothing to release yet
    own = <char*>img._bytes()
    for i in range(n):
        at = plan[i].at
        if narrow and img._small(i):
            img._u(i)[0] = plan[i].u
            img._set_tag(i, plan[i].tag)
        elif at >= 0:
            v = objs[i] if objs is not NULL else fs[i].v.o
            ln = PyUnicode_GET_LENGTH(<object>v)
            memcpy(own + at, PyUnicode_DATA(<object>v), ln)
            w = img._w(i)
            w.s.at = <unsigned int>at
            w.s.n = <unsigned int>ln
            img._set_tag(i, _T_STR)
        elif objs is not NULL:
            img._store(i, _share(<object>objs[i]))
        elif fs[i].tag == _T_OBJ:
            img._store(i, _share(<object>fs[i].v.o))
        else:
            img._w(i)[0] = fs[i].v
            img._set_tag(i, fs[i].tag)
    return img


cdef Py_ssize_t _objs_cap = 0
cdef PyObject** _objs = NULL


cdef PyObject** _values_of(tuple names, dict fields, bint in_order) except NULL:
    """The values of ``fields`` in the order of ``names`` (borrowed: ``fields`` holds them):
    by name, or in the dict's order when ``in_order`` (its keys are ``names``)."""
    global _objs, _objs_cap
    cdef Py_ssize_t i = 0, pos = 0, n = len(names)
    cdef PyObject* k
    cdef PyObject* v
    if n + 1 > _objs_cap:
        _objs = <PyObject**>_grown(_objs, &_objs_cap, sizeof(PyObject*), n + 1)
    if in_order:
        while PyDict_Next(fields, &pos, &k, &v):
            _objs[i] = v
            i += 1
    else:
        for i in range(n):
            v = PyDict_GetItemWithError(fields, names[i])
            if v is NULL:
                raise KeyError(names[i])
            _objs[i] = v
    return _objs


def compact_image(layout, dict fields):
    """A :class:`CompactImage` of ``fields`` in ``layout`` (whose names are exactly the
    keys of ``fields``, in their order)."""
    return _image_from(layout, _values_of(layout.names, fields, False), NULL)


cdef inline int _ripple(CompactImage img, dict table, object name, object whole) except -1:
    """``ItemStream.apply_update``'s ripple of ``name``, on a compact image."""
    cdef tuple moves = <tuple>PyDict_GetItem(table, name)
    cdef tuple mv
    cdef Py_ssize_t d, s
    if name in whole:
        for mv in moves:
            d = img._slot(mv[0])
            s = img._slot(mv[1])
            if d >= 0 and s >= 0:
                img._move(d, s)
            else:
                img._set(mv[0], img[mv[1]])
    else:
        for mv in moves:
            d = img._slot(mv[0])
            if d >= 0:
                s = img._slot(mv[1])
                if s >= 0:
                    img._move(d, s)
                else:
                    img._store(d, img.get(mv[1]))
            elif img.extra is not None and mv[0] in img.extra:
                img._set(mv[0], img.get(mv[1]))
    return 0


cdef bint _image_ok(object s):
    """Whether an Update's fields go to the stream's image here: an open MarketPrice stream
    with a compact image and ripple rules."""
    cdef PyObject* img_p = _slot(s, S_FIELDS)
    cdef PyObject* domain = _slot(s, S_DOMAIN)
    cdef PyObject* rules = _slot(s, S_RIPPLES)
    return not (
        rules is NULL or type(<object>rules) is not _RULES
        or img_p is NULL or domain is NULL
        or _slot(s, S_PHASE) != <PyObject*>_OPEN
        or type(<object>img_p) is not _COMPACT
        or (domain != <PyObject*>_MARKET_PRICE and <object>domain != _MARKET_PRICE)
    )


cdef int _apply_update(object s, object msg) except -1:
    """``ItemStream.apply_update`` for an exact ItemStream and Update."""
    cdef PyObject* f = _slot(msg, M_FIELDS)
    cdef PyObject* nc = _slot(msg, M_NO_CACHE)
    cdef PyObject* nr = _slot(msg, M_NO_RIPPLE)
    if (
        f is NULL or nc is NULL or nr is NULL
        or type(<object>f) is not dict
        or not <dict>f
        or (<object>nc is not None and <object>nc)
        or (<object>nr is not None and <object>nr)
        or not _image_ok(s)
    ):
        _apply_other(s, msg)  # Map updates: _speedups_map.pxi
        return 0
    cdef CompactImage img = <CompactImage>_slot(s, S_FIELDS)
    cdef PyObject* rules = _slot(s, S_RIPPLES)
    cdef dict fields = <dict>f
    # the ripple rules of the stream's table (the dictionary in use)
    cdef dict table = <dict>_slot(<object>rules, R_MOVES)
    cdef dict group = <dict>_slot(<object>rules, R_GROUPS)
    cdef PyObject* whole_p = _slot(s, S_WHOLE)
    cdef object whole = <object>whole_p if whole_p is not NULL else s.whole_chains
    cdef object name
    cdef PyObject* g
    cdef int hits = 0, overlapping = 0
    cdef unsigned long long seen = 0, bit
    for name in fields:
        if PyDict_GetItem(table, name) is not NULL:
            hits += 1
            g = PyDict_GetItem(group, name)
            if g is not NULL:
                bit = <unsigned long long>(<object>g)
                if seen & bit:
                    overlapping = 1
                seen |= bit
    if overlapping:  # keep the pure path's order (a set's) for chains that overlap
        for name in fields.keys() & <object>_slot(<object>rules, R_KEYS):
            _ripple(img, table, name, whole)
    elif hits:
        for name in fields:
            if PyDict_GetItem(table, name) is not NULL:
                _ripple(img, table, name, whole)
    img._merge(fields)
    return _finish(s, img, _slot(msg, M_SEQ))


cdef int _finish(object s, CompactImage img, PyObject* seq) except -1:
    """The end of an Update merged into a compact image: the field limit, the sequence
    number (``seq``: the message's, NULL or None for none), the count."""
    cdef PyObject* t = _slot(s, S_SETTINGS)
    cdef object limit = (
        <object>_slot(<object>t, T_MAX_FIELDS)
        if t is not NULL and type(<object>t) is _SETTINGS else s.max_fields
    )
    cdef int overflow = 0
    cdef long long lim
    cdef bint over
    if type(limit) is _INT:  # compared in C (no int object for the length)
        lim = PyLong_AsLongLongAndOverflow(limit, &overflow)
        over = overflow < 0 or (overflow == 0 and img._len() > lim)
    else:
        over = img._len() > limit
    if over:
        raise _too_many(f"fields in the image of {s.name}", img._len(), limit)
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
    pure twin ``ertcloud.protocol._dispatch_pure.dispatch``). ``msgs`` may be a ``Frame``
    (``read_frame``): its Updates are applied from what was read, and consumed."""
    if type(msgs) is Frame:
        return _dispatch_frame(<Frame>msgs, lookup, on_other)
    return _dispatch(msgs, lookup, on_other, None, None)


cdef list _dispatch(object msgs, object lookup, object on_other, Frame fr, object login_id):
    """With ``fr``: ``msgs`` are those ``_messages`` read into it, each Refresh's Fields
    left there (``_speedups_refresh.pxi``): one the compiled apply takes is applied from the
    frame, with an event that reads its message later; any other gets its Fields first."""
    cdef list events = []
    cdef object msg, s, deliver, ev
    cdef PyObject* d
    cdef _Rec* r
    cdef Py_ssize_t k = 0
    for msg in msgs:
        if fr is not None and type(msg) is _REFRESH:
            r = &fr.recs[k]
            k += 1
            if _refresh_event(msg, fr, r, lookup, login_id, events):
                continue
            if r.has_fields:
                _set_fields(msg, fr, r)
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
            ev = _event_type()(s, msg)
            if deliver is not None and not events:
                deliver(ev)
            else:
                events.append(ev)
        else:
            on_other(msg, events)
    return events


# -- the tr_json2 fast path -------------------------------------------------------------------
#
# ``decode_updates`` reads a frame made only of Update messages straight from its bytes (one
# pass, no intermediate JSON tree) into the same ``Update`` structs msgspec would build, for the
# loop above. Whatever it does not know gives up on the whole frame (``None``), and the caller
# decodes the frame the general way: an escape in a string, a key it
# does not handle, a nested value in Fields, a number it would not parse exactly as msgspec does,
# bytes that are not UTF-8, a duplicate key, another message Type, malformed JSON.

from libc.math cimport isfinite, llrint, signbit
from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.string cimport memcmp, memcpy
from .messages import Key as _KeyType


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow) except? -1.0


cdef enum:
    _CACHE_SLOTS = 4096  # a power of two
    _CACHE_LEN = 32  # strings up to this many bytes are shared through the cache
    _FALLBACK = 1
    _MAX_PAIRS = 8  # ripple moves per name kept as slot pairs


cdef struct _Slot:  # 64 bytes: one cache line (the table is aligned to 64 by the compiler)
    PyObject* s  # the string (a reference of the cache; NULL: none)
    uint64_t a, b  # the first and the last 8 bytes (all of them up to 16)
    # what a field of this name is in the layout and the ripple rules seen last (new
    # references to them; NULL: none yet), beside the string so that the Update path reads
    # one cache line per field name: CompactImage._put, _ripple_info
    PyObject* index
    PyObject* rules
    unsigned long long group  # its ripple group's bit, or 0
    int at  # its slot in that layout, or -1
    unsigned short n  # the string's length in bytes
    # the entries of the field name that came after this one last time (fields come in much
    # the same order in every Update) and of this field's last string value: _fields_into
    # and _field_value try them first (_is_at)
    unsigned short next, value
    unsigned char rippled  # has ripple moves


cdef struct _Memo:
    # the rest of what the name of the _Slot of the same index remembers, read only for a
    # field with ripple moves: those moves in the slot's rules as slot pairs of the layout
    # ``pindex`` (a new reference, NULL: none taken yet): _ripple_at; npairs -1 when not all
    # of them are in that layout
    PyObject* pindex
    int npairs
    unsigned short pairs[2 * _MAX_PAIRS]


# Field names and short repeated values (codes, ticks, times) decoded once: a small table
# keyed by the bytes, an entry replaced on collision (strings are immutable, sharing is safe).
# The bytes of a string longer than 16 (which ``a`` and ``b`` do not cover) are in ``_long``.
cdef _Slot _cache[_CACHE_SLOTS]
cdef _Memo _memo[_CACHE_SLOTS]
cdef char _long[_CACHE_SLOTS][_CACHE_LEN]
cdef unsigned short _first_name = 0  # the entry of the first field name of the last Fields read
# the entry of a string: the top bits of a product that each bit of its length and of its first
# and last 8 bytes reach (the low bits of a product only see the low bits of its factor: with
# them, names that differ in their last byte, as TRDPRC_1 to TRDPRC_5 do, shared one entry)
cdef uint64_t _MIX_A = 0x9E3779B97F4A7C15ULL
cdef uint64_t _MIX_H = 0xC2B2AE3D27D4EB4FULL
cdef enum:
    _CACHE_BITS = 12  # _CACHE_SLOTS is 1 << _CACHE_BITS


cdef struct _Cur:
    const unsigned char* p
    const unsigned char* end


cdef inline void _ws(_Cur* c) noexcept nogil:
    # one test in the common case (no whitespace: every JSON whitespace byte is <= 32)
    while c.p < c.end and c.p[0] <= 32 and (c.p[0] == 32 or c.p[0] == 10 or c.p[0] == 13 or c.p[0] == 9):
        c.p += 1


cdef inline bint _eat(_Cur* c, unsigned char ch) noexcept nogil:
    if c.p < c.end and c.p[0] == ch:  # the common case: no whitespace before it
        c.p += 1
        return True
    _ws(c)
    if c.p < c.end and c.p[0] == ch:
        c.p += 1
        return True
    return False


cdef extern from *:
    """
    #define ERTCLOUD_ONES 0x0101010101010101ULL
    #define ERTCLOUD_HIGHS 0x8080808080808080ULL
    """
    const uint64_t _ONES "ERTCLOUD_ONES"
    const uint64_t _HIGHS "ERTCLOUD_HIGHS"
    int _ctz64 "__builtin_ctzll" (unsigned long long x) nogil


cdef inline int _raw_string(_Cur* c, const unsigned char** start, Py_ssize_t* n, bint* ascii) noexcept nogil:
    """At an opening quote: the bytes up to the closing one. _FALLBACK on an escape, a
    control character or the end of the frame."""
    cdef const unsigned char* p = c.p + 1
    cdef unsigned char ch, high = 0
    cdef uint64_t x, q, b, m, hw = 0
    cdef int k
    start[0] = p
    # 8 bytes at a time: the first quote, backslash or control byte of a word is its lowest
    # flagged byte (a flag above it may come from a borrow, never one below)
    while p + 8 <= c.end:
        memcpy(&x, p, 8)
        q = x ^ (_ONES * 34)
        b = x ^ (_ONES * 92)
        m = (((q - _ONES) & ~q) | ((b - _ONES) & ~b) | ((x - _ONES * 32) & ~x)) & _HIGHS
        if m == 0:
            hw |= x
            p += 8
            continue
        k = _ctz64(m) >> 3
        if p[k] != 34:
            return _FALLBACK
        if k:
            hw |= x & ((<uint64_t>1 << (8 * k)) - 1)
        n[0] = p + k - start[0]
        ascii[0] = (hw & _HIGHS) == 0
        c.p = p + k + 1
        return 0
    high = 0x80 if hw & _HIGHS else 0
    while p < c.end:
        ch = p[0]
        if ch == 34:  # '"'
            n[0] = p - start[0]
            ascii[0] = high < 0x80
            c.p = p + 1
            return 0
        if ch == 92 or ch < 0x20:  # '\\' or a control character
            return _FALLBACK
        high |= ch
        p += 1
    return _FALLBACK


cdef object _make_str(const unsigned char* p, Py_ssize_t n, bint ascii):
    """A str of the UTF-8 bytes, or None when they are not valid UTF-8."""
    cdef object s
    if ascii:
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
        return s
    try:
        return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
    except UnicodeDecodeError:
        return None


cdef void _forget(_Slot* m) noexcept:
    """Drop what the slot's name remembered (the slot now holds another string)."""
    cdef _Memo* r = &_memo[m - _cache]
    Py_XDECREF(m.index)
    Py_XDECREF(m.rules)
    Py_XDECREF(r.pindex)
    m.index = m.rules = r.pindex = NULL


cdef inline bint _is_at(_Cur* c, _Slot* slot) noexcept nogil:
    """Whether the JSON string at the cursor is the string of cache entry ``slot`` (then the
    cursor moves past it): its bytes (which hold no quote, backslash or control character)
    between the quotes, compared without the scan for the closing quote or the hash, and
    read from an entry whose address does not depend on the bytes at the cursor."""
    cdef const unsigned char* p = c.p + 1
    cdef Py_ssize_t n = slot.n
    cdef uint64_t a, b
    if slot.s is NULL or c.p >= c.end or c.p[0] != 34 or c.end - p < (n + 1 if n >= 8 else 8):
        return False
    if p[n] != 34:
        return False
    memcpy(&a, p, 8)
    if n >= 8:
        memcpy(&b, p + n - 8, 8)
        if a != slot.a or b != slot.b or (n > 16 and memcmp(_long[slot - _cache], p, n) != 0):
            return False
    elif (a & ((<uint64_t>1 << (8 * n)) - 1)) != slot.a:
        return False
    c.p = p + n + 1
    return True


cdef inline void _words(
    const unsigned char* p, Py_ssize_t n, const unsigned char* end, uint64_t* a, uint64_t* b
) noexcept nogil:
    """The first and the last 8 of the ``n`` bytes at ``p`` in ``a`` and ``b``; under 8
    bytes, ``a`` holds them all (the rest 0) and ``b`` is 0. Bytes up to ``end`` may be
    read."""
    if n >= 8:
        memcpy(a, p, 8)
        memcpy(b, p + n - 8, 8)
    elif p + 8 <= end:  # one load, the bytes after the string masked off
        memcpy(a, p, 8)
        a[0] &= (<uint64_t>1 << (8 * n)) - 1
        b[0] = 0
    else:
        a[0] = b[0] = 0
        memcpy(a, p, n)


cdef inline Py_ssize_t _mix(uint64_t a, uint64_t b, Py_ssize_t n, int bits) noexcept nogil:
    """The entry of a table of ``1 << bits`` for a string of ``n`` bytes whose ``_words``
    are ``a`` and ``b``."""
    return <Py_ssize_t>((((a * _MIX_A) ^ (b + <uint64_t>n)) * _MIX_H) >> (64 - bits))


def cache_entry(str s):
    """The reader's string cache entry a string would take (None: longer than it keeps), for
    the tests that count names sharing one."""
    cdef Py_ssize_t n
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_AsUTF8AndSize(s, &n)
    cdef uint64_t a, b
    if n > _CACHE_LEN:
        return None
    _words(p, n, p + n, &a, &b)
    return _mix(a, b, n, _CACHE_BITS)


cdef object _string(_Cur* c):
    """A JSON string at the cursor as a str (shared when short), or None to fall back."""
    cdef _Slot* slot
    return _string_in(c, &slot, True)


cdef inline bint _is_id(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Whether the ``n`` bytes at ``p`` look like an identifier: 5 digits or more."""
    cdef Py_ssize_t j
    if n < 5:
        return False
    for j in range(n):
        if not (48 <= p[j] <= 57):
            return False
    return True


cdef object _string_in(_Cur* c, _Slot** where, bint value):
    """``_string``, and the cache entry that holds it in ``where`` (NULL: none). A ``value``
    that looks like an identifier (a trade or an order id: ``_is_id``) is not shared: each
    one comes once, and through the cache it would only cost a cold entry (or evict a name's)."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef uint64_t a, b
    cdef _Slot* slot
    cdef object s
    where[0] = NULL
    if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii):
        return None
    if n > _CACHE_LEN or (value and _is_id(p, n)):
        return _make_str(p, n, ascii)
    # the length and the first and last 8 bytes pick the slot (memcmp decides a hit)
    _words(p, n, c.end, &a, &b)
    slot = &_cache[_mix(a, b, n, _CACHE_BITS)]
    if (
        slot.s is not NULL and slot.n == n and slot.a == a and slot.b == b
        and (n <= 16 or memcmp(_long[slot - _cache], p, n) == 0)
    ):
        where[0] = slot
        return <object>slot.s
    s = _make_str(p, n, ascii)
    if s is not None:
        Py_XDECREF(slot.s)
        Py_INCREF(s)
        slot.s = <PyObject*>s
        slot.n = <unsigned short>n
        slot.a = a
        slot.b = b
        if n > 16:
            memcpy(_long[slot - _cache], p, n)
        _forget(slot)  # it was another name's
        where[0] = slot
    return s


cdef double _POW10[23]
_POW10[0] = 1.0
for _i in range(1, 23):
    _POW10[_i] = _POW10[_i - 1] * 10.0  # exact up to 1e22


cdef int _number_c(_Cur* c, _Val* out, unsigned int* dec) except -2:
    """A JSON number at the cursor into ``out``: _T_INT (an integer that fits 64 bits, as the
    19-digit nanosecond stamps do) or _T_FLOAT (finite), else -1. A float's narrow decimal
    (``_dec``'s 4 bytes) in ``dec`` when its digits give it, else _NO_DEC (``dec`` may be NULL)."""
    cdef const unsigned char* start = c.p
    cdef const unsigned char* p = c.p
    cdef const unsigned char* end = c.end
    cdef bint neg = False, real = False, exact = True
    cdef int digits = 0, scale = 0
    cdef uint64_t v = 0  # 19 digits fit; the sign is applied at the end
    cdef char buf[64]
    cdef double d
    if p < end and p[0] == 45:  # '-'
        neg = True
        p += 1
    if p >= end:
        return -1
    if p[0] == 48:  # '0': no other digit may follow
        p += 1
        digits = 1
    elif 49 <= p[0] <= 57:
        while p < end and 48 <= p[0] <= 57:
            if digits < 19:
                v = v * 10 + (p[0] - 48)
            digits += 1
            p += 1
    else:
        return -1
    if p < end and p[0] == 46:  # '.'
        real = True
        p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return -1
        while p < end and 48 <= p[0] <= 57:
            if digits < 19:
                v = v * 10 + (p[0] - 48)
                scale += 1
            digits += 1
            p += 1
    if p < end and (p[0] == 101 or p[0] == 69):  # 'e' 'E'
        real = True
        exact = False
        p += 1
        if p < end and (p[0] == 43 or p[0] == 45):
            p += 1
        if p >= end or not (48 <= p[0] <= 57):
            return -1
        while p < end and 48 <= p[0] <= 57:
            p += 1
    if p < end and (48 <= p[0] <= 57):  # "01"
        return -1
    c.p = p
    if not real:
        if digits > 19 or v > <uint64_t>INT64_MAX:  # INT64_MIN too: the general path
            return -1
        out.i = -<int64_t>v if neg else <int64_t>v
        return _T_INT
    if exact and digits <= 15 and scale <= 22:
        # Clinger's fast path: an integer below 2**53 divided by an exact power of ten is
        # one correctly rounded division (what a full strtod gives)
        d = <double>v / _POW10[scale]
        out.d = -d if neg else d
        if dec is not NULL:
            # m / 10**e is this very division: the narrow slot gives d back (as _dec_at checks)
            if scale < _DEC_PLACES and v < 134217728 and (v or not neg):
                dec[0] = ((<unsigned int>(-<int>v if neg else <int>v)) << 4) | <unsigned int>scale
            else:
                dec[0] = _NO_DEC
        return _T_FLOAT
    if dec is not NULL:
        dec[0] = _NO_DEC
    if p - start >= 63:
        return -1
    memcpy(buf, start, p - start)
    buf[p - start] = 0
    d = PyOS_string_to_double(buf, NULL, NULL)
    if not isfinite(d):
        return -1
    out.d = d
    return _T_FLOAT


cdef object _number(_Cur* c):
    """A JSON number at the cursor: an int that fits 64 bits or a finite float, else None."""
    cdef _Val v
    cdef int t = _number_c(c, &v, NULL)
    if t == _T_INT:
        return PyLong_FromLongLong(v.i)
    if t == _T_FLOAT:
        return PyFloat_FromDouble(v.d)
    return None


cdef object _NONE_SEEN = object()  # a JSON null read where None means "fall back"


cdef object _scalar(_Cur* c):
    """A field value: string, number, true, false or null (as ``_NONE_SEEN``); None for
    anything else (objects, arrays, bad tokens)."""
    _ws(c)
    if c.p >= c.end:
        return None
    cdef unsigned char ch = c.p[0]
    if ch == 34:
        return _string(c)
    if ch == 45 or 48 <= ch <= 57:
        return _number(c)
    if ch == 110 and c.end - c.p >= 4 and memcmp(c.p, b"null", 4) == 0:
        c.p += 4
        return _NONE_SEEN
    if ch == 116 and c.end - c.p >= 4 and memcmp(c.p, b"true", 4) == 0:
        c.p += 4
        return True
    if ch == 102 and c.end - c.p >= 5 and memcmp(c.p, b"false", 5) == 0:
        c.p += 5
        return False
    return None


cdef inline bint _is(const unsigned char* p, Py_ssize_t n, const char* name, Py_ssize_t m) noexcept nogil:
    return n == m and memcmp(p, name, m) == 0


cdef Py_ssize_t K_NAME = _offset(_KeyType, "name")
cdef Py_ssize_t K_SERVICE = _offset(_KeyType, "service")
cdef object _KEY_TEMPLATE = _KeyType()
cdef object _UPDATE_TEMPLATE = Update(id=0)
cdef object _copy = type(_UPDATE_TEMPLATE).__copy__


cdef Py_ssize_t M_DOMAIN = _offset(Update, "domain")
cdef Py_ssize_t M_KEY = _offset(Update, "key")
cdef Py_ssize_t M_UPDATE_TYPE = _offset(Update, "update_type")
cdef Py_ssize_t M_CONFLATE = _offset(Update, "do_not_conflate")
cdef Py_ssize_t M_DISCARDABLE = _offset(Update, "discardable")
cdef Py_ssize_t M_PERM = _offset(Update, "perm_data")
cdef Py_ssize_t M_SIM_TS = _offset(Update, "sim_ts")

cdef enum:
    _K_ID = 0  # an integer, not null
    _K_INT = 1  # an integer or null
    _K_STR = 2  # a string or null
    _K_BOOL = 3  # true, false or null
    _N_SCALARS = 10
    _V_NO_RIPPLE = 6  # their indices in _SCALARS
    _V_NO_CACHE = 7


cdef struct _ScalarKey:
    const char* name
    Py_ssize_t n
    int kind
    Py_ssize_t slot


# The top-level keys of an Update with a scalar value: the name, what it may hold, its slot.
cdef _ScalarKey _SCALARS[_N_SCALARS]


cdef void _table_key(_ScalarKey* table, int i, const char* name, int kind, Py_ssize_t slot) noexcept:
    table[i].name = name
    table[i].n = len(<bytes>name)
    table[i].kind = kind
    table[i].slot = slot


cdef void _scalar_key(int i, const char* name, int kind, Py_ssize_t slot) noexcept:
    _table_key(_SCALARS, i, name, kind, slot)


_scalar_key(0, b"ID", _K_ID, M_ID)
_scalar_key(1, b"SeqNumber", _K_INT, M_SEQ)
_scalar_key(2, b"UpdateType", _K_STR, M_UPDATE_TYPE)
_scalar_key(3, b"Domain", _K_STR, M_DOMAIN)
_scalar_key(4, b"SimTs", _K_INT, M_SIM_TS)
_scalar_key(5, b"PermData", _K_STR, M_PERM)
_scalar_key(6, b"DoNotRipple", _K_BOOL, M_NO_RIPPLE)
_scalar_key(7, b"DoNotCache", _K_BOOL, M_NO_CACHE)
_scalar_key(8, b"DoNotConflate", _K_BOOL, M_CONFLATE)
_scalar_key(9, b"Discardable", _K_BOOL, M_DISCARDABLE)


cdef inline bint _kind_ok(object v, int kind):
    if kind == _K_ID:
        return type(v) is int
    if v is _NONE_SEEN:
        return True
    if kind == _K_INT:
        return type(v) is int
    if kind == _K_STR:
        return type(v) is str
    return type(v) is bool


cdef struct _Ent:
    # one entry of a Map read from the frame (see ``_read_map``)
    PyObject* key  # a new reference (NULL: absent or null)
    Py_ssize_t f0, nf  # its Fields: the frame's fields f0 .. f0 + nf - 1
    int action  # _A_NONE, _A_DELETE, _A_ADD or _A_UPDATE
    bint has_fields


cdef struct _Rec:
    # one Update of a frame, read (see ``Frame``)
    Py_ssize_t start, end  # its object's bytes in the frame
    PyObject* vals[_N_SCALARS]  # the values of the _SCALARS keys (new references; NULL: absent or null)
    PyObject* key_name  # the Key's (new references; NULL: absent or null)
    PyObject* key_service
    PyObject* map  # the Map, as a dict (a new reference; NULL: absent or null)
    bint raw_map  # the Map read into the frame instead (see ``_read_map``), its value at map_at
    bint has_summary  # its Summary's Fields: the frame's fields sf0 .. sf0 + snf - 1
    Py_ssize_t map_at, sf0, snf, e0, ne  # its entries: the frame's entries e0 .. e0 + ne - 1
    Py_ssize_t f0, nf  # its Fields: the frame's fields f0 .. f0 + nf - 1
    bint has_key, has_fields  # Key, Fields present and not null


cdef inline void _hold(PyObject** slot, object v) noexcept:
    cdef PyObject* old = slot[0]
    Py_INCREF(v)
    slot[0] = <PyObject*>v
    Py_XDECREF(old)


cdef void _rec_release(_Rec* r) noexcept:
    cdef int i
    for i in range(_N_SCALARS):
        Py_XDECREF(r.vals[i])
        r.vals[i] = NULL
    Py_XDECREF(r.key_name)
    Py_XDECREF(r.key_service)
    Py_XDECREF(r.map)
    r.key_name = r.key_service = r.map = NULL


cdef object _key_of(_Rec* r):
    cdef object key = _copy(_KEY_TEMPLATE)
    if r.key_name is not NULL:
        _set_slot(key, K_NAME, <object>r.key_name)
    if r.key_service is not NULL:
        _set_slot(key, K_SERVICE, <object>r.key_service)
    return key


cdef void* _grown(void* p, Py_ssize_t* cap, size_t size, Py_ssize_t first) except NULL:
    """``p``, an array of ``cap[0]`` items of ``size`` bytes, reallocated for about twice
    as many (``first`` more)."""
    cdef Py_ssize_t n = cap[0] * 2 + first
    cdef void* q = PyMem_Realloc(p, n * size)
    if q is NULL:
        raise MemoryError()
    cap[0] = n
    return q


@cython.final
@cython.no_gc  # it holds decoded JSON values and the payload: nothing that refers back
cdef class Frame:
    """The Updates of a frame made only of Updates, read from its bytes (``read_frame``) but
    not built: the compiled loop applies them with no ``Update`` struct, field dict or boxed
    number per message, and the events it gives read their message from the bytes when it
    is accessed. A sequence of the ``Update`` structs msgspec would give (built on access)
    until ``dispatch`` has consumed it."""

    cdef object data  # the payload (bytes or str) the offsets refer to
    cdef const unsigned char* base
    cdef _Rec* recs
    cdef Py_ssize_t n, rcap
    cdef _Field* fs
    cdef Py_ssize_t nfs, fcap
    cdef _Ent* ents  # the entries of Maps read into the frame
    cdef Py_ssize_t nents, ecap
    cdef bint raw_maps  # read Maps into the frame rather than into dicts

    def __dealloc__(self):
        self._release()
        PyMem_Free(self.recs)
        PyMem_Free(self.fs)
        PyMem_Free(self.ents)

    cdef void _release(self) noexcept:
        """Drop what was read (the buffers stay, for the next frame)."""
        cdef Py_ssize_t k
        self._rewind(0, 0)
        for k in range(self.nents):
            Py_XDECREF(self.ents[k].key)
        self.nents = 0
        self.data = None

    cdef void _rewind(self, Py_ssize_t n, Py_ssize_t nfs) noexcept:
        """Drop the records read from the ``n``-th on and the fields from the ``nfs``-th."""
        while self.n > n:
            self.n -= 1
            _rec_release(&self.recs[self.n])
        while self.nfs > nfs:
            self.nfs -= 1
            Py_XDECREF(self.fs[self.nfs].name)
            if self.fs[self.nfs].tag == _T_OBJ:
                Py_XDECREF(self.fs[self.nfs].v.o)

    cdef _Rec* _push_rec(self) except NULL:
        if self.n == self.rcap:
            self.recs = <_Rec*>_grown(self.recs, &self.rcap, sizeof(_Rec), 4)
        cdef _Rec* r = &self.recs[self.n]
        memset(r, 0, sizeof(_Rec))
        self.n += 1
        return r

    cdef inline _Field* _push_field(self) except NULL:
        if self.nfs == self.fcap:
            self.fs = <_Field*>_grown(self.fs, &self.fcap, sizeof(_Field), 32)
        cdef _Field* f = &self.fs[self.nfs]
        f.name = NULL
        f.tag = _T_INT
        f.cs = NULL
        f.dec = _NO_DEC
        self.nfs += 1
        return f

    cdef _Ent* _push_ent(self) except NULL:
        if self.nents == self.ecap:
            self.ents = <_Ent*>_grown(self.ents, &self.ecap, sizeof(_Ent), 16)
        cdef _Ent* e = &self.ents[self.nents]
        memset(e, 0, sizeof(_Ent))
        self.nents += 1
        return e

    cdef object _build(self, Py_ssize_t k):
        """Update ``k`` as msgspec gives it."""
        cdef _Rec* r = &self.recs[k]
        cdef object msg = _copy(_UPDATE_TEMPLATE)
        cdef dict fields
        cdef Py_ssize_t i
        for i in range(_N_SCALARS):
            if r.vals[i] is not NULL:
                _set_slot(msg, _SCALARS[i].slot, <object>r.vals[i])
        if r.has_key:
            _set_slot(msg, M_KEY, _key_of(r))
        if r.has_fields:
            fields = {}
            for i in range(r.f0, r.f0 + r.nf):
                PyDict_SetItem(fields, <object>self.fs[i].name, _box(&self.fs[i]))
            _set_slot(msg, M_FIELDS, fields)
        if r.map is not NULL:
            _set_slot(msg, M_MAP, <object>r.map)
        elif r.raw_map:
            _set_slot(msg, M_MAP, _map_again(self, r))
        return msg

    def __len__(self):
        return self.n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._build(i) for i in range(*k.indices(self.n))]
        cdef Py_ssize_t i = k
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(k)
        return self._build(i)


Sequence.register(Frame)


cdef int _read_key(_Cur* c, _Rec* r) except -1:
    """A Key object holding only Name (a string) and Service (a string or an integer), into
    ``r``; _FALLBACK for anything else."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    cdef bint ascii
    cdef int seen = 0, bit
    cdef object v
    if not _eat(c, 123):
        return _FALLBACK
    r.has_key = True
    if _eat(c, 125):
        return 0
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not _eat(c, 58):
            return _FALLBACK
        v = _scalar(c)
        if v is None:
            return _FALLBACK
        if _is(p, n, "Name", 4):
            bit = 1
            if v is not _NONE_SEEN and type(v) is not str:
                return _FALLBACK
        elif _is(p, n, "Service", 7):
            bit = 2
            if v is not _NONE_SEEN and type(v) is not str and type(v) is not int:
                return _FALLBACK
        else:
            return _FALLBACK
        if seen & bit:
            return _FALLBACK
        seen |= bit
        if v is not _NONE_SEEN:
            _hold(&r.key_name if bit == 1 else &r.key_service, v)
        if _eat(c, 44):
            continue
        if _eat(c, 125):
            return 0
        return _FALLBACK


cdef object _key(_Cur* c):
    """A Key object holding only Name (a string) and Service (a string or an integer)."""
    cdef _Rec r
    memset(&r, 0, sizeof(_Rec))
    try:
        return _key_of(&r) if _read_key(c, &r) == 0 else None
    finally:
        _rec_release(&r)


cdef int _field_value(_Cur* c, _Field* f, _Slot* name) except -1:
    """What ``_scalar`` reads, into ``f`` (a number as a C value); _FALLBACK for anything else.
    ``name``: the cache entry of the field's name (NULL: none)."""
    cdef int t
    cdef object v
    cdef _Slot* vs
    cdef unsigned short at
    _ws(c)
    if c.p < c.end and (c.p[0] == 45 or 48 <= c.p[0] <= 57):
        t = _number_c(c, &f.v, &f.dec)
        if t < 0:
            return _FALLBACK
        f.tag = t
        return 0
    if name is not NULL and c.p < c.end and c.p[0] == 34:
        vs = &_cache[name.value]
        if _is_at(c, vs):  # the string this field had last time
            v = <object>vs.s
        else:
            v = _string_in(c, &vs, True)
            if vs is not NULL:
                at = <unsigned short>(vs - _cache)
                if name.value != at:
                    name.value = at
    else:
        v = _scalar(c)
    if v is None:
        return _FALLBACK
    if v is _NONE_SEEN:
        v = None
    Py_INCREF(v)
    f.v.o = <PyObject*>v
    f.tag = _T_OBJ
    return 0


cdef int _read_fields(_Cur* c, Frame fr, _Rec* r) except -1:
    """A Fields object of scalars, into the frame's fields (``r``'s); _FALLBACK for anything
    else."""
    r.has_fields = True
    return _fields_into(c, fr, &r.f0, &r.nf)


cdef int _fields_into(_Cur* c, Frame fr, Py_ssize_t* f0, Py_ssize_t* nf) except -1:
    """A Fields object of scalars, into the frame's fields ``f0[0] .. f0[0] + nf[0] - 1``;
    _FALLBACK for anything else."""
    cdef _Field* f
    cdef _Slot* cs
    cdef _Slot* prev = NULL
    cdef _Slot* guess = &_cache[_first_name]
    cdef unsigned short at
    cdef object k
    global _first_name
    if not _eat(c, 123):  # '{'
        return _FALLBACK
    f0[0] = fr.nfs
    nf[0] = 0
    if _eat(c, 125):  # '}'
        return 0
    while True:
        _ws(c)
        if _is_at(c, guess):  # the name that followed the previous one last time
            cs = guess
            k = <object>cs.s
        else:
            k = _string_in(c, &cs, False)
        if k is None or not _eat(c, 58):  # ':'
            return _FALLBACK
        if cs is not NULL:
            at = <unsigned short>(cs - _cache)
            if prev is NULL:
                if _first_name != at:
                    _first_name = at
            elif prev.next != at:
                prev.next = at
            prev = cs
            guess = &_cache[cs.next]
        f = fr._push_field()
        Py_INCREF(k)
        f.name = <PyObject*>k
        f.cs = cs
        nf[0] += 1
        if _field_value(c, f, cs):
            return _FALLBACK
        if _eat(c, 44):  # ','
            continue
        if _eat(c, 125):
            return 0
        return _FALLBACK


cdef int _read_msg(_Cur* c, Frame fr) except -1:
    """One message object that is an Update of known keys, into a new record of ``fr``;
    _FALLBACK for anything else."""
    cdef _Rec* r = fr._push_rec()
    cdef const unsigned char* p
    cdef const unsigned char* tp
    cdef Py_ssize_t n, tn
    cdef bint ascii
    cdef int seen = 0, bit, i
    cdef object v
    _ws(c)
    r.start = c.p - fr.base
    if not _eat(c, 123):
        return _FALLBACK
    while True:
        _ws(c)
        if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &p, &n, &ascii) or not _eat(c, 58):
            return _FALLBACK
        _ws(c)
        if _is(p, n, "Type", 4):
            if c.p >= c.end or c.p[0] != 34 or _raw_string(c, &tp, &tn, &ascii):
                return _FALLBACK
            if not _is(tp, tn, "Update", 6):
                return _FALLBACK
            bit = 1
        elif _is(p, n, "Map", 3):  # _speedups_map.pxi
            if _read_map(c, fr, r):
                return _FALLBACK
            bit = 8 << _N_SCALARS
        elif _is(p, n, "Fields", 6) or _is(p, n, "Key", 3):
            bit = 2 if n == 6 else 4
            if c.p < c.end and c.p[0] == 110:  # null
                if _scalar(c) is not _NONE_SEEN:
                    return _FALLBACK
            elif (_read_fields(c, fr, r) if n == 6 else _read_key(c, r)):
                return _FALLBACK
        else:
            v = _scalar(c)
            if v is None:
                return _FALLBACK
            for i in range(_N_SCALARS):
                if _is(p, n, _SCALARS[i].name, _SCALARS[i].n):
                    break
            else:
                return _FALLBACK
            if not _kind_ok(v, _SCALARS[i].kind):
                return _FALLBACK
            bit = 8 << i
            if v is not _NONE_SEEN:
                _hold(&r.vals[i], v)
        if seen & bit:
            return _FALLBACK
        seen |= bit
        if _eat(c, 44):
            continue
        if _eat(c, 125):
            break
        return _FALLBACK
    if (seen & 9) != 9:  # Type and ID are required
        return _FALLBACK
    r.end = c.p - fr.base
    return 0


cdef int _buffer(object data, const unsigned char** buf, Py_ssize_t* size) except -1:
    """The UTF-8 bytes of a bytes or str payload; _FALLBACK for another type or a str that
    has none (lone surrogates)."""
    if type(data) is bytes:
        buf[0] = <const unsigned char*><const char*>(<bytes>data)
        size[0] = len(<bytes>data)
        return 0
    if type(data) is str:
        try:
            buf[0] = <const unsigned char*>PyUnicode_AsUTF8AndSize(data, size)
        except UnicodeEncodeError:
            return _FALLBACK
        return 0
    return _FALLBACK


cdef int _read_frame(Frame fr, object data) except -1:
    """Every message of the frame into ``fr``; _FALLBACK unless all are Updates it reads."""
    cdef _Cur c
    cdef Py_ssize_t size
    if _buffer(data, &c.p, &size):
        return _FALLBACK
    fr.data = data
    fr.base = c.p
    c.end = c.p + size
    _ws(&c)
    if c.p >= c.end:
        return _FALLBACK
    if c.p[0] == 123:  # a bare object
        if _read_msg(&c, fr):
            return _FALLBACK
    elif c.p[0] == 91:  # '['
        c.p += 1
        if _eat(&c, 93):  # ']': nothing to apply, the general path says the same
            return _FALLBACK
        while True:
            if _read_msg(&c, fr):
                return _FALLBACK
            if _eat(&c, 44):
                continue
            if _eat(&c, 93):
                break
            return _FALLBACK
    else:
        return _FALLBACK
    _ws(&c)
    return 0 if c.p == c.end else _FALLBACK


cdef list _spares = [None, None]  # read_frame's Frame, and the one events read messages with


cdef Frame _frame(int which):
    """An empty Frame: spare ``which`` unless something else still holds it."""
    cdef object spare = _spares[which]
    if spare is not None and Py_REFCNT(spare) == 2:  # the list's reference and this one
        (<Frame>spare)._release()
        return <Frame>spare
    cdef Frame fr = Frame.__new__(Frame)
    _spares[which] = fr
    return fr


def decode_updates(data):
    """The messages of a frame made only of Updates (or of Refreshes and Updates:
    ``_speedups_refresh.pxi``), decoded straight from its bytes (or str) into the structs
    msgspec would give; None when the frame needs the general decoder."""
    cdef Frame fr = _frame(0)
    fr.raw_maps = False
    try:
        if _read_frame(fr, data) == 0:
            return [fr._build(k) for k in range(fr.n)]
    finally:
        fr._release()
    return _refreshes(data)


cdef object _refreshes(object data):
    """The messages of a frame of Refreshes and Updates (``_speedups_refresh.pxi``), or None."""
    cdef const unsigned char* buf
    cdef Py_ssize_t size
    if _buffer(data, &buf, &size):
        return None
    return _messages(buf, size, None)


def read_frame(data):
    """A frame read from its bytes (or str) for ``dispatch``: made only of Updates, a
    ``Frame``, a sequence of the ``Update`` structs msgspec would give; of Refreshes and
    Updates, a list of those structs (``_speedups_refresh.pxi``); None when the frame needs
    the general decoder."""
    cdef Frame fr = _frame(0)
    fr.raw_maps = True
    if _read_frame(fr, data):
        fr._release()
        return _refreshes(data)
    return fr


cdef object _update(_Cur* c):
    """The Update object at ``c`` as msgspec gives it (for the reader of Refresh frames);
    None for anything else."""
    cdef Frame fr = _frame(1)
    fr.raw_maps = False
    fr.base = c.p
    try:
        if _read_msg(c, fr):
            return None
        return fr._build(0)
    finally:
        fr._release()


cdef object _message_at(object data, Py_ssize_t start, Py_ssize_t end):
    """The Update at bytes ``start:end`` of a payload that ``read_frame`` read."""
    cdef _Cur c
    cdef Py_ssize_t size
    _buffer(data, &c.p, &size)
    c.end = c.p + end
    c.p += start
    msg = _update(&c)
    if msg is None or c.p != c.end:
        raise RuntimeError("an ItemUpdated's frame no longer reads as it did")
    return msg


# -- events ------------------------------------------------------------------------------------

@cython.freelist(64)
cdef class _LazyEvent:
    """What the compiled :class:`ItemUpdated` and :class:`ItemRefreshed` share: ``stream``,
    a ``message`` read from the frame's bytes (``_read``) when it is first accessed, and the
    pure core's frozen structs' fields, equality, ``repr`` and pickling."""

    cdef readonly object stream
    cdef object _message
    cdef object _data  # the payload holding the message while it is not read yet
    cdef Py_ssize_t _start, _end
    cdef object _seq, _state  # its SeqNumber (and a Refresh's State) meanwhile

    __struct_fields__ = ("stream", "message")
    __match_args__ = ("stream", "message")

    def __init__(self, stream, message):
        self.stream = stream
        self._message = message

    cdef object _read(self):
        raise NotImplementedError

    @property
    def message(self):
        """The message (``message.fields``: its fields, a dict as decoded)."""
        if self._data is not None:
            self._message = self._read()
            self._data = None
        return self._message

    @property
    def seq_number(self):
        """``message.seq_number``, without reading the message."""
        if self._data is not None:
            return self._seq
        return self._message.seq_number

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.stream == (<_LazyEvent>other).stream and self.message == other.message

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash((self.stream, self.message))

    def __repr__(self):
        return f"{type(self).__name__}(stream={self.stream!r}, message={self.message!r})"

    def __rich_repr__(self):
        yield "stream", self.stream
        yield "message", self.message

    def __copy__(self):
        return self

    def __reduce__(self):
        return (type(self), (self.stream, self.message))


@cython.final
cdef class ItemUpdated(_LazyEvent):
    """An Update applied to its stream's image: :class:`ertcloud.protocol.events.ItemUpdated`
    where the compiled core is built (the same fields, equality, ``repr`` and pickling as the
    pure core's frozen struct). The compiled loop gives one that reads ``message`` (the
    ``Update`` as msgspec decodes it) from the frame's bytes when it is first accessed."""

    cdef object _ts  # its SimTs while the message is not read

    cdef object _read(self):
        return _message_at(self._data, self._start, self._end)

    @property
    def sim_ts(self):
        """``message.sim_ts``, without reading the message."""
        if self._data is not None:
            return self._ts
        return self._message.sim_ts


cdef inline object _event_type():
    """``events.ItemUpdated``, looked up once (that module imports this one): the class
    below, unless ``ERTCLOUD_NO_EXTENSIONS`` kept the msgspec one there, which then gets
    every event of this core too (built with its message)."""
    global _ITEM_UPDATED
    if _ITEM_UPDATED is None:
        from .events import ItemUpdated as cls
        _ITEM_UPDATED = cls
    return _ITEM_UPDATED


cdef inline object _lazy_event(object s, object data, _Rec* r):
    cdef ItemUpdated ev = ItemUpdated.__new__(ItemUpdated)
    ev.stream = s
    ev._data = data
    ev._start = r.start
    ev._end = r.end
    ev._seq = <object>r.vals[1] if r.vals[1] is not NULL else None
    ev._ts = <object>r.vals[4] if r.vals[4] is not NULL else None
    return ev


# -- the loop over a Frame ---------------------------------------------------------------------

cdef extern from "Python.h":
    ctypedef struct PyMethodDef:
        pass
    ctypedef struct PyCFunctionObject:
        PyMethodDef* m_ml
        PyObject* m_self

cdef object _A_GET = {}.get
cdef object _BUILTIN_METHOD = type(_A_GET)
cdef PyMethodDef* _DICT_GET = (<PyCFunctionObject*><PyObject*>_A_GET).m_ml  # dict.get's


cdef int _apply_fields(object s, _Rec* r, _Field* fs) except -1:
    """``_apply_update`` for an Update read into ``r`` (its fields ``fs[:r.nf]``), whose
    stream ``_image_ok`` takes."""
    cdef CompactImage img = <CompactImage>_slot(s, S_FIELDS)
    cdef PyObject* rules = _slot(s, S_RIPPLES)
    cdef dict table = <dict>_slot(<object>rules, R_MOVES)
    cdef dict group = <dict>_slot(<object>rules, R_GROUPS)
    cdef PyObject* whole_p = _slot(s, S_WHOLE)
    cdef object whole = <object>whole_p if whole_p is not NULL else s.whole_chains
    cdef object name
    cdef dict names
    cdef Py_ssize_t j
    cdef int hits = 0, overlapping = 0
    cdef unsigned long long seen = 0, bit
    for j in range(r.nf):
        fs[j].memo = _memo_of(&fs[j])  # once per field: the passes below read it
        fs[j].rippled = _ripple_info(&fs[j], <object>rules, table, group, &bit)
        if fs[j].rippled:
            hits += 1
            if bit:
                if seen & bit:  # overlapping chains, or a name twice
                    overlapping = 1
                seen |= bit
    if overlapping:  # the pure path's order: its set of the names (a dict's keys, in order)
        names = {}
        for j in range(r.nf):
            PyDict_SetItem(names, <object>fs[j].name, None)
        for name in names.keys() & <object>_slot(<object>rules, R_KEYS):
            _ripple(img, table, name, whole)
    elif hits:
        for j in range(r.nf):
            if fs[j].rippled:
                _ripple_at(img, table, &fs[j], whole)
    for j in range(r.nf):
        _put_field(img, &fs[j])
    return _finish(s, img, r.vals[1])


cdef inline int _put_field(CompactImage img, _Field* f) except -1:
    """``img._put(f)``, the common case here: a number or a packed string into a narrow
    slot of the layout the name's memo knows."""
    cdef _Slot* m = f.memo
    cdef Py_ssize_t i
    cdef const unsigned int* o
    cdef unsigned int u
    cdef int tag
    if m is NULL or m.index != <PyObject*>img.index or m.at < 0 or img.offs is None:
        return img._put(f)
    i = m.at
    o = img._o()
    if o[i] < o[img._n() + 1]:  # a slot of 8
        return img._put(f)
    if f.tag == _T_FLOAT:
        if f.dec == _NO_DEC:
            return img._put(f)
        u = f.dec
        tag = _T_FLOAT
    elif f.tag == _T_INT:
        if not (-2147483648 <= f.v.i <= 2147483647):
            return img._put(f)
        u = <unsigned int>(<int>f.v.i)
        tag = _T_INT
    else:
        tag = _narrow_of(f.v.o, NULL, 2, &u)
        if tag < 0:
            return img._put(f)
    (<unsigned int*>((<char*>img.vals) + o[i]))[0] = u
    _tag_at((<unsigned char*>img.vals) + o[img._n()], i, tag)
    return 0


cdef inline bint _ripple_info(_Field* f, object rules, dict table, dict group, unsigned long long* bit) except -1:
    """Whether field ``f`` has ripple moves in ``rules`` (whose ``table`` and ``group`` these
    are), and the bit of its group in ``bit`` (0: none); remembered in the name's cache entry
    (``f.memo``, set by the caller)."""
    cdef _Slot* m = f.memo
    cdef PyObject* g
    cdef bint rippled
    cdef _Memo* r
    if m is not NULL and m.rules == <PyObject*>rules:
        bit[0] = m.group
        return m.rippled
    rippled = PyDict_GetItemWithError(table, <object>f.name) is not NULL
    bit[0] = 0
    if rippled:
        g = PyDict_GetItemWithError(group, <object>f.name)
        if g is not NULL:
            bit[0] = <unsigned long long>(<object>g)
    if m is not NULL:
        _hold(&m.rules, rules)
        r = &_memo[m - _cache]
        Py_XDECREF(r.pindex)  # its pairs were of other rules
        r.pindex = NULL
        m.group = bit[0]
        m.rippled = rippled
    return rippled


cdef int _ripple_at(CompactImage img, dict table, _Field* f, object whole) except -1:
    """``_ripple`` of field ``f``, which ``_ripple_info`` just found in the rules of
    ``table``: by the slot pairs of its moves in ``img``'s layout, kept in its memo, when all
    of them are in that layout (then the moves do not depend on ``whole``)."""
    cdef _Memo* m
    cdef tuple moves, mv
    cdef Py_ssize_t d, src
    cdef int i
    cdef const unsigned int* o
    cdef unsigned int lim
    cdef unsigned char* tb
    if f.memo is NULL:
        return _ripple(img, table, <object>f.name, whole)
    m = &_memo[f.memo - _cache]
    if m.pindex != <PyObject*>img.index:
        _hold(&m.pindex, img.index)
        moves = <tuple>PyDict_GetItem(table, <object>f.name)
        m.npairs = len(moves) if len(moves) <= _MAX_PAIRS else -1
        for i in range(m.npairs):
            mv = <tuple>moves[i]
            d = img._slot(mv[0])
            src = img._slot(mv[1])
            if d < 0 or src < 0 or d > 65535 or src > 65535:
                m.npairs = -1
                break
            m.pairs[2 * i] = <unsigned short>d
            m.pairs[2 * i + 1] = <unsigned short>src
    if m.npairs < 0:
        return _ripple(img, table, <object>f.name, whole)
    if img.offs is None:
        for i in range(m.npairs):
            img._move(m.pairs[2 * i], m.pairs[2 * i + 1])
        return 0
    o = img._o()
    lim = o[img._n() + 1]
    tb = (<unsigned char*>img.vals) + o[img._n()]
    for i in range(m.npairs):
        d = m.pairs[2 * i]
        src = m.pairs[2 * i + 1]
        if o[d] >= lim and o[src] >= lim:  # both narrow (the common case): 4 bytes and the tag
            (<unsigned int*>((<char*>img.vals) + o[d]))[0] = (<unsigned int*>((<char*>img.vals) + o[src]))[0]
            _tag_at(tb, d, (tb[src >> 2] >> ((src & 3) << 1)) & 3)
        else:
            img._move(d, src)
            if img.offs is None:  # the move widened the image: the rest as wide slots
                for i in range(i + 1, m.npairs):
                    img._move(m.pairs[2 * i], m.pairs[2 * i + 1])
                return 0
    return 0


cdef inline _Slot* _memo_of(_Field* f) noexcept:
    """The cache entry of ``f``'s name, which remembers its slot and ripple group: NULL when
    it has none (a long name, or its entry now holds another string)."""
    return f.cs if f.cs is not NULL and f.cs.s == f.name else NULL


cdef object _TRUE = True


cdef inline bint _flag(PyObject* v) noexcept:
    return v == <PyObject*>_TRUE


cdef list _dispatch_frame(Frame fr, object lookup, object on_other):
    """``_dispatch`` of the Updates in ``fr`` (consumed): an Update whose stream's image
    or book takes it here is applied from the record and gives an event that reads its
    message later; any other is built and applied as ``_dispatch`` does."""
    cdef list events = []
    cdef dict streams = None
    cdef object s, deliver, ev, msg
    cdef PyObject* p
    cdef _Rec* r
    cdef Py_ssize_t k
    cdef bint lazy = _event_type() is ItemUpdated
    if type(lookup) is _BUILTIN_METHOD and (<PyCFunctionObject*><PyObject*>lookup).m_ml == _DICT_GET:
        p = (<PyCFunctionObject*><PyObject*>lookup).m_self
        if p is not NULL and type(<object>p) is dict:
            streams = <dict>p  # lookup is the bound get of this dict
    try:
        for k in range(fr.n):
            r = &fr.recs[k]
            if streams is not None:
                p = PyDict_GetItemWithError(streams, <object>r.vals[0])  # an int: no error
                if p is NULL:
                    continue
                s = <object>p
            else:
                s = lookup(<object>r.vals[0])
                if s is None:
                    continue
            msg = None
            if type(s) is _STREAM:
                if (
                    r.nf and not _flag(r.vals[_V_NO_CACHE]) and not _flag(r.vals[_V_NO_RIPPLE])
                    and _image_ok(s)
                ):
                    if not lazy:
                        msg = fr._build(k)
                    _apply_fields(s, r, fr.fs + r.f0)
                elif (
                    (r.map is not NULL or r.raw_map) and not r.nf and not _flag(r.vals[_V_NO_CACHE])
                    and _book_ok(s)
                ):
                    if not lazy:
                        msg = fr._build(k)
                    _apply_book(s, fr, r)
                else:
                    msg = fr._build(k)
                    _apply_update(s, msg)
                p = _slot(s, S_DELIVER)
                deliver = <object>p if p is not NULL else None
            else:  # a subclass may override anything: the pure path
                msg = fr._build(k)
                s.apply_update(msg)
                deliver = s.deliver
            ev = _lazy_event(s, fr.data, r) if msg is None else _ITEM_UPDATED(s, msg)
            if deliver is not None and not events:
                if not _delivered(deliver, s, ev, r.vals[1]):
                    deliver(ev)
            else:
                events.append(ev)
    finally:
        fr._release()
    return events


# -- a subscription's common case of an Update, delivered here ---------------------------------
#
# ``Subscription.deliver_update`` (registered by ``fast_delivery``) does, for an Update with
# the sequence number its stream's health record expects, on a subscription that is not paused,
# has no queue and is still open, in a session without ``on_event``: the record's two counters,
# then ``on_update``. ``_delivered`` does exactly that from the subscription's and the
# session's attributes as they are at that moment (nothing to keep in sync); anything else
# (a gap, a pause, a queue, ``on_event``, a subclass) goes to the Python method. The record is
# in the stream's own slots (``ItemStream._h_*``, read by offset).

from cpython.object cimport PyObject_RichCompareBool, Py_EQ

cdef extern from "Python.h":
    PyObject* PyMethod_GET_FUNCTION(object m)
    PyObject* PyMethod_GET_SELF(object m)

cdef object _SUB_DELIVER = None  # the registered Subscription.deliver_update function
cdef Py_ssize_t H_NEXT, H_LAST, H_STEP, H_SINCE
cdef object _METHOD = None  # types.MethodType once fast_delivery has run
cdef object _FAILED = None  # logs a callback's exception (subscription._failed)
cdef object _FALSE = False
cdef object _INT_TYPE = int


def fast_delivery(function, health, failed):
    """Register ``Subscription.deliver_update`` (``function``), the type of the streams'
    health records (``health``, the view ``stream.health`` gives of the record the stream
    keeps in its own slots) and what logs a callback's exception (``failed(message)``, called
    while it is handled, as the method does): its common case then runs here. TypeError (and
    nothing registered) where ``health`` is not that type or the record is not in slots."""
    global _SUB_DELIVER, H_NEXT, H_LAST, H_STEP, H_SINCE, _METHOD, _FAILED
    import types
    from . import streams
    if streams._health_record is not health:
        raise TypeError(f"{health!r} is not the type of a stream's health")
    H_NEXT = _offset(ItemStream, "_h_next_seq")
    H_LAST = _offset(ItemStream, "_h_last_seq")
    H_STEP = _offset(ItemStream, "_h_step")
    H_SINCE = _offset(ItemStream, "_h_last_message")
    _METHOD = types.MethodType
    _FAILED = failed
    _SUB_DELIVER = function


# An Update whose sequence number goes back (a reordering) on a stream whose record is not
# stale: what ``IntegrityMonitor.observe`` does then (``fast_reordering``), done here.
cdef object _MONITOR = None  # the IntegrityMonitor class (exactly: a subclass may override)
cdef object _RARE = None  # the class of a record's rare counters
cdef Py_ssize_t _LEARN = 0  # the deltas a record learns its step from
cdef Py_ssize_t H_LEARNED, H_RARE


def fast_reordering(monitor, rare, Py_ssize_t learn):
    """Register the session's integrity monitor class (``monitor``), the class of a stream's
    rare health counters (``rare``) and ``LEARN_DELTAS`` (``learn``): an in-order-looking
    case the core then also delivers itself is an Update whose sequence number is not above
    the last one, on a stream that is not stale, in a session whose ``integrity`` is exactly
    ``monitor`` (as ``observe`` would count it: ``out_of_order`` of the record and of the
    monitor, the record's clock reading and its next expected number). After
    ``fast_delivery`` only."""
    global _MONITOR, _RARE, _LEARN, H_LEARNED, H_RARE
    if _SUB_DELIVER is None:
        raise TypeError("fast_delivery is not registered")
    H_LEARNED = _offset(ItemStream, "_h_learned")
    H_RARE = _offset(ItemStream, "_h_rare")
    _RARE = rare
    _LEARN = learn
    _MONITOR = monitor


cdef inline PyObject* _dget(dict d, str name) except? NULL:
    # not PyDict_GetItem, which saves and restores the error state (3.11): a str key's
    # lookup cannot fail
    return PyDict_GetItemWithError(d, name)


cdef inline bint _holds(dict d, str name, object value) except -1:
    """``d[name] is value`` (False when ``name`` is missing)."""
    return _dget(d, name) == <PyObject*>value


cdef extern from *:
    """
    /* A dict's version (3.10, 3.11): a process-wide counter's value, new whenever any dict is
       made or changed, so two reads that give the same non-zero value saw the same dict
       holding the same items. 0 (nothing remembered) where the field is deprecated. */
    #if PY_VERSION_HEX < 0x030C0000
    static inline unsigned long long ertcloud_dict_version(PyObject* d) {
        return (unsigned long long)((PyDictObject*)d)->ma_version_tag;
    }
    #else
    static inline unsigned long long ertcloud_dict_version(PyObject* d) { (void)d; return 0; }
    #endif
    """
    unsigned long long _dict_version "ertcloud_dict_version" (object d) noexcept

# What ``_delivered`` found in the last subscription's and session's ``__dict__`` (read there
# again whenever a dict's version is not the one remembered): the subscription's dict at
# version ``_seen_sub`` delivers (not paused, no queue, open) with that ``_session`` and
# ``on_update`` (borrowed: that dict, unchanged, still holds them); a session's dict at version
# ``_seen_session`` has no ``on_event``.
cdef unsigned long long _seen_sub = 0
cdef unsigned long long _seen_session = 0
cdef PyObject* _seen_owner = NULL
cdef PyObject* _seen_cb = NULL


cdef bint _delivered(object deliver, object s, object ev, PyObject* seq) except -1:
    """True when ``deliver`` (a stream's sink) was the registered method in its common case
    and ``ev`` has been delivered here; False: the caller calls ``deliver(ev)``."""
    cdef PyObject* p
    cdef PyObject* q
    cdef object sub, session, nxt, step, cb, on_event, monitor, rare
    cdef dict d, sd
    cdef unsigned long long dv, sv
    cdef bint back
    global _seen_sub, _seen_session, _seen_owner, _seen_cb
    if type(deliver) is not _METHOD or PyMethod_GET_FUNCTION(deliver) != <PyObject*>_SUB_DELIVER:
        return False
    if seq is NULL or type(<object>seq) is not _INT_TYPE:
        return False
    if type(s) is not _STREAM and not isinstance(s, _STREAM):
        return False
    p = _slot(s, H_SINCE)
    if p is NULL or p == <PyObject*>None:  # no record
        return False
    p = _slot(s, H_NEXT)
    if p is NULL or type(<object>p) is not _INT_TYPE:
        return False
    back = not PyObject_RichCompareBool(<object>seq, <object>p, Py_EQ)
    if back:  # only a reordering on a stream that is not stale (anything else: the method)
        if _MONITOR is None:
            return False
        p = _slot(s, H_LAST)
        if p is NULL or type(<object>p) is not _INT_TYPE or <object>seq > <object>p:
            return False
        p = _slot(s, H_RARE)
        if p is not NULL and p != <PyObject*>None and (<object>p).stale:
            return False
    sub = <object>PyMethod_GET_SELF(deliver)
    d = PyObject_GenericGetDict(sub, NULL)
    dv = _dict_version(d)
    if dv != 0 and dv == _seen_sub:
        session = <object>_seen_owner
        cb = <object>_seen_cb
    else:
        _seen_sub = 0
        if not _holds(d, "paused_locally", _FALSE) or not _holds(d, "_queue", None):
            return False
        p = _dget(d, "_open")
        if p is NULL or type(<object>p) is not _INT_TYPE or <object>p <= 0:
            return False
        p = _dget(d, "_session")
        q = _dget(d, "on_update")
        if p is NULL or q is NULL:
            return False
        session = <object>p
        cb = <object>q
        _seen_owner = p
        _seen_cb = q
        _seen_sub = dv
    sd = PyObject_GenericGetDict(session, NULL)
    sv = _dict_version(sd)
    if sv == 0 or sv != _seen_session:
        if not _holds(sd, "on_event", None):
            return False
        _seen_session = sv
    q = _slot(s, H_STEP)
    step = <object>q if q is not NULL else None
    if back:
        p = _dget(sd, "integrity")
        if p is NULL or type(<object>p) is not _MONITOR:
            return False
        monitor = <object>p
        _set_slot(s, H_SINCE, monitor._now())
        _set_slot(s, H_LAST, <object>seq)
        p = _slot(s, H_RARE)
        if p is NULL or p == <PyObject*>None:
            rare = _RARE()
            _set_slot(s, H_RARE, rare)
        else:
            rare = <object>p
        rare.out_of_order += 1
        monitor.out_of_order += 1
        p = _slot(s, H_LEARNED)
        if step and p is not NULL and <object>p >= _LEARN:
            nxt = <object>seq + step
        else:
            nxt = -1
        _set_slot(s, H_NEXT, nxt)
    else:
        nxt = <object>seq + (step or 0)
        _set_slot(s, H_LAST, <object>seq)
        _set_slot(s, H_NEXT, nxt)
    if cb is None:
        return True
    try:
        cb(ev)
    except Exception:
        # A bug in user code must not take the connection (and every stream) down.
        _FAILED("subscription callback failed on ItemUpdated")
    # What the callback may have changed that the method reads after it (nothing, when
    # neither dict has a new version)
    if dv == 0 or _dict_version(d) != dv:
        p = _dget(d, "_open")
        if (<object>p if p is not NULL else sub._open) <= 0:
            sub._wakeup.set()
    if sv == 0 or _dict_version(sd) != sv:
        q = _dget(sd, "on_event")
        on_event = <object>q if q is not NULL else session.on_event
        if on_event is not None:
            try:
                on_event(ev)
            except Exception:
                _FAILED("on_event callback failed on ItemUpdated")
    return True


# -- ClientProtocol.receive ----------------------------------------------------------------------

from cpython.object cimport Py_TYPE, PyTypeObject

cdef extern from "Python.h":
    PyObject* _PyType_Lookup(PyTypeObject* t, object name)
    object PyObject_GenericGetDict(object o, void* context)

cdef extern from *:
    """
    /* the type's attribute cache tag: it changes whenever the type or a base is modified;
       0 when it has none */
    static inline unsigned int ertcloud_type_tag(PyTypeObject* t) {
        return (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ? t->tp_version_tag : 0;
    }
    """
    unsigned int _type_tag "ertcloud_type_tag" (PyTypeObject* t) noexcept

cdef PyTypeObject* _checked_type = NULL  # a type whose dispatch and fast_decode are this core's,
cdef unsigned int _checked_tag = 0  # as it was at this tag
cdef object _RECEIVE = None  # the Python ClientProtocol.receive: everything but the common case
cdef object _DISPATCH_SM = None  # the class's staticmethods of this core's dispatch and reader
cdef object _FAST_SM = None


def receiver(cls):
    """This core's ``receive`` for ``cls`` (ClientProtocol), to put in its place: a frame made
    of Updates (or of Refreshes and Updates) read and dispatched in one call while ``cls``'s
    ``dispatch`` and ``fast_decode`` are this core's (on the instance too); any other frame,
    or any other set-up, goes to the Python ``receive`` it replaces."""
    global _RECEIVE, _DISPATCH_SM, _FAST_SM
    _RECEIVE = cls.__dict__["receive"]
    _DISPATCH_SM = cls.__dict__["dispatch"]
    _FAST_SM = cls.__dict__["fast_decode"]
    if _DISPATCH_SM.__func__ is not dispatch or _FAST_SM.__func__ is not read_frame:
        raise TypeError(f"{cls.__name__} does not use this core")
    receive.__doc__ = _RECEIVE.__doc__
    return receive


def receive(self, data, now):
    return _receive(self, data, now)


# ``streams.lookup`` of the last protocol's table, while the table's ``__dict__`` is at
# version ``_seen_table`` (see ``_dict_version``): that dict, unchanged, still holds it
cdef unsigned long long _seen_table = 0
cdef PyObject* _seen_lookup = NULL
cdef object _TABLE = StreamTable


cdef inline object _lookup_of(object self, dict d):
    """``self.streams.lookup``; read from the table's ``__dict__`` (whose version says when
    it is the one read last time) where ``streams`` is an instance attribute of ``self``
    (the type has none: checked with ``dispatch``) holding a plain StreamTable."""
    global _seen_table, _seen_lookup
    cdef PyObject* p = _dget(d, "streams")
    cdef dict td
    cdef unsigned long long v
    if p is NULL or type(<object>p) is not _TABLE:
        return self.streams.lookup
    td = PyObject_GenericGetDict(<object>p, NULL)
    v = _dict_version(td)
    if v != 0 and v == _seen_table:
        return <object>_seen_lookup
    p = _dget(td, "lookup")
    if p is NULL:
        return self.streams.lookup
    _seen_table = v
    _seen_lookup = p
    return <object>p


cdef object _receive(object self, object data, object now):
    """``receive``, for C callers too (``RECEIVE_C``)."""
    cdef PyTypeObject* t = Py_TYPE(self)
    cdef dict d
    cdef Frame fr
    cdef object msgs, lookup
    cdef const unsigned char* buf
    cdef Py_ssize_t size
    global _checked_type, _checked_tag
    if t != _checked_type or _type_tag(t) != _checked_tag or _checked_tag == 0:
        if (
            _PyType_Lookup(t, "dispatch") != <PyObject*>_DISPATCH_SM
            or _PyType_Lookup(t, "fast_decode") != <PyObject*>_FAST_SM
            or _PyType_Lookup(t, "streams") is not NULL  # read from the instance's dict
        ):
            return _RECEIVE(self, data, now)
        _checked_type = t  # the lookups gave the type a tag (where it can have one)
        _checked_tag = _type_tag(t)
    d = PyObject_GenericGetDict(self, NULL)
    if _dget(d, "dispatch") is not NULL or _dget(d, "fast_decode") is not NULL:
        return _RECEIVE(self, data, now)
    d["last_received"] = now
    fr = _frame(0)
    if _read_frame(fr, data) == 0:
        d["messages_received"] = d["messages_received"] + fr.n
        return _dispatch_frame(fr, _lookup_of(self, d), None)
    fr._release()
    if _buffer(data, &buf, &size):
        return _RECEIVE(self, data, now)
    fr.data = data  # the Refreshes' events read their messages from it
    fr.base = buf
    msgs = _messages(buf, size, fr)
    if msgs is None:  # the general decoder (which tries these readers again first)
        fr._release()
        return _RECEIVE(self, data, now)
    d["messages_received"] = d["messages_received"] + len(msgs)
    try:
        return _dispatch(msgs, self.streams.lookup, self._on_other, fr, self.login.id)
    finally:
        fr._release()


from cpython.pycapsule cimport PyCapsule_New

ctypedef object (*_receive_t)(object, object, object)
#: ``receive(protocol, data, now)`` as a C function (``object (*)(object, object, object)``)
#: for the compiled picows listener
RECEIVE_C = PyCapsule_New(<void*><_receive_t>_receive, "ertcloud.protocol._speedups.RECEIVE_C", NULL)


include "_speedups_map.pxi"
include "_speedups_refresh.pxi"
