"""The asyncio front end: sessions and subscriptions over aiohttp."""

from .session import Session
from .subscription import Subscription

__all__ = ["Session", "Subscription"]
