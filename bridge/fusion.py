"""Piano fusion: fingertips over the calibrated keyboard as evidence for or against each key's onset.

The fingertips (points 4, 8, 12, 16, 20 of each hand, in image pixels, from ``bridge.landmarks`` or from the
renderer's labels) are mapped through the calibration's homography onto the keyboard plane (mm). A key gets
evidence ``exp(-d^2 / 2 reach^2)``, ``d`` the distance (mm) from the nearest fingertip to the key's
rectangle, and holds it for ``hold_s`` before and after (a finger lands a little before the key shows it,
and detections jitter). Frames where no hand is seen carry no evidence (NaN): the key model's onsets pass
through unchanged there, so a missed hand cannot delete notes.

The key model's onset probabilities are then re-weighted: ``onset * (floor + (gain - floor) * evidence)``.
``floor`` 0 and ``gain`` 1 gate (no finger near: no onset); ``gain`` above 1 also lifts onsets under a finger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.geometry import BLACK_KEY_LENGTH_MM, WHITE_KEY_LENGTH_MM, apply_homography, is_black
from bridge.types import Activations, KeyboardGeometry

FINGERTIPS = (4, 8, 12, 16, 20)  # thumb, index, middle, ring, pinky tips in mediapipe's order
N_PIANO = 88
LOWEST_PIANO_PITCH = 21
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """``reach_mm``: how far from a key a fingertip still counts (the Gaussian's sigma); ``hold_s``: how long
    evidence lasts before and after the finger was seen; ``floor`` and ``gain``: the onset weight with no
    finger near and with a finger on the key."""

    reach_mm: float = 15.0
    hold_s: float = 0.1
    floor: float = 0.0
    gain: float = 1.0

    def __post_init__(self) -> None:
        if not (self.reach_mm > 0 and self.hold_s >= 0 and 0 <= self.floor <= 1 and self.gain >= self.floor):
            raise VmbError(f"fusion settings need reach_mm > 0, hold_s >= 0, 0 <= floor <= 1 and gain >= floor, "
                           f"got {self}")


def fingertips_on_plane(hands: NDArray[np.floating[Any]], geometry: KeyboardGeometry) -> FloatArray:
    """Fingertips ``(n, 2 * 5, 2)`` in keyboard-plane mm from hand points ``(n, 2, 21, >= 2)`` in image pixels
    (NaN where a hand is missing)."""
    points = np.asarray(hands, dtype=np.float64)
    if points.ndim != 4 or points.shape[1:3] != (2, 21) or points.shape[3] < 2:
        raise VmbError(f"hand points must have shape (n, 2, 21, 2 or more), got {points.shape}")
    tips = points[:, :, FINGERTIPS, :2].reshape(-1, 2)
    plane = np.full(tips.shape, np.nan)
    valid = np.all(np.isfinite(tips), axis=1)
    if valid.any():
        plane[valid] = apply_homography(geometry.homography, tips[valid])
    return plane.reshape(len(points), 2 * len(FINGERTIPS), 2)


def key_rectangles(geometry: KeyboardGeometry) -> FloatArray:
    """``(88, 4)`` left, right, back, front (mm) of each piano key on the keyboard; NaN for keys it lacks."""
    rectangles = np.full((N_PIANO, 4), np.nan)
    layout = geometry.layout
    for pitch in layout.pitches:
        if LOWEST_PIANO_PITCH <= pitch < LOWEST_PIANO_PITCH + N_PIANO:
            left, right = layout.x_range_mm(pitch)
            length = BLACK_KEY_LENGTH_MM if is_black(pitch) else WHITE_KEY_LENGTH_MM
            rectangles[pitch - LOWEST_PIANO_PITCH] = (left, right, 0.0, length)
    return rectangles


def finger_evidence(tips_mm: FloatArray, rectangles: FloatArray, reach_mm: float) -> FloatArray:
    """``(n, 88)`` in 0-1: how near the nearest fingertip is to each key; NaN rows where no fingertip is seen,
    0 for keys the keyboard lacks."""
    x, y = tips_mm[:, :, None, 0], tips_mm[:, :, None, 1]  # (n, tips, 1)
    left, right, back, front = (rectangles[None, None, :, i] for i in range(4))
    dx = np.maximum(np.maximum(left - x, x - right), 0.0)
    dy = np.maximum(np.maximum(back - y, y - front), 0.0)
    closeness = np.exp(-(dx * dx + dy * dy) / (2 * reach_mm * reach_mm))  # (n, tips, 88), NaN for unseen tips
    seen = np.isfinite(tips_mm[:, :, 0]).any(axis=1)
    evidence = np.where(np.isfinite(closeness), closeness, 0.0).max(axis=1, initial=0.0)
    return np.where(seen[:, None], evidence, np.nan)


def hold(evidence: FloatArray, times: NDArray[np.floating[Any]], hold_s: float) -> FloatArray:
    """Each frame's evidence is the highest seen within ``hold_s`` before or after it (NaN frames ignored;
    NaN where none of them saw a hand)."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) != len(evidence):
        raise VmbError(f"one time per evidence row needed: {len(t)} times, {len(evidence)} rows")
    first = np.searchsorted(t, t - hold_s - 1e-9, side="left")
    last = np.searchsorted(t, t + hold_s + 1e-9, side="right")
    held = np.full(evidence.shape, np.nan)
    filled = np.where(np.isfinite(evidence), evidence, -1.0)
    for i in range(len(t)):
        best = filled[first[i]:last[i]].max(axis=0)
        held[i] = np.where(best >= 0, best, np.nan)
    return held


class FingertipEvidence:
    """Per-frame "finger near this key" evidence for one clip, looked up by frame time."""

    def __init__(self, times: NDArray[np.floating[Any]], hands: NDArray[np.floating[Any]], geometry: KeyboardGeometry,
                 settings: FusionSettings | None = None) -> None:
        self.settings = settings or FusionSettings()
        self.times = np.asarray(times, dtype=np.float64)
        if len(self.times) != len(hands):
            raise VmbError(f"one time per frame of hands needed: {len(self.times)} times, {len(hands)} frames")
        raw = finger_evidence(fingertips_on_plane(hands, geometry), key_rectangles(geometry), self.settings.reach_mm)
        self.evidence = hold(raw, self.times, self.settings.hold_s)

    @property
    def seen_share(self) -> float:
        """Share of frames with evidence (a hand seen within ``hold_s``)."""
        return float(np.isfinite(self.evidence[:, 0]).mean()) if len(self.evidence) else 0.0

    def at(self, t: float, tolerance: float = 0.02) -> FloatArray | None:
        """The evidence row of the frame at time ``t`` (None when no frame is that near or no hand was seen)."""
        if not len(self.times):
            return None
        after = int(np.searchsorted(self.times, t))
        i = min((k for k in (after - 1, after) if 0 <= k < len(self.times)), key=lambda k: abs(self.times[k] - t))
        row: FloatArray = self.evidence[i]
        if abs(self.times[i] - t) > tolerance or not np.isfinite(row[0]):
            return None
        return row

    def fuse(self, activations: Activations) -> Activations:
        """The activations with their onsets re-weighted by the evidence of their frame."""
        row = self.at(activations.t)
        if row is None:
            return activations
        return dataclasses.replace(activations, onset=weighted_onsets(activations.onset, row, self.settings))

    def fuse_all(self, activations: Sequence[Activations]) -> list[Activations]:
        return [self.fuse(a) for a in activations]


def weighted_onsets(onset: NDArray[np.float32], evidence: FloatArray, settings: FusionSettings) -> NDArray[np.float32]:
    """``onset * (floor + (gain - floor) * evidence)``, clipped to 0-1; keys without evidence (NaN) unchanged."""
    weight = settings.floor + (settings.gain - settings.floor) * evidence
    weight = np.where(np.isfinite(weight), weight, 1.0)
    return np.clip(onset * weight, 0.0, 1.0).astype(np.float32)
