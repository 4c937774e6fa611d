"""Security identifiers with valid check digits: ISIN (Luhn over the base-36 digits) and
CUSIP."""

from __future__ import annotations

__all__ = ["cusip", "isin_of"]


def _luhn_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def isin_of(country: str, nsin: str) -> str:
    """An ISIN from a country code and a nine-character national code, with check digit."""
    body = country + nsin
    return body + str(_luhn_digit("".join(str(int(c, 36)) for c in body)))


def cusip(base: str) -> str:
    """A CUSIP from eight characters, with check digit."""
    total = 0
    for i, ch in enumerate(base):
        v = int(ch, 36)
        if i % 2 == 1:
            v *= 2
        total += v // 10 + v % 10
    return base + str((10 - total % 10) % 10)
