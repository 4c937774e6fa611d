# cython: language_level=3, boundscheck=False, wraparound=False
"""The picows listener of :mod:`ertcloud.client.transport_picows`, compiled against picows'
``.pxd``: picows calls ``on_ws_frame`` through its C vtable (no Python frame, no argument
tuple), the frame's type and flags are read as C fields (the pure listener pays an enum
object for ``msg_type``), and a whole TEXT frame goes to the session's handler as ``bytes``
made straight from picows' read buffer (what the compiled reader of Updates takes).

Built only where picows is importable at build time; it is tied to the layout of the picows
it was built against, so :mod:`~ertcloud.client.transport_picows` uses it only under that
same picows version (:data:`PICOWS_VERSION`) and falls back to the pure listener otherwise.
"""

from cpython.buffer cimport PyBUF_WRITE
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.float cimport PyFloat_FromDouble
from cpython.pycapsule cimport PyCapsule_GetPointer
from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

import asyncio
from types import MethodType

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    Py_buffer* PyMemoryView_GET_BUFFER(object mview)

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC

ctypedef object (*_receive_t)(object, object, object)

cdef _receive_t _RECEIVE_C = NULL  # the compiled core's receive as a C function
cdef object _COMPILED_RECEIVE = None  # and as the Python function it is behind
try:
    from ertcloud.protocol._speedups import RECEIVE_C as _capsule, receive as _receive
except ImportError:  # the compiled core is not built (or is older): receive is called as a method
    pass
else:
    _RECEIVE_C = <_receive_t>PyCapsule_GetPointer(_capsule, "ertcloud.protocol._speedups.RECEIVE_C")
    _COMPILED_RECEIVE = _receive
#: True when the compiled core's ``receive`` is called as a C function (``receive_directly``)
CORE_RECEIVE = _RECEIVE_C != NULL


cdef inline object _monotonic():
    """``time.monotonic()`` (the same clock)."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return PyFloat_FromDouble(<double>ts.tv_sec + <double>ts.tv_nsec * 1e-9)

# ``time.monotonic()`` when the read being processed was made (set by ChunkedReads around
# picows' handling of a read, None otherwise): the frames of one read share one clock read
cdef object _read_now = None


cdef extern from *:
    """
    #ifndef ERTCLOUD_PICOWS_VERSION
    #define ERTCLOUD_PICOWS_VERSION ""
    #endif
    """
    const char* ERTCLOUD_PICOWS_VERSION

#: the picows version this module was compiled against ("" if the build did not say)
PICOWS_VERSION = ERTCLOUD_PICOWS_VERSION.decode("ascii")


cdef class CompiledListener(WSListener):
    """Hands each whole TEXT frame to ``handler`` as bytes; anything else (BINARY,
    fragments, CLOSE) to the connection's general path, as the pure listener does."""

    cdef public object handler
    cdef readonly object ws
    # receive_directly(): what the handler would do per frame, done here
    cdef object _receive, _protocol, _blocked, _after, _trace

    def __init__(self, ws):
        self.ws = ws
        self.handler = None

    def receive_directly(self, receive, blocked, after, trace=None):
        """While ``handler`` is set, do for each whole TEXT frame what a session's handler
        does, without it: ``trace("received", data)`` if ``trace`` is given, ``events =
        receive(data, time.monotonic())``, then ``after(events)`` if there are events or
        ``blocked`` is not empty."""
        self._receive = receive
        self._protocol = None
        if (
            _COMPILED_RECEIVE is not None
            and type(receive) is MethodType
            and receive.__func__ is _COMPILED_RECEIVE
        ):
            self._protocol = receive.__self__  # called as the C function
        self._blocked = blocked
        self._after = after
        self._trace = trace

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        # A TEXT frame cannot arrive in the middle of a fragmented message.
        cdef object h = self.handler
        cdef object now
        if h is not None and frame.fin and frame.msg_type == WSMsgType.TEXT:
            data = PyBytes_FromStringAndSize(frame.payload_ptr, frame.payload_size)
            try:
                if self._after is None:
                    h(data)
                else:
                    if self._trace is not None:
                        self._trace("received", data)
                    now = _read_now if _read_now is not None else _monotonic()
                    if self._protocol is not None:
                        events = _RECEIVE_C(self._protocol, data, now)
                    else:
                        events = self._receive(data, now)
                    if events or self._blocked:
                        self._after(events)
            except Exception as exc:
                self.ws._fail(transport, exc)
            return
        self.ws._frame(transport, frame)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.ws._disconnected()


cdef class _Reads:
    """What :class:`ChunkedReads` does, in C."""

    cdef object _get_buffer, _buffer_updated
    cdef Py_ssize_t _chunk
    cdef public object eof_received, connection_lost
    cdef public object pause_writing, resume_writing

    def __init__(self, proto, Py_ssize_t chunk):
        self._get_buffer = proto.get_buffer
        self._chunk = chunk
        self._buffer_updated = proto.buffer_updated
        self.eof_received = proto.eof_received
        self.connection_lost = proto.connection_lost
        self.pause_writing = proto.pause_writing
        self.resume_writing = proto.resume_writing

    def get_buffer(self, Py_ssize_t sizehint):
        buf = self._get_buffer(sizehint)
        cdef Py_buffer* b = PyMemoryView_GET_BUFFER(buf)
        if b.len <= self._chunk:  # the common case: picows' buffer as it is
            return buf
        # picows' own view has no owner either: the buffer lives as long as its protocol
        return PyMemoryView_FromMemory(<char*>b.buf, self._chunk, PyBUF_WRITE)

    def buffer_updated(self, nbytes):
        """picows' ``buffer_updated``, the clock read once for all the frames of the read
        (the time the compiled listener gives as the frames' receipt time)."""
        global _read_now
        _read_now = _monotonic()
        try:
            self._buffer_updated(nbytes)
        finally:
            _read_now = None


class ChunkedReads(_Reads, asyncio.BufferedProtocol):
    """picows' protocol (``proto``) with each read limited to ``chunk`` bytes; every other
    call goes straight to picows' own bound methods. What the transport's ``_ChunkedReads``
    does, without a Python frame (and, while picows' buffer is no larger than ``chunk``,
    without a second memoryview) per read."""

    __slots__ = ()
