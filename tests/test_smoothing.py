from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import VmbError
from bridge.smoothing import OneEuroFilter, OneEuroSettings, smooth_track
from tests.strategies import floats

T = np.arange(300) / 30.0


def test_still_point_jitter_is_reduced() -> None:
    noisy = 100.0 + np.random.default_rng(0).normal(0, 2.0, (len(T), 2))
    smoothed = smooth_track(T, noisy, OneEuroSettings(min_cutoff=1.0, beta=0.0))
    assert np.std(smoothed[30:], axis=0).max() < 0.5 * np.std(noisy[30:], axis=0).min()
    assert np.allclose(smoothed[30:].mean(axis=0), 100.0, atol=1.0)


def test_beta_reduces_lag_on_fast_motion() -> None:
    ramp = (T * 600.0)[:, None]  # 600 px/s
    slow = smooth_track(T, ramp, OneEuroSettings(min_cutoff=1.0, beta=0.0))
    fast = smooth_track(T, ramp, OneEuroSettings(min_cutoff=1.0, beta=0.05))
    lag_slow, lag_fast = (float(ramp[-1, 0] - s[-1, 0]) for s in (slow, fast))
    assert 0 <= lag_fast < 0.2 * lag_slow


def test_missing_sample_resets_and_the_next_one_passes_through() -> None:
    filt = OneEuroFilter(OneEuroSettings(min_cutoff=0.5))
    filt(0.0, np.array([0.0, 0.0]))
    filt(0.033, np.array([1.0, 1.0]))
    passed = filt(0.066, np.array([np.nan, 7.0]))
    assert np.isnan(passed[0]) and passed[1] == 7.0
    assert np.array_equal(filt(0.1, np.array([500.0, 20.0])), [500.0, 20.0])


def test_repeated_timestamp_keeps_the_estimate() -> None:
    filt = OneEuroFilter()
    first = filt(1.0, 5.0)
    assert filt(1.0, 50.0) == first


@settings(max_examples=30, deadline=None)
@given(st.lists(floats(-1000, 1000), min_size=4, max_size=40), st.integers(1, 3))
def test_causal_the_future_does_not_change_the_past(values: list[float], cut: int) -> None:
    t = np.arange(len(values)) / 30.0
    full = smooth_track(t, np.array(values)[:, None])
    changed = np.array(values)[:, None]
    changed[-cut:] += 123.0
    assert np.array_equal(smooth_track(t, changed)[:-cut], full[:-cut])


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(VmbError, match="min_cutoff"):
        OneEuroSettings(min_cutoff=0.0)
    with pytest.raises(VmbError, match="one time per row"):
        smooth_track(T[:5], np.zeros((6, 2)))
