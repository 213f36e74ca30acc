"""Simple hands: a 21-point mediapipe-style skeleton per hand, fingertips on the keys they hold.

Fingering: notes below the split go to the left hand, the rest to the right; held notes are ranked by
x and spread over the five fingers. The hand centre follows the held notes and is interpolated
between them, so hands glide between positions and hover while no key is held.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, KeyLayout, apply_homography
from bridge.synth.style import BGR

SPLIT_PITCH = 60
FINGER_SPACING_MM = 22.0
# mediapipe order: wrist, then thumb, index, middle, ring, pinky (4 joints each, tip last)
TIPS = (4, 8, 12, 16, 20)
_BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
          (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]

_PALM = {(0, 1), (0, 5), (5, 9), (9, 13), (13, 17), (0, 17)}


def assign_fingers(held: list[int], layout: KeyLayout, hand: int) -> dict[int, int]:
    """Map finger (0 thumb .. 4 pinky) to pitch for at most five held keys of one hand."""
    ordered = sorted(held, key=lambda p: layout.centre_mm(p)[0])[:5]
    n = len(ordered)
    slots = [2] if n == 1 else [round(i * 4 / (n - 1)) for i in range(n)]
    fingers = slots if hand == 1 else [4 - s for s in slots]
    return dict(zip(fingers, ordered, strict=True))


def hand_centres(held_per_frame: list[list[int]], layout: KeyLayout, hand: int) -> NDArray[np.float64]:
    """Per-frame hand x centre (mm): mean of held keys, interpolated where the hand holds nothing."""
    n = len(held_per_frame)
    known = [(i, float(np.mean([layout.centre_mm(p)[0] for p in h]))) for i, h in enumerate(held_per_frame) if h]
    default = layout.width_mm * (0.3 if hand == 0 else 0.7)
    if not known:
        return np.full(n, default)
    idx, xs = zip(*known, strict=True)
    return np.interp(np.arange(n), np.array(idx, float), np.array(xs, float))


def skeleton_mm(centre_x: float, fingers: dict[int, int], layout: KeyLayout, hand: int) -> NDArray[np.float64]:
    """21 points (x mm, y mm, height mm above the key tops) for one hand."""
    side = 1.0 if hand == 1 else -1.0  # right hand: thumb on the left of the hand
    points = np.zeros((21, 3))
    wrist_y = WHITE_KEY_LENGTH_MM + 75.0
    points[0] = [centre_x + side * 5.0, wrist_y, 30.0]
    for finger in range(5):
        offset = (finger - 2) * FINGER_SPACING_MM * side
        base = np.array([centre_x + offset * 0.8, wrist_y - 55.0 + abs(finger - 2) * 6.0, 25.0])
        if finger == 0:
            base = np.array([centre_x - side * 30.0, wrist_y - 30.0, 20.0])
        if finger in fingers:
            tip_xy = layout.centre_mm(fingers[finger])
            tip = np.array([tip_xy[0], max(tip_xy[1], 40.0) + 25.0, 0.0])
        else:
            tip = np.array([centre_x + offset, WHITE_KEY_LENGTH_MM - 35.0 + abs(finger - 2) * 5.0, 15.0])
        if finger == 0 and finger not in fingers:
            tip = np.array([centre_x - side * 40.0, WHITE_KEY_LENGTH_MM - 15.0, 12.0])
        start = 1 + 4 * finger
        for j, frac in enumerate((0.0, 0.45, 0.75, 1.0)):
            bend = np.array([0.0, 0.0, 12.0 * np.sin(frac * np.pi)])
            points[start + j] = base + (tip - base) * frac + bend
    return points


def project(points_mm: NDArray[np.float64], homography: NDArray[np.float64], ppm: float) -> NDArray[np.float32]:
    """Plane points with height to pixels (x, y, z): height lifts a point towards the back of the image."""
    lifted = points_mm[:, :2] - np.stack([np.zeros(len(points_mm)), points_mm[:, 2] * 0.3], axis=1)
    xy = apply_homography(homography, lifted)
    return np.column_stack([xy, -points_mm[:, 2] * ppm]).astype(np.float32)


def draw_hand(img: NDArray[np.uint8], pts: NDArray[np.float32], ppm: float, skin: BGR, sleeve: BGR) -> None:
    """Forearm and sleeve from the bottom edge, a palm and the finger bones as thick skin-coloured limbs."""
    height = img.shape[0]
    wrist = pts[0, :2]
    elbow = (float(wrist[0]) + 0.15 * (float(wrist[0]) - img.shape[1] / 2), float(height + 200))
    finger_w = max(2, round(15 * ppm))
    shade: BGR = (int(skin[0] * 0.7), int(skin[1] * 0.7), int(skin[2] * 0.7))
    cv2.line(img, _pt(wrist), _pt(np.array(elbow)), skin, finger_w * 4, cv2.LINE_AA)
    sleeve_start = wrist + (np.array(elbow) - wrist) * 0.45
    cv2.line(img, _pt(sleeve_start), _pt(np.array(elbow)), sleeve, finger_w * 5, cv2.LINE_AA)
    palm = pts[[0, 1, 5, 9, 13, 17], :2]
    cv2.fillConvexPoly(img, cv2.convexHull(np.round(palm).astype(np.int32)), skin, cv2.LINE_AA)
    for a, b in _BONES:
        if (a, b) not in _PALM:
            cv2.line(img, _pt(pts[a, :2]), _pt(pts[b, :2]), shade, finger_w + 2, cv2.LINE_AA)
    for a, b in _BONES:
        cv2.line(img, _pt(pts[a, :2]), _pt(pts[b, :2]), skin, finger_w, cv2.LINE_AA)


def draw_shadow(img: NDArray[np.uint8], pts: NDArray[np.float32], ppm: float, offset: tuple[float, float],
                strength: float) -> None:
    """Darken the keys under a hand: the fingers and palm shifted by ``offset`` pixels, softened."""
    finger_w = max(2, round(15 * ppm))
    shifted = pts[:, :2] + np.array(offset, np.float32)
    pad = 3 * finger_w
    x0, y0 = (int(v) - pad for v in shifted.min(axis=0))
    x1, y1 = (int(v) + pad for v in shifted.max(axis=0))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = shifted - np.array([x0, y0], np.float32)
    for a, b in _BONES:
        cv2.line(mask, _pt(local[a]), _pt(local[b]), (255,), finger_w, cv2.LINE_AA)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(local[[0, 1, 5, 9, 13, 17]]).astype(np.int32)), (255,))
    soft = cv2.blur(mask, (finger_w | 1, finger_w | 1))
    keep = cv2.convertScaleAbs(soft, alpha=-strength, beta=255.0)
    roi = img[y0:y1, x0:x1]
    roi[:] = cv2.multiply(roi, cv2.merge([keep, keep, keep]), scale=1.0 / 255.0)


def _pt(p: NDArray[np.float32] | NDArray[np.float64]) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))
