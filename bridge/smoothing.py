"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012): causal smoothing for noisy keypoints.

A low-pass filter whose cutoff rises with the signal's speed: still keypoints are smoothed hard (no
jitter), fast ones barely (little lag). It looks at the current sample and the past only, so it adds no
frames of delay in live use. NaN (a missing detection) resets the filter: the next valid sample passes
through unchanged, so a hand that reappears elsewhere does not glide in from its old position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OneEuroSettings:
    """``min_cutoff`` (Hz): smoothing when still (lower = smoother); ``beta``: how fast the cutoff rises
    with speed (higher = less lag); ``d_cutoff`` (Hz): smoothing of the speed estimate itself."""

    min_cutoff: float = 1.0
    beta: float = 0.01
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise VmbError(f"One Euro settings need min_cutoff > 0, d_cutoff > 0 and beta >= 0, got {self}")


def _alpha(cutoff: FloatArray | float, dt: float) -> FloatArray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a stream of same-shaped arrays (for example 21x3 hand points), one call per timestamp."""

    def __init__(self, settings: OneEuroSettings | None = None) -> None:
        self.settings = settings or OneEuroSettings()
        self._t: float | None = None
        self._value: FloatArray | None = None
        self._speed: FloatArray | None = None

    def reset(self) -> None:
        self._t = None
        self._value = None
        self._speed = None

    def __call__(self, t: float, value: NDArray[np.floating[Any]] | float) -> FloatArray:
        sample = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(sample)):
            self.reset()
            return sample.copy()
        if self._t is None or self._value is None or self._speed is None or self._value.shape != sample.shape:
            self._t, self._value, self._speed = t, sample.copy(), np.zeros_like(sample)
            return sample.copy()
        dt = t - self._t
        if dt <= 0:  # a repeated or out-of-order timestamp: keep the last estimate
            return self._value.copy()
        raw_speed = (sample - self._value) / dt
        self._speed = self._speed + _alpha(self.settings.d_cutoff, dt) * (raw_speed - self._speed)
        cutoff = self.settings.min_cutoff + self.settings.beta * np.abs(self._speed)
        self._value = self._value + _alpha(cutoff, dt) * (sample - self._value)
        self._t = t
        return self._value.copy()


def smooth_track(t: NDArray[np.floating[Any]], values: NDArray[np.floating[Any]],
                 settings: OneEuroSettings | None = None) -> FloatArray:
    """Run a fresh filter over ``values[n, ...]`` sampled at ``t[n]``; rows holding any NaN stay NaN."""
    times = np.asarray(t, dtype=np.float64)
    if len(times) != len(values):
        raise VmbError(f"smooth_track needs one time per row: {len(times)} times, {len(values)} rows")
    filt = OneEuroFilter(settings)
    out = np.empty(values.shape, dtype=np.float64)
    for i, row in enumerate(values):
        out[i] = filt(float(times[i]), row)
    return out
