"""benchmarks.wakeup: every variant reads each frame in its own loop iteration, whole."""

from __future__ import annotations

from benchmarks import wakeup


def test_each_variant_gets_every_frame_one_wakeup_at_a_time() -> None:
    # measure() asserts that every frame reached the callback and, where the stamp is
    # read, that it is the frame's
    out = wakeup.measure(list(wakeup.VARIANTS), items=20, rounds=1, frames_per_run=500)
    assert set(out) == set(wakeup.VARIANTS)
    assert all(len(v) == 1 and v[0] > 0 for v in out.values())
