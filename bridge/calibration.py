"""Keyboard calibration: find the keyboard and every key in frames of one camera, automatically.

``calibrate_images`` takes the per-pixel median of the frames (hands and falling bars move, the keys
do not), finds the black keys (``calibration_detect``), fits the homography from their ends, walks the
white keys out to the keyboard's ends (``calibration_extent``) and names the octave from the key count
of a standard keyboard, from ``--lowest-key`` / ``--keys``, or by an assumption it records.
See docs/calibration.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.calibration_detect import KeyRow, find_bars, find_key_row, row_homography
from bridge.calibration_drift import DriftMonitor
from bridge.calibration_extent import Extent, find_extent, white_of_semitone, white_semitone
from bridge.calibration_frames import read_sample_frames
from bridge.calibration_preview import draw_preview
from bridge.errors import CalibrationError, VmbError
from bridge.geometry import (
    HIGHEST_PIANO_PITCH,
    LOWEST_PIANO_PITCH,
    NOTE_NAMES,
    STANDARD_SIZES,
    WHITE_KEY_LENGTH_MM,
    WHITE_KEY_WIDTH_MM,
    KeyLayout,
    is_black,
    pitch_name,
)
from bridge.types import KeyboardGeometry

__all__ = ["DriftMonitor", "calibrate_images", "calibrate_video", "draw_preview", "read_sample_frames"]

log = logging.getLogger(__name__)
_MAX_RMS_MM = 5.0
_MIN_CONTRAST = 40.0
_NO_KEYBOARD = "give --corners x1,y1,x2,y2,x3,y3,x4,y4 (back-left, back-right, front-right, front-left of the keys)"


@dataclass(frozen=True, slots=True)
class _Detection:
    row: KeyRow
    image_to_plane: NDArray[np.float64]  # x from the left edge of the reference C (semitone 0)
    rms_mm: float
    extent: Extent

    @property
    def score(self) -> float:
        return len(self.row.bars) - self.rms_mm


MAX_SORTED_FRAMES = 15  # up to this many frames the median sorts them pixel by pixel: about 10x np.median's speed


def _median_image(greys: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """Per-pixel median of the frames as ``np.median(...).astype(np.uint8)`` gives it. A few frames are sorted by
    an odd-even transposition network of element-wise minima and maxima (np.median's partition along the frames'
    axis is slow for 2 million pixels of a 1080p frame: 0.25-0.45 s for 9 frames)."""
    if len(greys) == 1:
        return greys[0]
    if len(greys) > MAX_SORTED_FRAMES:
        return np.asarray(np.median(np.stack(greys), axis=0), np.float64).astype(np.uint8)
    ordered = [grey.copy() for grey in greys]
    n = len(ordered)
    for round_ in range(n):
        for i in range(round_ % 2, n - 1, 2):
            low = np.minimum(ordered[i], ordered[i + 1])
            np.maximum(ordered[i], ordered[i + 1], out=ordered[i + 1])
            ordered[i] = low
    if n % 2:
        return ordered[n // 2]
    return ((ordered[n // 2 - 1].astype(np.uint16) + ordered[n // 2]) // 2).astype(np.uint8)


def calibrate_images(images: Sequence[NDArray[np.uint8]], *, lowest_pitch: int | None = None,
                     n_keys: int | None = None, corners: NDArray[np.float64] | None = None,
                     source: str = "the frames") -> KeyboardGeometry:
    """Calibrate from BGR frames of one camera (1 to a few dozen); ``corners`` skips the search for the keys."""
    if not images:
        raise CalibrationError(f"no frames to calibrate from in {source}: give a video or image with a keyboard")
    height, width = images[0].shape[:2]
    if any(image.shape[:2] != (height, width) for image in images):
        raise CalibrationError(f"the frames of {source} differ in size: give frames of one camera")
    greys = [_grey(image) for image in images]
    median = _median_image(greys)
    if corners is not None:
        return _from_corners(median, np.asarray(corners, np.float64), lowest_pitch, n_keys)
    detection = _detect(median)
    if detection is None and len(greys) > 1:
        singles = [greys[0], greys[len(greys) // 2], greys[-1]]  # first, middle, last: cheap and far apart
        found = [d for d in (_detect(g) for g in singles) if d is not None]
        detection = max(found, key=lambda d: d.score, default=None)
    if detection is None:
        raise CalibrationError(f"no keyboard found in {source}: {_NO_KEYBOARD}")
    return _geometry(detection, (width, height), lowest_pitch, n_keys)


def calibrate_video(path: Path, *, start: float = 0.0, duration: float | None = None,
                    lowest_pitch: int | None = None, n_keys: int | None = None,
                    corners: NDArray[np.float64] | None = None) -> KeyboardGeometry:
    """Calibrate from frames sampled over ``[start, start + duration]`` of a video, or from a still image."""
    frames = read_sample_frames(path, start, duration)
    return calibrate_images(frames, lowest_pitch=lowest_pitch, n_keys=n_keys, corners=corners, source=str(path))


def _grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
    return np.asarray(image, np.uint8)


def _stretch(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Contrast stretch between the 1st and 99.5th percentile so dark footage looks like bright footage."""
    low, high = np.percentile(grey, [1.0, 99.5])
    if high - low < 10:
        return grey
    scaled = (grey.astype(np.float32) - low) * (255.0 / (high - low))
    return np.asarray(np.clip(scaled, 0, 255), np.uint8)


def _detect(grey: NDArray[np.uint8]) -> _Detection | None:
    """The black-key row, its homography and the keyboard's ends; None when nothing looks like a keyboard."""
    stretched = _stretch(grey)
    bars = find_bars(stretched, max(9, grey.shape[1] // 20))
    row = find_key_row(bars)
    if row is None:
        log.debug("no black-key row among %d dark bars", len(bars))
        return None
    fitted = row_homography(row)
    if fitted is None or fitted[1] > _MAX_RMS_MM:
        log.debug("black keys do not fit one plane (rms %s mm)", fitted and round(fitted[1], 2))
        return None
    image_to_plane, rms = fitted
    extent = find_extent(stretched, image_to_plane, list(row.semitones))
    if extent.white_level - extent.black_level < _MIN_CONTRAST:
        log.debug("white keys not brighter than black keys (%.0f vs %.0f)", extent.white_level, extent.black_level)
        return None
    expected = sum(1 for s in range(min(row.semitones), max(row.semitones) + 1) if is_black(s))
    if len(row.bars) < 0.5 * expected:
        log.debug("only %d of %d black keys found", len(row.bars), expected)
        return None
    return _Detection(row, image_to_plane, rms, extent)


def _standard_match(extent: Extent) -> int | None:
    """The reference C's MIDI pitch when the visible keys are a whole keyboard of a standard size.

    An end cut exactly at a key edge by the image border still counts: the visible span matching a
    standard keyboard's, pitch classes included, is what makes it whole.
    """
    if (extent.cut_low and not extent.flush_low) or (extent.cut_high and not extent.flush_high):
        return None
    span = extent.highest - extent.lowest
    for low, high in STANDARD_SIZES.values():
        if high - low == span and (low - extent.lowest) % 12 == 0:
            return low - extent.lowest
    return None


def _anchor_end(extent: Extent, n_keys: int | None) -> tuple[int, str] | None:
    """The reference C from a visible end of the keyboard: of the --keys size, else of the largest standard size."""
    sizes = [n_keys] if n_keys in STANDARD_SIZES else sorted(STANDARD_SIZES, reverse=True)
    for size in sizes:
        low, high = STANDARD_SIZES[size]
        if not extent.cut_low and (low - extent.lowest) % 12 == 0:
            return low - extent.lowest, f"the {size}-key keyboard's lowest key"
        if not extent.cut_high and (high - extent.highest) % 12 == 0:
            return high - extent.highest, f"the {size}-key keyboard's highest key"
    return None


def _reference_c(extent: Extent, lowest_pitch: int | None, n_keys: int | None) -> tuple[int, list[str]]:
    """MIDI pitch of the reference C (semitone 0), and the assumptions made to get it."""
    if lowest_pitch is not None:
        if (lowest_pitch - extent.lowest) % 12:
            raise CalibrationError(
                f"the lowest visible key looks like {NOTE_NAMES[extent.lowest % 12]}, not {pitch_name(lowest_pitch)}:"
                f" check --lowest-key (the leftmost key seen whole) or give --corners")
        return lowest_pitch - extent.lowest, []
    standard = _standard_match(extent)
    if standard is not None:
        return standard, []
    why = "the keyboard runs past the image edge" if extent.cut_low or extent.cut_high else "no standard size matches"
    anchored = _anchor_end(extent, n_keys)
    if anchored is not None:
        reference, which = anchored
        if n_keys is not None:
            return reference, []
        return reference, [f"lowest key assumed {pitch_name(reference + extent.lowest)} ({why}; taken as {which}):"
                           " give --lowest-key or --keys to be sure"]
    middle = (LOWEST_PIANO_PITCH + HIGHEST_PIANO_PITCH) / 2 - (extent.lowest + extent.highest) / 2
    reference = 12 * round(middle / 12)
    reference = min(max(reference, LOWEST_PIANO_PITCH + 3 - extent.lowest), HIGHEST_PIANO_PITCH - extent.highest)
    reference -= reference % 12
    name = pitch_name(reference + extent.lowest)
    return reference, [f"lowest key assumed {name} ({why}): give --lowest-key or --keys to be sure"]


def _geometry(detection: _Detection, size: tuple[int, int], lowest_pitch: int | None,
              n_keys: int | None) -> KeyboardGeometry:
    extent = detection.extent
    reference, assumptions = _reference_c(extent, lowest_pitch, n_keys)
    low, high = reference + extent.lowest, reference + extent.highest
    whole = not (extent.cut_low or extent.cut_high)
    if n_keys is not None and whole and not assumptions and high - low + 1 != n_keys:
        log.warning("found %d keys (%s-%s), not the %d given by --keys; keeping what is visible",
                    high - low + 1, pitch_name(low), pitch_name(high), n_keys)
    shift = np.array([[1.0, 0.0, -white_of_semitone(extent.lowest) * WHITE_KEY_WIDTH_MM], [0.0, 1.0, 0.0],
                      [0.0, 0.0, 1.0]])
    found = len(detection.row.bars)
    expected = sum(1 for s in range(extent.lowest, extent.highest + 1) if is_black(s))
    confidence = max(0.0, 1.0 - detection.rms_mm / (2 * _MAX_RMS_MM)) * min(1.0, found / max(expected, 1))
    if assumptions:
        confidence *= 0.5
    if assumptions and (extent.cut_low or extent.cut_high):
        assumptions.append("only part of the keyboard is in the picture")
    try:
        return KeyboardGeometry.from_homography(size, low, high - low + 1, shift @ detection.image_to_plane,
                                                round(confidence, 3), assumptions)
    except CalibrationError:
        raise
    except VmbError as exc:  # KeyLayout refuses a range outside MIDI 0-127
        raise CalibrationError(f"the keys found do not fit a keyboard ({exc}): {_NO_KEYBOARD}") from exc


def _from_corners(grey: NDArray[np.uint8], corners: NDArray[np.float64], lowest_pitch: int | None,
                  n_keys: int | None) -> KeyboardGeometry:
    """Geometry from the four corners of the key area; the key count from --keys, or from the black keys inside."""
    if corners.shape != (4, 2) or not np.all(np.isfinite(corners)):
        raise CalibrationError("--corners needs 8 numbers: x1,y1,x2,y2,x3,y3,x4,y4 in image pixels")
    assumptions: list[str] = []
    if n_keys is not None:
        layout = KeyLayout(lowest_pitch, n_keys) if lowest_pitch is not None else KeyLayout.standard(n_keys)
    else:
        layout = _layout_inside(grey, corners, lowest_pitch, assumptions)
    plane = np.array([[0.0, 0.0], [layout.width_mm, 0.0], [layout.width_mm, WHITE_KEY_LENGTH_MM],
                      [0.0, WHITE_KEY_LENGTH_MM]])
    homography = cv2.getPerspectiveTransform(corners.astype(np.float32), plane.astype(np.float32))
    if abs(np.linalg.det(homography)) < 1e-12:
        raise CalibrationError("the --corners are collinear: give the four corners of the key area")
    height, width = grey.shape[:2]
    return KeyboardGeometry.from_homography((width, height), layout.lowest_pitch, layout.n_keys,
                                            np.asarray(homography, np.float64), 1.0 if not assumptions else 0.5,
                                            assumptions)


def _layout_inside(grey: NDArray[np.uint8], corners: NDArray[np.float64], lowest_pitch: int | None,
                   assumptions: list[str]) -> KeyLayout:
    """Count the keys between the corners from the black keys of the straightened key area."""
    strip_size = (1600, 200)
    target = np.array([[0, 0], [strip_size[0], 0], [strip_size[0], strip_size[1]], [0, strip_size[1]]], np.float32)
    warp = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    strip = np.asarray(cv2.warpPerspective(grey, warp, strip_size), np.uint8)
    row = find_key_row(find_bars(_stretch(strip), strip_size[0] // 20))
    if row is None:
        assumptions.append("88 keys assumed (no black keys found between the corners): give --keys")
        return KeyLayout.standard(88)
    white_px = row.slot_px * 12 / 7
    n_white = max(2, round(strip_size[0] / white_px))
    # Strip x of the reference C's left edge, from every black key on the 12-slot grid.
    origin = float(np.median([bar.centre[0] - (semitone + 0.5) * row.slot_px
                              for bar, semitone in zip(row.bars, row.semitones, strict=True)]))
    lowest_white = round(-origin / white_px)
    extent = Extent(white_semitone(lowest_white), white_semitone(lowest_white + n_white - 1), False, False, False,
                    False, 255.0, 0.0)
    reference, guessed = _reference_c(extent, lowest_pitch, None)
    assumptions.extend(guessed)
    return KeyLayout(reference + extent.lowest, extent.highest - extent.lowest + 1)
