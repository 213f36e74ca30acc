"""What the key model sees: rectified strips, a causal background, and a short window of frames.

Training (``models/keys``) and inference (``bridge.model``) both build their input here, so the model sees
in use exactly what it saw in training.

For the target frame ``i`` the input holds ``WINDOW`` frames, ``i - PAST_FRAMES`` to ``i + FUTURE_FRAMES``,
each as its difference from a background, plus the background itself. The background of frame ``i`` is a
running per-pixel average (rate ``BACKGROUND_RATE``) of the frames *before* the window (``0 .. i -
PAST_FRAMES - 1``; the first frame alone when there are none), so a key that goes down inside the window
stands out against how it looked before. Every channel is divided by the spread of the background's pixels
(and the background is centred on its mean), which cancels the camera's gain and offset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.rectify import StripSpec

STRIP_SPEC = StripSpec(px_per_white_key=8.0, height=32, margin_mm=20.0)
PAST_FRAMES = 3
FUTURE_FRAMES = 1
WINDOW = PAST_FRAMES + 1 + FUTURE_FRAMES
N_CHANNELS = WINDOW + 1
BACKGROUND_RATE = 0.05
MIN_SCALE = 0.02
OUTPUT_STRIDE = 2  # strip pixels per model output column

Gray = NDArray[np.float32]


# A video's luma (studio range 16-235) as full-range grey 0-255: the grey levels OpenCV's BGR-to-grey gives of
# the decoded frame, within a level (and ffmpeg's own gray conversion exactly), computed from the luma plane alone
# so that every reader of a file (the keyboard crop offline, whole frames live) hands the model the same pixels.
LUMA_TO_GREY = np.clip(np.round((np.arange(256) - 16) * (255 / 219)), 0, 255).astype(np.uint8)


def luma_to_grey(luma: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Studio-range luma (h, w) as full-range grey levels (h, w)."""
    return np.asarray(cv2.LUT(luma, LUMA_TO_GREY), np.uint8)


def grey_to_float(grey: NDArray[np.uint8]) -> Gray:
    """Grey levels (h, w) uint8 as 0-1."""
    return np.asarray(grey, dtype=np.float32) * np.float32(1 / 255)


def to_gray(strip: NDArray[np.uint8]) -> Gray:
    """A BGR strip (h, w, 3) as grey levels in 0-1."""
    return grey_to_float(np.asarray(cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY), np.uint8))


def clip_backgrounds(grays: NDArray[np.float32]) -> NDArray[np.float32]:
    """The background of every target frame of a whole clip (n, h, w): the streaming rule, offline."""
    n = len(grays)
    backgrounds = np.empty(grays.shape, np.float32)
    state = np.asarray(grays[0], np.float32).copy()
    for i in range(n):
        newest_before_window = i - PAST_FRAMES - 1
        if newest_before_window >= 1:
            state += BACKGROUND_RATE * (np.asarray(grays[newest_before_window], np.float32) - state)
        backgrounds[i] = state
    return backgrounds


def window_indices(target: int, n_frames: int) -> NDArray[np.int64]:
    """Frame indices of the window of ``target``, clamped to the clip (edges repeat the first/last frame)."""
    return np.clip(np.arange(target - PAST_FRAMES, target + FUTURE_FRAMES + 1), 0, n_frames - 1)


def background_stats(background: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Mean and spread (plus ``MIN_SCALE``) of a background's pixels, shape (..., 1, 1)."""
    mean = background.mean(axis=(-2, -1), keepdims=True)
    scale = background.std(axis=(-2, -1), keepdims=True) + np.float32(MIN_SCALE)
    return mean.astype(np.float32), scale.astype(np.float32)


def model_input(window: NDArray[np.float32], background: NDArray[np.float32],
                stats: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None) -> NDArray[np.float32]:
    """Model input (..., N_CHANNELS, h, w) from window frames (..., WINDOW, h, w) and background (..., h, w).

    ``stats`` are the :func:`background_stats` that normalise (default: the background's own; training
    passes the whole strip's when it feeds a crop).
    """
    mean, scale = background_stats(background) if stats is None else stats
    inv = np.float32(1.0) / scale
    centred = (background - mean) * inv
    diffs = (window - background[..., None, :, :]) * inv[..., None, :, :]
    return np.asarray(np.concatenate([centred[..., None, :, :], diffs], axis=-3), dtype=np.float32)


def sample_columns(columns: NDArray[np.float32], centres_px: NDArray[np.float64]) -> NDArray[np.float32]:
    """Model output (..., c, w_out) read at strip x positions (n_keys,) by linear interpolation -> (..., c, n_keys)."""
    position = np.clip((np.asarray(centres_px) - OUTPUT_STRIDE / 2) / OUTPUT_STRIDE, 0, columns.shape[-1] - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, columns.shape[-1] - 1)
    weight = (position - left).astype(np.float32)
    sampled: NDArray[np.float32] = columns[..., left] * (1 - weight) + columns[..., right] * weight
    return sampled


class FeatureStream:
    """Streaming version of :func:`clip_backgrounds` + :func:`model_input`: grey strips in, inputs out.

    ``push`` returns the inputs of the target frames whose look-ahead has now arrived, with their
    timestamps; ``flush`` returns the rest, the missing look-ahead filled with the last frame.
    """

    def __init__(self) -> None:
        self._frames: deque[Gray] = deque()  # the current window's frames, oldest first
        self._times: deque[float] = deque()  # timestamps of targets not yet emitted
        self._background: Gray | None = None
        self._seen = 0
        self._emitted = 0
        self._first: Gray | None = None

    @property
    def lookahead_frames(self) -> int:
        return FUTURE_FRAMES

    def push(self, gray: Gray, t: float) -> list[tuple[float, NDArray[np.float32]]]:
        if self._first is None:
            self._first = gray
            self._background = gray.copy()
        self._frames.append(gray)
        self._times.append(t)
        self._seen += 1
        out = []
        while self._emitted + FUTURE_FRAMES < self._seen:
            out.append(self._emit(self._emitted + FUTURE_FRAMES))
        return out

    def flush(self) -> list[tuple[float, NDArray[np.float32]]]:
        out = []
        while self._emitted < self._seen:
            out.append(self._emit(self._seen - 1))
        return out

    def _emit(self, newest: int) -> tuple[float, NDArray[np.float32]]:
        """The input of target ``self._emitted``, given frames up to index ``newest``."""
        target = self._emitted
        assert self._first is not None and self._background is not None
        first_index = self._seen - len(self._frames)
        window = [self._first if i < first_index else self._frames[i - first_index]
                  for i in (min(max(i, 0), newest) for i in range(target - PAST_FRAMES, target + FUTURE_FRAMES + 1))]
        result = (self._times.popleft(), _model_input_of(window, self._background))
        self._emitted += 1
        self._advance_background()
        return result

    def _advance_background(self) -> None:
        """Fold the frame that leaves the next target's window into the background; drop frames no longer needed."""
        assert self._background is not None
        leaving = self._emitted - PAST_FRAMES - 1
        first_index = self._seen - len(self._frames)
        if leaving >= 1:
            self._background += BACKGROUND_RATE * (self._frames[leaving - first_index] - self._background)
        while self._frames and self._seen - len(self._frames) < self._emitted - PAST_FRAMES:
            self._frames.popleft()


def _model_input_of(window: Sequence[Gray], background: Gray) -> NDArray[np.float32]:
    """:func:`model_input` of one target, written in place: the same operations in the same order (so the same
    floats) without stacking the window and concatenating the channels."""
    mean, scale = background_stats(background)
    inv = np.float32(1.0) / scale
    out = np.empty((N_CHANNELS, *background.shape), np.float32)
    np.multiply(np.subtract(background, mean, out=out[0]), inv, out=out[0])
    for channel, frame in enumerate(window, start=1):
        np.subtract(frame, background, out=out[channel])
    np.multiply(out[1:], inv, out=out[1:])
    return out


def key_centres_px(centres_mm: Sequence[float], strip_width: int, keyboard_width_mm: float) -> NDArray[np.float64]:
    """Strip x (pixels) of key centres given in mm from the keyboard's left edge."""
    return np.asarray(centres_mm, dtype=np.float64) * (strip_width / keyboard_width_mm)
