from __future__ import annotations

import cv2
import numpy as np

from bridge.geometry import KeyLayout
from bridge.rectify import Rectifier, StripSpec
from bridge.types import KeyboardGeometry


def test_strip_undoes_a_tilted_camera() -> None:
    """Draw black keys on the canonical plane, photograph it through a perspective homography, rectify back."""
    layout = KeyLayout.standard(61)
    px_per_mm = 1.0
    plane = np.full((190, round(layout.width_mm * px_per_mm)), 235, np.uint8)
    for pitch in layout.pitches:
        if pitch % 12 in (1, 3, 6, 8, 10):
            poly = layout.polygon_mm(pitch) + np.array([0.0, 20.0])
            cv2.fillPoly(plane, [np.round(poly * px_per_mm).astype(np.int32)], 20)
    corners_plane = np.float32([[0, 0], [plane.shape[1], 0], [plane.shape[1], 190], [0, 190]])
    corners_image = np.float32([[180, 120], [1100, 90], [1180, 520], [90, 560]])
    to_image = cv2.getPerspectiveTransform(corners_plane, corners_image)
    flat = cv2.cvtColor(plane, cv2.COLOR_GRAY2BGR)
    photo = cv2.warpPerspective(flat, to_image, (1280, 720), borderValue=(60, 60, 60))
    # image -> canonical mm: invert the photo warp, then shift by the 20 mm margin drawn above the keys.
    image_to_mm = np.array([[1, 0, 0], [0, 1, -20], [0, 0, 1]], float) @ np.linalg.inv(to_image)
    geometry = KeyboardGeometry.from_homography((1280, 720), layout.lowest_pitch, layout.n_keys, image_to_mm)
    rectifier = Rectifier(geometry, StripSpec(px_per_white_key=16, height=96, margin_mm=20))
    strip = rectifier(photo)
    assert strip.shape == (96, 36 * 16, 3)
    columns = rectifier.key_columns()
    row = strip[30, :, 0].astype(int)  # across the black keys
    for pitch, x in zip(layout.pitches, columns, strict=True):
        value = row[round(x)]
        if pitch % 12 in (1, 3, 6, 8, 10):
            assert value < 80, f"black key {pitch} should be dark in the strip"
        elif pitch % 12 in (0, 4, 11):  # C, E and B centres lie clear of the black keys
            assert value > 180, f"white key {pitch} should be bright in the strip"
