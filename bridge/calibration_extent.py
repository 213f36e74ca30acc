"""Where the keyboard ends: walking white keys outwards from the black keys on the canonical plane.

A white key counts while its front part is bright and, where the pattern puts a black key beside it,
that black key is dark. A walk that reaches the image border means the keyboard runs out of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import (
    BLACK_KEY_LENGTH_MM,
    SLOT_WIDTH_MM,
    WHITE_KEY_LENGTH_MM,
    WHITE_KEY_WIDTH_MM,
    apply_homography,
)

WHITE_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)
_MAX_WALK = 60  # white keys beyond the outermost black key; more than any keyboard has


@dataclass(frozen=True, slots=True)
class Extent:
    """Visible white keys as semitones from the reference C, and whether each end runs past the image edge."""

    lowest: int
    highest: int
    cut_low: bool
    cut_high: bool
    flush_low: bool  # cut exactly at a key edge: the keyboard may end at the image border
    flush_high: bool
    white_level: float
    black_level: float


def white_semitone(white: int) -> int:
    """Semitone (from the reference C) of the white key with this index (0 = the reference C)."""
    return 12 * (white // 7) + WHITE_PITCH_CLASSES[white % 7]


def white_of_semitone(semitone: int) -> int:
    return 7 * (semitone // 12) + WHITE_PITCH_CLASSES.index(semitone % 12)


def _cell_level(grey: NDArray[np.uint8], to_image: NDArray[np.float64], x0: float, x1: float,
                y0: float, y1: float, min_inside: float = 1.0) -> float | None:
    """Median grey of a plane rectangle (mm) sampled on a 5x5 grid; None if less than ``min_inside`` is in view."""
    xs = np.linspace(x0, x1, 5)
    ys = np.linspace(y0, y1, 5)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    pts = apply_homography(to_image, grid)
    height, width = grey.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 1] >= 0) & (pts[:, 0] < width - 1) & (pts[:, 1] < height - 1)
    if inside.mean() < min_inside - 1e-9 or not inside.any():
        return None
    pts = pts[inside].astype(np.float32)
    values = cv2.remap(grey, pts[:, 0].reshape(1, -1), pts[:, 1].reshape(1, -1), cv2.INTER_LINEAR)
    return float(np.median(values))


def _white_level(grey: NDArray[np.uint8], to_image: NDArray[np.float64], white: int,
                 min_inside: float = 1.0) -> float | None:
    left = white * WHITE_KEY_WIDTH_MM
    return _cell_level(grey, to_image, left + 5.0, left + WHITE_KEY_WIDTH_MM - 5.0,
                       BLACK_KEY_LENGTH_MM + 10.0, WHITE_KEY_LENGTH_MM - 8.0, min_inside)


def _black_level(grey: NDArray[np.uint8], to_image: NDArray[np.float64], semitone: int) -> float | None:
    left = semitone * SLOT_WIDTH_MM
    return _cell_level(grey, to_image, left + 3.5, left + SLOT_WIDTH_MM - 3.5, 15.0, BLACK_KEY_LENGTH_MM - 15.0)


def find_extent(grey: NDArray[np.uint8], image_to_plane: NDArray[np.float64], semitones: list[int]) -> Extent:
    """Walk from the outermost black keys to the last white key that is still there, on both sides."""
    to_image = np.linalg.inv(image_to_plane)
    first_white = white_of_semitone(min(semitones) - 1)
    last_white = white_of_semitone(max(semitones) + 1)
    inner = [_white_level(grey, to_image, w) for w in range(first_white, last_white + 1)]
    blacks = [_black_level(grey, to_image, s) for s in semitones]
    white_level = float(np.median([v for v in inner if v is not None] or [255.0]))
    black_level = float(np.median([v for v in blacks if v is not None] or [0.0]))
    threshold = (white_level + black_level) / 2
    low, cut_low, flush_low = _walk(grey, to_image, first_white, -1, threshold)
    high, cut_high, flush_high = _walk(grey, to_image, last_white, 1, threshold)
    return Extent(white_semitone(low), white_semitone(high), cut_low, cut_high, flush_low, flush_high,
                  white_level, black_level)


def _walk(grey: NDArray[np.uint8], to_image: NDArray[np.float64], start: int, step: int,
          threshold: float) -> tuple[int, bool, bool]:
    """The outermost white key present from ``start``; whether the image cut the walk; whether exactly at a key edge."""
    current = start
    for _ in range(_MAX_WALK):
        if _white_level(grey, to_image, current) is not None:
            break
        current -= step  # the key next to the outermost black key is itself cut by the image edge
    else:
        return start, True, False
    if current != start:
        return current, True, False
    for _ in range(_MAX_WALK):
        candidate = current + step
        level = _white_level(grey, to_image, candidate)
        if level is None:
            # Partly in view: a dark part means the keyboard ended; bright, or too little in view, means it goes on.
            partial = _white_level(grey, to_image, candidate, min_inside=0.3)
            return current, partial is None or partial >= threshold, partial is None
        if level < threshold:
            return current, False, False
        between = white_semitone(max(candidate, current)) - 1
        if between % 12 not in WHITE_PITCH_CLASSES:
            black = _black_level(grey, to_image, between)
            if black is not None and black > threshold:
                return current, False, False
        current = candidate
    return current, False, False
