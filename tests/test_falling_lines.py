"""Score lines (a line across the keyboard at each measure, behind the bars) are taken out of the band."""

from __future__ import annotations

import numpy as np

from bridge.falling_lines import hide_score_lines

BACKGROUND = 0.05
BAR = 0.6


def _band(n_keys: int = 40, n_rows: int = 30, level: float = BACKGROUND) -> np.ndarray:
    return np.full((n_keys, n_rows, 3), level, np.float32)


def test_a_line_across_most_keys_is_taken_out_but_fronts_and_outlines_at_its_row_stay() -> None:
    empty = _band()
    band = empty.copy()
    band[:30, 14:16] = BACKGROUND + 0.2  # the line, on 30 of 40 keys (hidden by opaque bars on the rest)
    band[0, 15:] = BAR  # a bar whose front is at the line's row (a note on the downbeat)
    band[31, 5:] = BAR  # two touching bars, their outline at the line's row
    band[31, 14:16] = BAR / 2
    cleaned = hide_score_lines(band, band - empty)
    assert np.allclose(cleaned[1:30], BACKGROUND)
    assert np.allclose(cleaned[31], band[31])
    assert np.allclose(cleaned[0, :12], BACKGROUND) and np.allclose(cleaned[0, 18:], BAR)
    assert np.all(np.diff(cleaned[0, :, 0]) >= 0)  # still one rise from background to bar
    assert np.allclose(band[1, 14], BACKGROUND + 0.2)  # the band read is left as it was


def test_stripes_on_a_few_keys_are_bars_not_a_line() -> None:
    empty = _band()
    band = empty.copy()
    band[:10, 14:16] = BAR  # a chord of short bars
    assert hide_score_lines(band, band - empty) is band


def test_a_dark_line_on_a_light_background_is_taken_out() -> None:
    empty = _band(level=0.8)
    band = empty.copy()
    band[:, 20:22] = 0.5
    assert np.allclose(hide_score_lines(band, band - empty), 0.8)


def test_a_stripe_that_was_always_there_stays() -> None:
    band = _band()
    band[:, 14:16] = BACKGROUND + 0.2  # part of the empty look (the edge of a fallboard, a static rule)
    assert hide_score_lines(band, band - band) is band
