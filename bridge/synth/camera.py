"""Camera model: a homography from the canonical keyboard plane (mm) to image pixels."""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, KeyLayout


def plane_to_image(layout: KeyLayout, size: tuple[int, int], fill: float, centre_y: float,
                   tilt_deg: float, roll_deg: float, centre_x: float = 0.5) -> NDArray[np.float64]:
    """Homography mapping plane mm to pixels: the keyboard spans ``fill`` of the width, the player at the bottom.

    Tilt shrinks the far (back) edge as a camera leaning towards the player would see it; roll turns the
    whole keyboard about its centre. A ``fill`` above 1 or an off-centre ``centre_x`` leaves part of the
    keyboard outside the frame (a cropped view).
    """
    width, height = size
    span_px = fill * width
    scale = span_px / layout.width_mm
    tilt = math.radians(tilt_deg)
    depth_px = WHITE_KEY_LENGTH_MM * scale * math.cos(tilt)
    far = 1.0 - 0.45 * math.sin(tilt)
    cx, cy = centre_x * width, centre_y * height
    half = span_px / 2.0
    dst = np.array([
        [cx - half * far, cy - depth_px / 2], [cx + half * far, cy - depth_px / 2],
        [cx + half, cy + depth_px / 2], [cx - half, cy + depth_px / 2],
    ])
    roll = math.radians(roll_deg)
    rot = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    dst = (dst - [cx, cy]) @ rot.T + [cx, cy]
    src = np.array([[0.0, 0.0], [layout.width_mm, 0.0], [layout.width_mm, WHITE_KEY_LENGTH_MM],
                    [0.0, WHITE_KEY_LENGTH_MM]])
    matrix = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    return np.asarray(matrix, dtype=np.float64)


def pixels_per_mm(homography: NDArray[np.float64], layout: KeyLayout) -> float:
    """Mean horizontal scale of the keyboard's front edge in pixels per mm."""
    y = WHITE_KEY_LENGTH_MM
    pts = np.array([[0.0, y, 1.0], [layout.width_mm, y, 1.0]]) @ homography.T
    pts = pts[:, :2] / pts[:, 2:3]
    return float(np.linalg.norm(pts[1] - pts[0]) / layout.width_mm)
