"""A seeded, deterministic market: instruments, their field images and their updates.

No I/O and no asyncio. :class:`Market` holds a universe of instruments (equities on a
dozen venues, FX spot, indices, government bonds), each with the full field image a
``tr_json2`` Refresh would carry, and advances their prices with :meth:`Market.step`.

* The instruments and the field set of each asset class are data (``instruments.toml``,
  read by :mod:`.table`); one module per asset class (:mod:`.equity`, :mod:`.fx`,
  :mod:`.index`, :mod:`.bond`) computes its records and updates, on the shared price
  process (:mod:`.process`) and record rules (:mod:`.records`).
* Prices follow a mean-reverting random walk in log space (small per-step volatility),
  rounded to the instrument's tick. Quotes are on the tick grid with a positive spread;
  trades print at the standing bid or ask (or inside the spread).
* Every instrument draws from its own random stream, derived from the seed and its RIC
  with a stable hash, so adding instruments never changes the others. The same seed, the
  same calls and the same clock give identical output.
* Time comes from ``clock`` (epoch seconds, UTC), injected for tests.
* The image is updated in place, rippling ``TRDPRC_1`` -> ``TRDPRC_2`` ... ``TRDPRC_5``,
  ``BID`` -> ``BID_1`` -> ``BID_2`` and ``ASK`` -> ``ASK_1`` -> ``ASK_2`` like a server's
  cache. The changed fields returned by :meth:`Market.step` are those an update message
  carries: the ripple targets are not in them (a consumer cache ripples itself).
* Reference data (names, prices, permissions, display templates) is illustrative, not a
  copy of any vendor's record; identifier codes have valid check digits.
"""

from __future__ import annotations

from .bond import BOND
from .equity import EQUITY
from .fx import FX
from .index import INDEX
from .records import Instrument
from .universe import Market

__all__ = ["BOND", "EQUITY", "FX", "INDEX", "Instrument", "Market"]
