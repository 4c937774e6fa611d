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

from cpython.bytes cimport PyBytes_FromStringAndSize
from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

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

    def __init__(self, ws):
        self.ws = ws
        self.handler = None

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        # A TEXT frame cannot arrive in the middle of a fragmented message.
        cdef object h = self.handler
        if h is not None and frame.fin and frame.msg_type == WSMsgType.TEXT:
            data = PyBytes_FromStringAndSize(frame.payload_ptr, frame.payload_size)
            try:
                h(data)
            except Exception as exc:
                self.ws._fail(transport, exc)
            return
        self.ws._frame(transport, frame)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.ws._disconnected()
