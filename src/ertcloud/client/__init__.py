"""The asyncio front end: sessions and subscriptions over a transport (aiohttp, picows)."""

from .session import Session
from .subscription import Subscription

__all__ = ["Session", "Subscription"]
