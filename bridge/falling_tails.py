"""Bar tails followed down the band above each key: when a note ends, timed between frames.

A bar's upper end (bar below, the band's empty look above) falls with the bar and reaches the keys when the
note ends, as its front did when the note started. Seen at row r it arrives (r - hit_row) / speed seconds later.
Only a tail that falls is believed: one seen in two samples, lower in the second by about what the bars' speed
says. What stands still (the glow of a lit key next door, which may stand in the lowest rows in the bar's very
colour for as long as that key sounds; a logo's edge) is never taken for a tail.

The tracker uses the arrival twice: a sounding key still lit well after its bar's tail reached it (a neighbour's
glow) ends there; and a note that ends between two samples far apart (only I and P frames decoded) ends when
its tail arrived rather than halfway between them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

EMPTY_ROWS = 3  # rows of empty look above a tail (an outline between two touching bars is thinner)
SPEED_AGREEMENT = 0.35  # a tail falls at the bars' speed within this share
MAX_SIGHTING_GAP_S = 0.15  # two sightings further apart than this are not joined

FloatArray = NDArray[np.float32]


def find_tails(bar_rows: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Per key, the position (in rows) of the lowest bar end in the band: the boundary between a bar row and
    EMPTY_ROWS rows above it that are not bar (they show the empty look); NaN where there is none."""
    n_keys, n_rows = bar_rows.shape
    empty_rows = ~bar_rows
    tails = np.full(n_keys, np.nan)
    if n_rows < EMPTY_ROWS + 2:
        return tails
    ends = bar_rows[:, : n_rows - EMPTY_ROWS].copy()  # row r - 1 is bar ...
    for above in range(1, EMPTY_ROWS + 1):  # ... and rows r .. r + EMPTY_ROWS - 1 are empty
        ends &= empty_rows[:, above: n_rows - EMPTY_ROWS + above]
    found = ends.any(axis=1)
    tails[found] = np.argmax(ends[found], axis=1) + 1.0  # the boundary above row r - 1
    return tails


class TailTracker:
    """Feed each sample's bar cells with :meth:`see`; ``due[k]`` is when the last tail followed down key
    k's band reaches the keys (-inf before any)."""

    def __init__(self, n_keys: int, hit_row: float) -> None:
        self.hit_row = hit_row
        self.seen_at = np.full(n_keys, -np.inf)
        self.seen_row = np.full(n_keys, np.nan)
        self.due = np.full(n_keys, -np.inf)

    def see(self, t: float, bar_rows: NDArray[np.bool_], speed: float | None) -> None:
        tails = find_tails(bar_rows)
        if speed is not None and speed > 0:
            elapsed = t - self.seen_at
            fell = self.seen_row - tails
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = fell / elapsed
                falling = ((elapsed > 0) & (elapsed <= MAX_SIGHTING_GAP_S) & (fell > 0)
                           & (np.abs(rate / speed - 1.0) <= SPEED_AGREEMENT))
            self.due[falling] = t + (tails[falling] - self.hit_row) / speed
        seen = ~np.isnan(tails)
        self.seen_at[seen], self.seen_row[seen] = t, tails[seen]
        self.seen_at[~seen], self.seen_row[~seen] = -np.inf, np.nan
