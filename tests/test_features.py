from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import features
from bridge.features import (
    FUTURE_FRAMES,
    N_CHANNELS,
    FeatureStream,
    clip_backgrounds,
    model_input,
    sample_columns,
    window_indices,
)


def _grays(n: int, seed: int, width: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, width), dtype=np.float32)


def _offline(grays: np.ndarray) -> list[np.ndarray]:
    backgrounds = clip_backgrounds(grays)
    return [model_input(grays[window_indices(i, len(grays))], backgrounds[i]) for i in range(len(grays))]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 14), seed=st.integers(0, 2**16), chunk=st.integers(1, 5))
def test_streaming_features_equal_the_offline_ones(n: int, seed: int, chunk: int) -> None:
    grays = _grays(n, seed)
    stream = FeatureStream()
    got: list[tuple[float, np.ndarray]] = []
    for i in range(n):
        ready = stream.push(grays[i], i / 30)
        # A target comes out once its look-ahead has arrived, not before.
        assert all(t <= (i - FUTURE_FRAMES) / 30 + 1e-9 for t, _ in ready)
        got += ready
    got += stream.flush()
    assert [t for t, _ in got] == [i / 30 for i in range(n)]
    for (_, streamed), offline in zip(got, _offline(grays), strict=True):
        np.testing.assert_allclose(streamed, offline, rtol=1e-5, atol=1e-5)


def test_input_has_background_and_window_channels() -> None:
    grays = _grays(6, 0)
    inputs = _offline(grays)[3]
    assert inputs.shape == (N_CHANNELS, 8, 24)
    # Channel 0 is the centred background; the others are frame minus background over the same scale.
    background = clip_backgrounds(grays)[3]
    scale = background.std() + features.MIN_SCALE
    np.testing.assert_allclose(inputs[0], (background - background.mean()) / scale, atol=1e-5)
    target = grays[3]
    np.testing.assert_allclose(inputs[1 + features.PAST_FRAMES], (target - background) / scale, atol=1e-5)


def test_background_only_holds_frames_before_the_window() -> None:
    grays = _grays(16, 1)
    backgrounds = clip_backgrounds(grays)
    changed = grays.copy()
    changed[8:] += 0.5  # frames from 8 on cannot reach the background of targets up to 8 + PAST_FRAMES
    np.testing.assert_array_equal(clip_backgrounds(changed)[: 9 + features.PAST_FRAMES],
                                  backgrounds[: 9 + features.PAST_FRAMES])
    assert not np.allclose(clip_backgrounds(changed)[-1], backgrounds[-1])


def test_input_ignores_a_brightness_offset_and_mostly_a_gain() -> None:
    grays = _grays(6, 2)
    window, background = grays[window_indices(2, 6)], clip_backgrounds(grays)[2]
    base = model_input(window, background)
    np.testing.assert_allclose(model_input(window + 0.2, background + 0.2), base, atol=1e-5)
    gained = model_input(window * 1.5, background * 1.5)
    assert np.abs(gained - base).max() < 0.1 * np.abs(base).max()


def test_columns_are_read_at_key_centres_by_interpolation() -> None:
    columns = np.arange(10, dtype=np.float32)[None, :] * np.array([[1.0], [2.0]], dtype=np.float32)
    stride = features.OUTPUT_STRIDE
    centres = np.array([stride * 3 + stride / 2, stride * 3 + stride, 0.0, 1000.0])
    sampled = sample_columns(columns, centres)
    np.testing.assert_allclose(sampled[0], [3.0, 3.5, 0.0, 9.0])
    np.testing.assert_allclose(sampled[1], [6.0, 7.0, 0.0, 18.0])
