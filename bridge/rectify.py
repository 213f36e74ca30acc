"""The canonical keyboard strip: any frame warped so that the keyboard lies flat, keys left to right.

The strip spans the calibrated keys' width and the white keys' length (plus a margin above the
back edge where fingers and key shadows show). Its pixel grid is fixed per calibration, so the
warp is a precomputed ``cv2.remap`` lookup: one table read per output pixel, whatever the camera.

The lookup positions are snapped to remap's 1/32-pixel grid in double precision, so rectifying a crop of
the frame (its geometry shifted by the crop's offset, :meth:`Rectifier.source_box` says which crop suffices)
gives exactly the strip of the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, WHITE_KEY_WIDTH_MM, apply_homography
from bridge.types import KeyboardGeometry

_REMAP_STEPS = 32  # cv2.remap's sub-pixel positions per pixel (INTER_TAB_SIZE)


@dataclass(frozen=True, slots=True)
class StripSpec:
    """Pixels per white key across, strip height in pixels, and the margin above the keys (mm)."""

    px_per_white_key: float = 16.0
    height: int = 96
    margin_mm: float = 20.0

    def size_for(self, n_white: int) -> tuple[int, int]:
        return round(n_white * self.px_per_white_key), self.height


class Rectifier:
    """Warps frames of one calibrated camera into the canonical strip."""

    def __init__(self, geometry: KeyboardGeometry, spec: StripSpec | None = None) -> None:
        self.spec = spec or StripSpec()
        self.geometry = geometry
        layout = geometry.layout
        width, height = self.spec.size_for(layout.n_white)
        self.size = (width, height)
        mm_per_px_x = layout.width_mm / width
        mm_per_px_y = (WHITE_KEY_LENGTH_MM + self.spec.margin_mm) / height
        xs = (np.arange(width) + 0.5) * mm_per_px_x
        ys = (np.arange(height) + 0.5) * mm_per_px_y - self.spec.margin_mm
        grid_x, grid_y = np.meshgrid(xs, ys)
        plane = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
        image_points = apply_homography(np.linalg.inv(geometry.homography), plane)
        snapped = np.round(image_points * _REMAP_STEPS) / _REMAP_STEPS
        self._points = snapped.reshape(height, width, 2)
        map_x = self._points[..., 0].astype(np.float32)
        map_y = self._points[..., 1].astype(np.float32)
        self._maps = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)

    def __call__(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The strip of a BGR (h, w, 3) or grey (h, w) frame, in the same layout."""
        strip = cv2.remap(image, self._maps[0], self._maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return np.asarray(strip, dtype=np.uint8)

    def source_box(self, margin_px: int = 0) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the frame pixels the strip reads (bilinear neighbours included) plus a margin,
        clipped to the frame; x1 and y1 exclusive. Empty (x0 >= x1) when the strip lies wholly outside."""
        width, height = self.geometry.image_size
        low = np.floor(self._points.reshape(-1, 2).min(axis=0)) - margin_px
        high = np.floor(self._points.reshape(-1, 2).max(axis=0)) + 2 + margin_px
        x0, y0 = (int(np.clip(v, 0, limit)) for v, limit in zip(low, (width, height), strict=True))
        x1, y1 = (int(np.clip(v, 0, limit)) for v, limit in zip(high, (width, height), strict=True))
        return x0, y0, x1, y1

    def key_columns(self) -> NDArray[np.float64]:
        """Centre x (strip pixels) of every key, lowest first."""
        layout = self.geometry.layout
        scale = self.size[0] / layout.width_mm
        return np.array([sum(layout.x_range_mm(p)) / 2 * scale for p in layout.pitches])

    @property
    def px_per_mm_x(self) -> float:
        return self.size[0] / (self.geometry.layout.n_white * WHITE_KEY_WIDTH_MM)
