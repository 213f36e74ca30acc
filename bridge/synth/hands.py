"""Hands: a 21-point mediapipe-style skeleton per hand, fingertips on the keys they hold.

Fingering: each note goes to the hand on its side of a split that follows the music (the middle of
the notes played around it); a hand that would hold more than five keys or stretch past its reach
hands the note to the other hand, which then crosses over. Held notes are ranked by x and spread over
the five fingers (bridge/synth/strikes.py brings each fingertip down onto its key and lifts it again). The
hand centre follows the held notes and is interpolated between them, so hands glide between positions and
hover (lifted, swaying a little) while no key is held.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, KeyLayout, apply_homography
from bridge.synth.style import BGR
from bridge.types import Note

SPLIT_PITCH = 60
FINGER_SPACING_MM = 22.0
REACH_SEMITONES = 16
SPLIT_WINDOW_S = 1.0
# mediapipe order: wrist, then thumb, index, middle, ring, pinky (4 joints each, tip last)
TIPS = (4, 8, 12, 16, 20)
_BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
          (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]
_PALM = {(0, 1), (0, 5), (5, 9), (9, 13), (13, 17), (0, 17)}
_FINGER_BONES = [bone for bone in _BONES if bone not in _PALM]


def assign_hands(notes: Sequence[Note]) -> list[int]:
    """Hand of each note (0 left, 1 right), in the order given."""
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, notes[i].pitch))
    starts = np.array([notes[i].start for i in order])
    pitches = np.array([notes[i].pitch for i in order])
    hands = [0] * len(notes)
    held: tuple[list[Note], list[Note]] = ([], [])
    for rank, i in enumerate(order):
        note = notes[i]
        lo, hi = np.searchsorted(starts, [note.start - SPLIT_WINDOW_S, note.start + SPLIT_WINDOW_S])
        window = pitches[lo:max(hi, rank + 1)]
        spread = int(window.max() - window.min())
        split = float(np.clip((window.max() + window.min()) / 2.0, 48, 72)) if spread >= 14 else SPLIT_PITCH - 0.5
        hand = int(note.pitch > split)
        for side in (0, 1):
            held[side][:] = [n for n in held[side] if n.end > note.start]
        if _overloaded(held[hand], note) and not _overloaded(held[1 - hand], note):
            hand = 1 - hand  # the other hand takes it, crossing over if it must
        held[hand].append(note)
        hands[i] = hand
    return hands


def _overloaded(held: list[Note], note: Note) -> bool:
    pitches = [n.pitch for n in held] + [note.pitch]
    return len(pitches) > 5 or max(pitches) - min(pitches) > REACH_SEMITONES


def assign_fingers(held: list[int], layout: KeyLayout, hand: int) -> dict[int, int]:
    """Map finger (0 thumb .. 4 pinky) to pitch for at most five held keys of one hand."""
    ordered = sorted(held, key=lambda p: layout.centre_mm(p)[0])[:5]
    n = len(ordered)
    slots = [2] if n == 1 else [round(i * 4 / (n - 1)) for i in range(n)]
    fingers = slots if hand == 1 else [4 - s for s in slots]
    return dict(zip(fingers, ordered, strict=True))


def fingering_over_time(held_per_frame: list[list[int]], layout: KeyLayout, hand: int) -> list[dict[int, int]]:
    """Per frame, finger -> pitch. A finger keeps its key while the key is held (a re-strike included); new keys
    take free fingers that keep the fingers in order across the keys, near where they lie from the fingers
    already down; when no such finger is free the hand re-fingers all it holds (``assign_fingers``)."""
    frames: list[dict[int, int]] = []
    previous: dict[int, int] = {}
    for held in held_per_frame:
        kept = {finger: pitch for finger, pitch in previous.items() if pitch in held}
        new = [pitch for pitch in held if pitch not in kept.values()]
        fingers = _add_fingers(kept, new, layout, hand) if new else kept
        previous = fingers if fingers is not None else assign_fingers(held, layout, hand)
        frames.append(previous)
    return frames


def _add_fingers(kept: dict[int, int], new: list[int], layout: KeyLayout, hand: int) -> dict[int, int] | None:
    """``kept`` plus a finger for each of ``new``, fingers in order across the keys, or None when none fits."""
    if not kept:
        return assign_fingers(new, layout, hand) if len(new) <= 5 else None
    down = sorted((layout.centre_mm(p)[0], f if hand == 1 else 4 - f) for f, p in kept.items())  # (x, rank)
    fingers = dict(kept)
    used = -1
    ordered = sorted(new, key=lambda p: layout.centre_mm(p)[0])
    for j, pitch in enumerate(ordered):
        x = layout.centre_mm(pitch)[0]
        lower = max((r for kx, r in down if kx < x), default=-1)
        upper = min((r for kx, r in down if kx > x), default=5)
        later_in_gap = sum(1 for p in ordered[j + 1:] if layout.centre_mm(p)[0] < min(
            (kx for kx, _ in down if kx > x), default=np.inf))
        near_x, near_rank = min(down, key=lambda d: abs(d[0] - x))
        ideal = near_rank + round((x - near_x) / FINGER_SPACING_MM)
        chosen = min(max(ideal, used + 1, lower + 1), upper - 1 - later_in_gap)
        if chosen <= max(used, lower) or chosen >= upper:
            return None
        used = chosen
        fingers[chosen if hand == 1 else 4 - chosen] = pitch
    return fingers


def hand_centres(held_per_frame: list[list[int]], layout: KeyLayout, hand: int) -> NDArray[np.float64]:
    """Per-frame hand x centre (mm): mean of held keys, interpolated where the hand holds nothing."""
    n = len(held_per_frame)
    known = [(i, float(np.mean([layout.centre_mm(p)[0] for p in h]))) for i, h in enumerate(held_per_frame) if h]
    default = layout.width_mm * (0.3 if hand == 0 else 0.7)
    if not known:
        return np.full(n, default)
    idx, xs = zip(*known, strict=True)
    return np.interp(np.arange(n), np.array(idx, float), np.array(xs, float))


def key_tip_mm(layout: KeyLayout, pitch: int) -> tuple[float, float]:
    """Where a fingertip touches a key (x, y mm): across its middle, towards its front."""
    x, y = layout.centre_mm(pitch)
    return x, max(y, 40.0) + 25.0


def finger_spacing(fingers: dict[int, int], layout: KeyLayout) -> float:
    """Distance between neighbouring knuckles (mm): wider for wide chords."""
    tips_x = [layout.centre_mm(p)[0] for p in fingers.values()]
    span = max(tips_x) - min(tips_x) if len(tips_x) > 1 else 0.0
    return float(np.clip(span / 4.0, FINGER_SPACING_MM * 0.8, FINGER_SPACING_MM * 1.4))


def rest_tips(centre_x: float, spacing: float, hand: int, hover: float = 0.0) -> NDArray[np.float64]:
    """Fingertips (5 x: x, y, height mm) of a hand whose fingers hold nothing: curled above the keys."""
    side = 1.0 if hand == 1 else -1.0  # right hand: thumb on the left of the hand
    tips = np.array([[centre_x + (finger - 2) * spacing * side, WHITE_KEY_LENGTH_MM - 35.0 + abs(finger - 2) * 5.0,
                      15.0 + hover] for finger in range(5)])
    tips[0] = [centre_x - side * 40.0, WHITE_KEY_LENGTH_MM - 15.0, 12.0 + hover]
    return tips


def skeleton_mm(centre_x: float, tips: NDArray[np.float64], spacing: float, hand: int,
                hover: float = 0.0) -> NDArray[np.float64]:
    """21 points (x mm, y mm, height mm above the key tops) for one hand with its five fingertips at ``tips``;
    ``hover`` lifts an idle hand (mm)."""
    side = 1.0 if hand == 1 else -1.0
    points = np.zeros((21, 3))
    wrist_y = WHITE_KEY_LENGTH_MM + 110.0
    points[0] = [centre_x + side * 5.0, wrist_y, 30.0 + hover]
    for finger in range(5):
        offset = (finger - 2) * spacing * side
        base = np.array([centre_x + offset * 0.8, wrist_y - 95.0 + abs(finger - 2) * 7.0, 25.0 + hover])
        if finger == 0:
            base = np.array([centre_x - side * 32.0, wrist_y - 45.0, 20.0 + hover])
        start = 1 + 4 * finger
        for j, frac in enumerate((0.0, 0.45, 0.75, 1.0)):
            bend = np.array([0.0, 0.0, 12.0 * np.sin(frac * np.pi)])
            points[start + j] = base + (tips[finger] - base) * frac + bend
    return points


def project(points_mm: NDArray[np.float64], homography: NDArray[np.float64], ppm: float) -> NDArray[np.float32]:
    """Plane points with height to pixels (x, y, z): height lifts a point towards the back of the image."""
    lifted = points_mm[:, :2] - np.stack([np.zeros(len(points_mm)), points_mm[:, 2] * 0.3], axis=1)
    xy = apply_homography(homography, lifted)
    return np.column_stack([xy, -points_mm[:, 2] * ppm]).astype(np.float32)


def draw_hand(img: NDArray[np.uint8], pts: NDArray[np.float32], ppm: float, skin: BGR, sleeve: BGR) -> None:
    """Forearm and sleeve from the bottom edge, a palm, tapered fingers with nails."""
    height = img.shape[0]
    wrist = pts[0, :2]
    elbow = np.array([float(wrist[0]) + 0.15 * (float(wrist[0]) - img.shape[1] / 2), float(height + 200)])
    finger_w = max(2, round(15 * ppm))
    shade: BGR = (int(skin[0] * 0.7), int(skin[1] * 0.7), int(skin[2] * 0.7))
    light: BGR = (min(int(skin[0] * 1.1) + 12, 255), min(int(skin[1] * 1.1) + 10, 255),
                  min(int(skin[2] * 1.1) + 8, 255))
    # thick anti-aliased lines are slow: the forearm and the dark outlines use plain ones
    cv2.line(img, _pt(wrist), _pt(elbow), shade, finger_w * 4 + 2, cv2.LINE_8)
    cv2.line(img, _pt(wrist), _pt(elbow), skin, finger_w * 4, cv2.LINE_8)
    sleeve_start = wrist + (elbow - wrist) * 0.45
    cv2.line(img, _pt(sleeve_start), _pt(elbow), sleeve, finger_w * 5, cv2.LINE_8)
    palm = cv2.convexHull(np.round(_palm_outline(pts)).astype(np.int32))
    cv2.fillConvexPoly(img, palm, skin, cv2.LINE_AA)
    cv2.polylines(img, [palm], True, shade, 1, cv2.LINE_AA)
    for a, b in _FINGER_BONES:
        cv2.line(img, _pt(pts[a, :2]), _pt(pts[b, :2]), shade, _width(finger_w, b) + 2, cv2.LINE_8)
    for a, b in _FINGER_BONES:
        cv2.line(img, _pt(pts[a, :2]), _pt(pts[b, :2]), skin, _width(finger_w, b), cv2.LINE_AA)
    nail = max(1, round(finger_w * 0.3))
    for tip in TIPS:
        direction = pts[tip, :2] - pts[tip - 1, :2]
        at = pts[tip, :2] - direction * 0.25
        cv2.circle(img, _pt(at), nail, light, -1, cv2.LINE_AA)


def _palm_outline(pts: NDArray[np.float32]) -> NDArray[np.float32]:
    """Knuckles, thumb base and the two sides of the wrist (as wide as most of the knuckle row)."""
    wrist = pts[0, :2]
    along = pts[9, :2] - wrist
    across = np.array([-along[1], along[0]], np.float32) / max(float(np.linalg.norm(along)), 1e-6)
    half = 0.4 * float(np.linalg.norm(pts[5, :2] - pts[17, :2]))
    sides = np.stack([wrist + across * half, wrist - across * half]).astype(np.float32)
    return np.concatenate([pts[[1, 5, 9, 13, 17], :2], sides])


def _width(finger_w: int, joint: int) -> int:
    """Fingers taper: the bone ending at a tip is the thinnest."""
    segment = (joint - 1) % 4  # 0 knuckle .. 3 tip
    return max(2, round(finger_w * (1.05 - 0.08 * segment)))


def draw_hand_blurred(img: NDArray[np.uint8], pts: NDArray[np.float32], motion: NDArray[np.float32], ppm: float,
                      skin: BGR, sleeve: BGR) -> None:
    """Draw a moving hand smeared along ``motion`` (pixels travelled while the shutter was open)."""
    length = int(np.ceil(np.linalg.norm(motion)))
    pad = length + max(2, round(15 * ppm)) * 4
    x0, y0 = (max(int(v) - pad, 0) for v in pts[:, :2].min(axis=0))
    x1, y1 = min(int(pts[:, 0].max()) + pad, img.shape[1]), img.shape[0]
    if x1 <= x0 or y1 <= y0:
        return
    local = pts.copy()
    local[:, :2] -= np.array([x0, y0], np.float32)
    layer = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    mask = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    draw_hand(layer, local, ppm, skin, sleeve)
    draw_hand(mask, local, ppm, (255, 255, 255), (255, 255, 255))
    box = (abs(round(float(motion[0]))) + 1, abs(round(float(motion[1]))) + 1)  # a box, cheaper than a line
    smeared = cv2.blur(layer, box)
    uncovered = cv2.subtract(np.full_like(mask, 255), cv2.blur(mask, box))
    roi = img[y0:y1, x0:x1]
    cv2.add(cv2.multiply(roi, uncovered, scale=1.0 / 255.0), smeared, dst=roi)


def draw_shadow(img: NDArray[np.uint8], pts: NDArray[np.float32], ppm: float, offset: tuple[float, float],
                strength: float, softness: float = 1.0) -> None:
    """Darken the keys under a hand: the fingers and palm shifted by ``offset`` pixels, softened."""
    finger_w = max(2, round(15 * ppm))
    shifted = pts[:, :2] + np.array(offset, np.float32)
    blur = max(1, round(finger_w * softness)) | 1
    pad = 2 * finger_w + blur
    x0, y0 = (int(v) - pad for v in shifted.min(axis=0))
    x1, y1 = (int(v) + pad for v in shifted.max(axis=0))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = shifted - np.array([x0, y0], np.float32)
    for a, b in _BONES:
        cv2.line(mask, _pt(local[a]), _pt(local[b]), (255,), finger_w, cv2.LINE_8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(_palm_outline(local)).astype(np.int32)), (255,))
    soft = cv2.blur(mask, (blur, blur))
    keep = cv2.convertScaleAbs(soft, alpha=-strength, beta=255.0)
    roi = img[y0:y1, x0:x1]
    roi[:] = cv2.multiply(roi, cv2.merge([keep, keep, keep]), scale=1.0 / 255.0)


def _pt(p: NDArray[np.float32] | NDArray[np.float64]) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))
