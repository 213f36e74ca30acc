"""Score lines behind falling bars: taken out of the band before it is read.

MIDI visualizers draw a thin line across the keyboard at each measure, falling with the bars, and still lines at
each octave. Where no opaque bar hides it, a measure line is a thin stripe at one row of nearly every key's band: a
front on every empty key and seen through every translucent bar, that split held notes and started notes on keys
that a hand made look lit (false notes at the measures of hybrid renders). Bars, outlines and letters make stripes
on a few keys at a time, never across most of the keyboard. Still lines (octaves) make no rows and stay.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bridge.falling_glow import LUMA
from bridge.falling_sampling import FloatArray

# a row is a score line where the band at it differs from the rows STRIPE_SIDE above and below, all in one direction,
# by STRIPE_LIFT (normalised luma, 1 = white keys over black ones) on SCORE_LINE_SHARE of the keys: a stripe up to
# 2 * STRIPE_SIDE - 1 rows thick
STRIPE_SIDE = 2
STRIPE_LIFT = 0.03
SCORE_LINE_SHARE = 0.5
FEW_KEYS = 6  # every 6th key first: rows where a stripe shows on MAYBE_SHARE of them are looked at on every key
MAYBE_SHARE = 0.25


def hide_score_lines(band: FloatArray, band_diff: FloatArray) -> FloatArray:
    """``band[K, R, 3]`` with each score line's stripe replaced, on the keys that show it, by what lies just above and
    below it (interpolated); ``band`` itself where there is none. ``band_diff``: the band minus its empty look, so
    that stripes that were always there stay."""
    if band.shape[1] < 2 * STRIPE_SIDE + 1:
        return band
    # most samples have none: every few keys tell where one may be (a share well under the one asked for)
    few = band_diff[::FEW_KEYS] @ LUMA
    maybe = [sign for sign in (1.0, -1.0) if _shown_on(_stripe_lift(sign * few), MAYBE_SHARE).any()]
    if not maybe:
        return band
    luma = band_diff @ LUMA
    cleaned = band
    for sign in maybe:
        lift = _stripe_lift(sign * luma)
        for first, last in _runs(np.flatnonzero(_shown_on(lift, SCORE_LINE_SHARE))):
            cleaned = band.copy() if cleaned is band else cleaned
            keys = np.flatnonzero((lift[:, first: last + 1] > 0).any(axis=1))
            _bridge_rows(cleaned, keys, first + STRIPE_SIDE - 1, last + STRIPE_SIDE + 1)
    return cleaned


def _shown_on(lift: FloatArray, share: float) -> NDArray[np.bool_]:
    """Per row of ``lift[K, R']``, whether a stripe shows (STRIPE_LIFT) on ``share`` of the keys."""
    return np.asarray(np.count_nonzero(lift > STRIPE_LIFT, axis=0) >= share * len(lift), dtype=bool)


def _stripe_lift(luma: FloatArray) -> FloatArray:
    """How much brighter each row (STRIPE_SIDE to R - STRIPE_SIDE - 1) of ``luma[K, R]`` is than both rows
    STRIPE_SIDE away."""
    side = np.maximum(luma[:, :-2 * STRIPE_SIDE], luma[:, 2 * STRIPE_SIDE:])
    return np.asarray(luma[:, STRIPE_SIDE:-STRIPE_SIDE] - side, dtype=np.float32)


def _runs(rows: NDArray[np.intp]) -> list[tuple[int, int]]:
    """Runs of consecutive ``rows`` (sorted): (first, last) of each."""
    breaks = np.flatnonzero(np.diff(rows) > 1)
    firsts = np.concatenate([rows[:1], rows[breaks + 1]])
    lasts = np.concatenate([rows[breaks], rows[-1:]])
    return list(zip(firsts.tolist(), lasts.tolist(), strict=True))


def _bridge_rows(band: FloatArray, keys: NDArray[np.intp], first: int, last: int) -> None:
    """Rows ``first``..``last`` of ``keys`` replaced in place by a straight blend of the rows just outside them
    (the stripe's anti-aliased rows on either side included)."""
    low, high = max(first - 1, 0), min(last + 1, band.shape[1] - 1)
    weights = ((np.arange(first, last + 1) - low) / max(high - low, 1)).astype(np.float32)[None, :, None]
    below, above = band[keys, low][:, None], band[keys, high][:, None]
    band[keys, first: last + 1] = below + weights * (above - below)
