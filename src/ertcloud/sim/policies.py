"""The names of the streaming server's ping and slow-consumer policies (``ServerConfig``),
with no dependency: the command line's options list them."""

from __future__ import annotations

__all__ = ["PING_MODES", "SLOW_CONSUMER_POLICIES"]

#: How the server checks that a client is alive (the liveness rules of the protocol):
#:
#: * ``spec``: as the ADS of the specification: a Ping after a third of ``PingTimeout``
#:   without traffic *from* the client, and the connection dropped if still nothing comes
#:   within ``PingTimeout`` of that Ping.
#: * ``rssl``: as the RSSL transport: a Ping after a third of ``PingTimeout`` without
#:   traffic *to* the client (so a busy stream gets none), and the connection dropped once
#:   nothing came from the client for ``PingTimeout``.
#: * ``off``: no Pings and no liveness drop (Pings from the client are still answered).
PING_MODES = ("spec", "rssl", "off")

#: What the server does with a connection whose send queue is over its bound
#: (``ServerConfig.send_queue_bytes``) because the client does not read fast enough:
#:
#: * ``conflate``: its Updates are merged per stream until the queue has drained to half
#:   the bound, then each stream gets one Update with the current values (a new image for
#:   the Map domains); Refresh, Status and every other message still go out in order.
#: * ``drop``: its Updates are discarded while over the bound (a SeqNumber gap shows it).
#: * ``disconnect``: the connection is dropped at once.
#:
#: Whatever the policy, a connection whose writer has waited ``drain_timeout`` seconds on
#: one frame (the client stopped reading) is dropped, and the requests of one whose queue is
#: past four times its bound are not read until it drains. Nothing a slow connection does
#: delays the others: each has its own queue and writer.
SLOW_CONSUMER_POLICIES = ("conflate", "drop", "disconnect")
