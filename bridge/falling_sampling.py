"""Where a falling-notes frame is read: a few points on each key top and a short column above each key.

Only these pixels are ever read (a few thousand per frame whatever the resolution), which keeps the
falling-notes method cheap. Every sample is normalised per frame so that the median white key maps to
1 and the median black key to 0, which cancels fades, exposure and colour casts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bridge.errors import CalibrationError, VideoError
from bridge.geometry import KeyLayout, apply_homography, is_black
from bridge.i420 import PlaneIndex, bgr_from_yuv
from bridge.sources import PlanarFrame
from bridge.types import Frame, KeyboardGeometry

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.intp]

# Key-top sample points, as (fraction of the key width from its centre, depth in mm from the back edge).
_WHITE_POINTS = [(dx, y) for dx in (-0.22, 0.0, 0.22) for y in (110.0, 125.0, 140.0)]
_BLACK_POINTS = [(dx, y) for dx in (-0.2, 0.0, 0.2) for y in (25.0, 45.0, 65.0)]
# A white key is also read on its back part, between the black keys (clear of the glow at the keys' back edge):
# fingers pressing the front of a lit key hide the front points, rarely both. Black keys read theirs twice.
_WHITE_BACK_POINTS = [(dx, y) for dx in (-0.25, 0.0, 0.25) for y in (45.0, 65.0, 85.0)]
# The band above a key: three columns across the key going back on the keyboard plane (bars fall along it),
# starting this far behind the key tops, about one image row apart (further above 1080p: MAX_BAND_ROWS).
_BAND_COLUMNS = (-0.25, 0.0, 0.25)
_BLACK_COLUMNS_MM = (-0.3, 0.0, 0.3)  # around the line between the two white keys under a black key
BAND_START_MM = 10.0
HIT_MM = 6.0  # bars reach the keyboard (its felt strip) this far behind the keys' back edge when their notes start
MIN_BAND_ROWS = 8
# a taller band (above 1080p) is read on rows spread further apart: the tracker's cost grows with the rows. Rows
# one pixel apart see the outline between two touching bars: 48 rows at 1080p found 102 of 128 fast repeats in a
# hybrid video from I and P frames, 64 rows 113, 90 rows (one pixel apart) 117
MAX_BAND_ROWS = 96
# but at least MAX_BAND_ROWS image rows where that fits in TALL_FRACTION of the way: each front is seen in more frames.
# Bars fall 5 rows a frame at 240p24 (12% of the way is 19 rows: hybrid fast repeats 54 -> 115 of 128 with 48 rows)
# and 15 at 720p25, where the 57 rows of 12% showed a legato outline in 2 or 3 frames above the glow and the hands
# (hybrid 720p25 97 -> 128 of 128, 360p30 120 -> 127, 720p25 with a variable frame rate 96 -> 113; 123 with the
# sightings asked for in bridge.falling_fronts)
TALL_FRACTION = 0.3
LINE_ROWS = 3  # the band rows next to the keys that tell whether a bar is on a key now
BAND_FRACTION = 0.12  # band height as a fraction of the distance from the image top to the keys


@dataclass(frozen=True, slots=True)
class FrameSample:
    """One frame read at the sample points: ``keys[K, 3]`` (the front of white keys), ``keys_back[K, 3]`` (the back
    of white keys between the black keys; black keys as ``keys``) and ``band[K, R, 3]`` normalised colours.

    ``contrast`` is the median white-key minus median black-key brightness (0-255) before normalising;
    a frame without a visible keyboard (title card, deep fade) has a low contrast.
    """

    keys: FloatArray
    band: FloatArray
    contrast: float
    black: FloatArray  # (3,) BGR level that normalises to 0
    span: FloatArray  # (3,) BGR difference that normalises to 1
    keys_back: FloatArray

    @property
    def line(self) -> FloatArray:
        """(K, 3) normalised colour just above each key."""
        return np.asarray(self.band[:, :LINE_ROWS].mean(axis=1), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SamplePoints:
    """Flat pixel indices to read (into ``image.reshape(-1, 3)``), built once per video from the calibration."""

    image_size: tuple[int, int]
    pitches: tuple[int, ...]  # keys whose points all lie inside the image (cropped keyboards lose some)
    black: NDArray[np.bool_]
    key_index: IntArray  # (K, 2P) points on each key top: P on the front, P on the back (see FrameSample)
    band_index: IntArray  # (C, K, R) columns above each key; row 0 is next to the keys, higher rows further up
    row_mm: float  # plane millimetres between two band rows (the rows are equally spaced on the plane)
    glow_rows: int  # the band rows next to the keys that a key's glow lights (a fifth of BAND_FRACTION's band)
    _planes: tuple[PlaneIndex, PlaneIndex] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_keys(self) -> int:
        return len(self.pitches)

    @property
    def n_rows(self) -> int:
        return int(self.band_index.shape[2])

    @property
    def hit_row(self) -> float:
        """Where on the band's row scale (below row 0) a bar's front stands when its note starts."""
        return (HIT_MM - BAND_START_MM) / self.row_mm

    @classmethod
    def from_geometry(cls, geometry: KeyboardGeometry) -> SamplePoints:
        layout = geometry.layout
        to_image = np.linalg.inv(geometry.homography)
        width, height = geometry.image_size
        to_top = float(np.median(_key_line_rows(geometry)))
        usual_pixels = max(round(BAND_FRACTION * to_top), MIN_BAND_ROWS)
        band_pixels = max(usual_pixels, min(MAX_BAND_ROWS, round(TALL_FRACTION * to_top)))
        n_rows = min(band_pixels, MAX_BAND_ROWS)
        glow_rows = max(LINE_ROWS, n_rows * usual_pixels // band_pixels // 5)
        row_mm = _mm_per_pixel_behind_keys(geometry) * band_pixels / n_rows
        back_mm = BAND_START_MM + np.arange(n_rows) * row_mm
        kept: list[int] = []
        key_pts: list[NDArray[np.float64]] = []
        band_pts: list[NDArray[np.float64]] = []
        for pitch in layout.pitches:
            left, right = layout.x_range_mm(pitch)
            centre, span = (left + right) / 2, right - left
            if is_black(pitch):
                on_key = apply_homography(to_image, np.array([[centre + dx * span, y] for dx, y in _BLACK_POINTS * 2]))
            else:
                back_left, back_right = (float(x) for x in layout.polygon_mm(pitch)[:2, 0])  # between the black keys
                back_centre, back_span = (back_left + back_right) / 2, back_right - back_left
                on_key = apply_homography(to_image, np.array(
                    [[centre + dx * span, y] for dx, y in _WHITE_POINTS]
                    + [[back_centre + dx * back_span, y] for dx, y in _WHITE_BACK_POINTS]))
            plane = [[[x, -depth] for depth in back_mm] for x in _column_xs(layout, pitch)]
            column = apply_homography(to_image, np.array(plane).reshape(-1, 2)).reshape(len(_BAND_COLUMNS), n_rows, 2)
            points = np.rint(np.vstack([on_key, column.reshape(-1, 2)]))
            if points.min() < 0 or points[:, 0].max() > width - 1 or points[:, 1].max() > height - 1:
                continue
            kept.append(pitch)
            key_pts.append(on_key)
            band_pts.append(column)
        black = np.array([is_black(p) for p in kept], dtype=bool)
        if black.sum() < 2 or (~black).sum() < 2:
            raise CalibrationError("too few keys of the calibrated keyboard are inside the picture with room "
                                   "above them for falling notes: recalibrate or use --method keys")
        key_index = _flat(np.array(key_pts), width)
        band_index = _flat(np.array(band_pts), width).transpose(1, 0, 2)
        return cls((width, height), tuple(kept), black, key_index, np.ascontiguousarray(band_index), row_mm, glow_rows)

    def read_frame(self, frame: Frame) -> FrameSample:
        """:meth:`read` of a frame, from its I420 planes where it carries them (only the sampled pixels converted)."""
        if not isinstance(frame, PlanarFrame):
            return self.read(frame.image)
        self._check_size(frame.image)
        keys, band = self.planes
        # the three band columns' median taken on Y, U and V (like on B, G and R): a third of the pixels to convert
        columns = band.yuv(frame.planes)
        return self._normalised(keys.bgr(frame.planes), bgr_from_yuv(*(_median3(*plane) for plane in columns)))

    @property
    def planes(self) -> tuple[PlaneIndex, PlaneIndex]:
        """Where the key points and the band points lie in the I420 planes of the image (computed once)."""
        if self._planes is None:
            width, height = self.image_size
            object.__setattr__(self, "_planes", (PlaneIndex.of(self.key_index, width, height),
                                                 PlaneIndex.of(self.band_index, width, height)))
        assert self._planes is not None
        return self._planes

    def read(self, image: NDArray[np.uint8]) -> FrameSample:
        """Gather and normalise the sample points of one BGR frame."""
        self._check_size(image)
        pixels = image.reshape(-1, 3)  # take is faster than fancy indexing
        return self._normalised(np.take(pixels, self.key_index, axis=0),
                                _median3(*np.take(pixels, self.band_index, axis=0)))

    def _check_size(self, image: NDArray[np.uint8]) -> None:
        height, width = image.shape[:2]
        if (width, height) != self.image_size:
            raise VideoError(f"frame size {width}x{height} differs from the calibration's "
                             f"{self.image_size[0]}x{self.image_size[1]}: recalibrate for this video")

    def _normalised(self, key_pixels: NDArray[np.uint8], band: NDArray[np.uint8]) -> FrameSample:
        """The sample from the BGR pixels at ``key_index`` and the band (K, R, 3): the median of its columns."""
        n_points = self.key_index.shape[1] // 2
        on_keys = key_pixels.reshape(self.n_keys, 2, n_points, 3)
        middle = n_points // 2
        both = np.partition(on_keys, middle, axis=2)[:, :, middle].astype(np.float32)  # (K, 2, 3)
        keys, keys_back = both[:, 0], both[:, 1]
        white = _median(keys[~self.black])
        black = _median(keys[self.black])
        span = np.maximum(white - black, 8.0)
        scale = 1.0 / span
        normalised_band = np.subtract(band, black, dtype=np.float32)
        normalised_band *= scale
        return FrameSample((keys - black) * scale, normalised_band,
                           float(np.mean(white - black)), black, span, (keys_back - black) * scale)


def _column_xs(layout: KeyLayout, pitch: int) -> list[float]:
    """Plane x (mm) of the band columns above a key. A white key's columns lie across its back part, clear of
    the black keys. Bars are as wide as their keys, so a white key's bar also covers most of its black
    neighbour's width: a black key is read at the line between the two white keys under it (their bars stop
    short of it), which only its own bar covers."""
    if is_black(pitch):
        boundary = layout.x_range_mm(pitch - 1)[1]
        return [boundary + dx for dx in _BLACK_COLUMNS_MM]
    back_left, back_right = (float(x) for x in layout.polygon_mm(pitch)[:2, 0])
    back_centre, back_span = (back_left + back_right) / 2, back_right - back_left
    return [back_centre + dx * back_span for dx in _BAND_COLUMNS]


def _mm_per_pixel_behind_keys(geometry: KeyboardGeometry) -> float:
    """Plane millimetres per image pixel going back from the keys at the middle of the keyboard."""
    middle = geometry.layout.width_mm / 2
    ends = apply_homography(np.linalg.inv(geometry.homography),
                            np.array([[middle, -BAND_START_MM], [middle, -BAND_START_MM - 10.0]]))
    return 10.0 / max(float(np.linalg.norm(ends[1] - ends[0])), 1e-6)


def _flat(points: NDArray[np.float64], width: int) -> IntArray:
    """(..., 2) x, y points to flat pixel indices."""
    pixel = np.rint(points).astype(np.intp)
    return np.asarray(pixel[..., 1] * width + pixel[..., 0], dtype=np.intp)


def _median(values: FloatArray) -> FloatArray:
    middle = len(values) // 2
    return np.asarray(np.partition(values, middle, axis=0)[middle], dtype=np.float32)


def _key_line_rows(geometry: KeyboardGeometry) -> NDArray[np.float64]:
    """Image rows of the back edge of the keys along the keyboard."""
    layout = geometry.layout
    xs = np.linspace(0.0, layout.width_mm, 16)
    points = apply_homography(np.linalg.inv(geometry.homography), np.stack([xs, np.zeros_like(xs)], axis=1))
    return points[:, 1]


def _median3(a: NDArray[np.uint8], b: NDArray[np.uint8], c: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Element-wise median of the three band columns: one column hit by a particle or glow is outvoted."""
    return np.asarray(np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c)), dtype=np.uint8)
