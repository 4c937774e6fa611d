"""The cyclic garbage collector in a long-lived session: the heap frozen after a burst of images.

A session holding 100,000 images holds a few hundred thousand objects that CPython's cyclic
collector tracks (streams, requests, health records, images and their values). A full
collection (generation 2) walks every one of them: 60-220 ms for 100,000 images on a 2-core
machine (docs/performance.md), during which no frame is read. CPython runs one whenever the
objects that survived the younger collections since the last full one reach a quarter of the
long-lived ones, so any application that keeps some of what it allocates (a history, rows
for a DataFrame) gets such a pause every so often, and during a large subscription's burst of
Refreshes several.

:class:`HeapFreezer` moves every tracked object into the collector's permanent generation
(:func:`gc.freeze`) once a burst of at least ``min_images`` images is over (no new image
between two ticks of the session's timer, at most a second apart): no collection walks them
afterwards. Reference counting still frees them as usual when the session drops them; only
garbage in reference cycles among them waits, until the next burst's freeze (which unfreezes
and collects first) or the session's end (which unfreezes). :func:`gc.freeze` is for the
whole process: a session freezes what the application holds at that moment too, which is
what the application wants of a long-lived process (see the :mod:`gc` docs).
"""

from __future__ import annotations

import gc

from ..exceptions import ConfigError

__all__ = ["DEFAULT_MIN_IMAGES", "HeapFreezer"]

#: Images in a burst from which the session freezes the heap after it (``Session(gc_freeze=)``):
#: under that, a full collection takes a few milliseconds at most.
DEFAULT_MIN_IMAGES = 10_000


class HeapFreezer:
    """Freezes the heap when a burst of at least ``min_images`` images has ended.

    The session counts each image (``images += 1``, off the path of Updates) and calls
    :meth:`tick` from its timer; :meth:`release` at its end."""

    def __init__(self, min_images: int) -> None:
        if isinstance(min_images, bool) or not isinstance(min_images, int) or min_images < 1:
            raise ConfigError(f"gc_freeze must be a positive integer or None, got {min_images!r}")
        self.min_images = min_images
        #: images received (Refreshes given to the session's streams)
        self.images = 0
        #: times this session froze the heap
        self.freezes = 0
        self._at_freeze = 0  # ``images`` at the last freeze
        self._seen = 0  # ``images`` at the last tick

    def tick(self) -> bool:
        """Freeze if a burst of enough images ended since the last tick; True if it did."""
        images = self.images
        burst_over = images == self._seen
        self._seen = images
        if not burst_over or images - self._at_freeze < self.min_images:
            return False
        self.freeze()
        return True

    def freeze(self) -> None:
        """Collect, then move every tracked object to the permanent generation."""
        if self.freezes:
            # What a former freeze kept out of reach (e.g. the images of a connection
            # since replaced) is looked at once, now, rather than never.
            gc.unfreeze()
            gc.collect()
        else:
            gc.collect(1)  # the young garbage; the old generation is the heap to freeze
        gc.freeze()
        self.freezes += 1
        self._at_freeze = self.images

    def release(self) -> None:
        """Give the frozen objects back to the collector (the session's end)."""
        if self.freezes:
            gc.unfreeze()
            self._at_freeze = self.images
