"""Ripple rules of one field dictionary: which fields receive a field's previous value.

A :class:`RippleRules` is built from the ``ripple_to`` of each field of a dictionary; a
stream table holds one (the builtin table's until the session's dictionary is known)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dictionary import Dictionary

__all__ = ["BUILTIN_RIPPLES", "RippleRules", "ripple_rules"]

_SHAPES_MAX = 1024


def _chain(targets: Mapping[str, str], name: str) -> tuple[str, ...]:
    chain: list[str] = []
    target = targets.get(name)
    while target is not None and target != name and target not in chain:
        chain.append(target)
        target = targets.get(target)
    return tuple(chain)


class RippleRules:
    """The ripple chains of one dictionary (``chains``), the fields that ripple
    (``keys``), their (destination, source) moves farthest first (``moves``) and every
    field of a chain (``fields``)."""

    __slots__ = ("_shapes", "chains", "fields", "groups", "keys", "moves", "targets")

    def __init__(self, targets: Mapping[str, str]) -> None:
        #: field -> the field that receives its previous value
        self.targets: dict[str, str] = dict(targets)
        self.chains: dict[str, tuple[str, ...]] = {
            n: c for n in self.targets if (c := _chain(self.targets, n))
        }
        self.keys = frozenset(self.chains)
        self.moves: dict[str, tuple[tuple[str, str], ...]] = {
            n: tuple(zip((n, *c)[:0:-1], (n, *c)[-2::-1], strict=True))
            for n, c in self.chains.items()
        }
        self.fields = frozenset(self.keys.union(*self.chains.values()))
        #: ripple field -> a bit per group of chains that share fields (the compiled core
        #: keeps the pure path's order for two fields of one update with a common bit)
        self.groups: dict[str, int] = _groups(self.moves)
        self._shapes: dict[frozenset[str], frozenset[str]] = {}

    def __repr__(self) -> str:
        return f"RippleRules({len(self.chains)} chains)"

    def whole_chains(self, image: Mapping[str, Any]) -> frozenset[str]:
        """The ripple fields of ``image`` whose whole chain (sources and destinations) it
        holds: those ripple without a membership check per move. One shared set per shape."""
        present = frozenset(image.keys() & self.fields)
        out = self._shapes.get(present)
        if out is None:
            out = frozenset(
                n for n, moves in self.moves.items() if present.issuperset(sum(moves, ()))
            )
            if len(self._shapes) < _SHAPES_MAX:
                self._shapes[present] = out
        return out

    def ripple(self, image: dict[str, Any], name: str) -> None:
        """Move the previous values of ``name``'s chain down in ``image`` (only the
        destinations it holds: a view may leave some of the chain out)."""
        for dst, src in self.moves[name]:
            if dst in image:
                image[dst] = image.get(src)


def _groups(moves: Mapping[str, tuple[tuple[str, str], ...]]) -> dict[str, int]:
    """Ripple field -> a bit per group of chains that share fields (BID with BID_1,
    TRDPRC_1 with TRDPRC_2...); fields of different groups touch disjoint chains, so any
    order of them gives the same image."""
    chains = {a: {f for m in ma for f in m} for a, ma in moves.items()}
    overlapping = {a for a in chains for b in chains if a != b and chains[a] & chains[b]}
    groups: list[set[str]] = []
    for a in sorted(overlapping):
        for g in groups:
            if any(chains[a] & chains[b] for b in g):
                g.add(a)
                break
        else:
            groups.append({a})
    merged = True
    while merged:  # join groups linked through a later member
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if any(chains[a] & chains[b] for a in groups[i] for b in groups[j]):
                    groups[i] |= groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    return {a: 1 << min(i, 62) for i, g in enumerate(groups) for a in g}


def _builtin() -> RippleRules:
    from .dictionary import builtin

    return RippleRules(_targets(builtin()))


def _targets(dictionary: Dictionary) -> dict[str, str]:
    return {n: f.ripple_to for n, f in dictionary.fields.items() if f.ripple_to is not None}


#: The builtin table's ripple rules (the compiled core's fast path knows these).
BUILTIN_RIPPLES = _builtin()


def ripple_rules(dictionary: Dictionary) -> RippleRules:
    """The ripple rules of ``dictionary``: :data:`BUILTIN_RIPPLES` itself when they are
    the builtin table's."""
    targets = _targets(dictionary)
    return BUILTIN_RIPPLES if targets == BUILTIN_RIPPLES.targets else RippleRules(targets)
