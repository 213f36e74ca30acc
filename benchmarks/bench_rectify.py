"""Speed of the rectifier: a 1280x720 frame to the canonical 88-key strip, one thread."""

from __future__ import annotations

import time

import cv2
import numpy as np

from bridge.geometry import KeyLayout
from bridge.rectify import Rectifier
from bridge.types import KeyboardGeometry

TITLE = "Rectifier (720p frame to 88-key strip)"


def main() -> list[str]:
    cv2.setNumThreads(1)
    layout = KeyLayout.standard(88)
    plane = np.float32([[0, 0], [layout.width_mm, 0], [layout.width_mm, 150], [0, 150]])
    image = np.float32([[40, 300], [1240, 280], [1260, 520], [20, 540]])
    homography = cv2.getPerspectiveTransform(image, plane).astype(np.float64)
    rectifier = Rectifier(KeyboardGeometry.from_homography((1280, 720), 21, 88, homography))
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    for _ in range(20):
        rectifier(frame)
    n = 500
    t0 = time.perf_counter()
    for _ in range(n):
        rectifier(frame)
    per_frame = (time.perf_counter() - t0) / n
    w, h = rectifier.size
    return ["| what | figure |", "|---|---|",
            f"| strip size | {w}x{h} |",
            f"| time per frame (1 thread) | {per_frame * 1000:.3f} ms ({1 / per_frame:.0f} frames/s) |"]
