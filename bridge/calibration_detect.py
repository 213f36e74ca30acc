"""Finding the keyboard in a grey image from its black keys.

The black keys are the one pattern every keyboard shares: dark bars of equal length, side by side,
each narrower than the bright white keys around them, spaced on a 12-slot grid per octave in groups
of two and three. A horizontal morphological closing fills every dark run narrower than the kernel,
so ``closing - image`` lights up the black keys (bright on both sides) but not the dark case behind
them, which runs the full width. The dark bars that share a row and a length are fitted to the slot
grid; the groups of two and three give each bar its pitch class, and the bars' back and front ends
(plane y = 0 and 95 mm) give the homography.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import BLACK_KEY_LENGTH_MM, BLACK_PITCH_CLASSES, SLOT_WIDTH_MM

GreyImage = NDArray[np.uint8]
MIN_BLACK_KEYS = 7  # fewer than this (just over an octave) cannot fix the pitch classes reliably
_MAX_BLOBS = 600
_MAX_ROWS = 80  # candidate rows fitted to the pattern, longest seeds first (bounds the time on noisy images)
_IS_BLACK = np.array([pc in BLACK_PITCH_CLASSES for pc in range(12)])


@dataclass(frozen=True, slots=True)
class Bar:
    """One dark bar (a black-key candidate): its back and front end points in pixels and its width."""

    back: NDArray[np.float64]
    front: NDArray[np.float64]
    width: float
    centre: NDArray[np.float64] = field(init=False)
    length: float = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: the row search reads them many times.
        object.__setattr__(self, "centre", (self.back + self.front) / 2)
        object.__setattr__(self, "length", math.hypot(*(self.front - self.back)))


@dataclass(frozen=True, slots=True)
class KeyRow:
    """Black keys found in a row: each bar with its semitone index from a reference C (``pitch % 12`` is its class)."""

    bars: tuple[Bar, ...]
    semitones: tuple[int, ...]
    slot_px: float  # slot width (1/12 octave) in pixels along the row
    residual: float  # RMS distance of the bars from the fitted slot grid, in slots


def black_bar_mask(grey: GreyImage, kernel_width: int) -> NDArray[np.uint8]:
    """Pixels much darker than the bright surface within half a kernel on both sides (black keys)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_width | 1, 1))
    closed = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel)
    contrast = cv2.subtract(closed, grey)
    darker = contrast.astype(np.int16) * 100 > closed.astype(np.int16) * 45
    mask = darker & (closed > 60) & (contrast > 25)
    return np.asarray(mask, dtype=np.uint8)


def find_bars(grey: GreyImage, kernel_width: int) -> list[Bar]:
    """Dark bars at least 2.5 times longer than wide, not lying flat, with their end points."""
    mask = black_bar_mask(grey, kernel_width)
    bars, rejected = _bars_in(mask)
    # Blobs that are not bars may be keys joined by a thin dark line (a felt strip, the case's edge): a
    # vertical opening cuts such lines. Only those blobs: opening every bar would shave its ends.
    thickness = max(3, round(grey.shape[0] / 180))
    vertical = cv2.getStructuringElement(cv2.MORPH_RECT, (1, thickness))
    opened = np.asarray(cv2.morphologyEx(rejected, cv2.MORPH_OPEN, vertical), np.uint8)
    return bars + _bars_in(opened)[0]


def _bars_in(mask: NDArray[np.uint8]) -> tuple[list[Bar], NDArray[np.uint8]]:
    """The bars among the mask's connected blobs, and a mask of the large blobs that were not bars."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    widths, heights, areas = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    keep = (heights >= 8) & (2 * heights >= widths) & (widths >= 2) & (areas >= 30)
    indices = np.flatnonzero(keep) + 1
    if len(indices) > _MAX_BLOBS:
        indices = indices[np.argsort(-areas[indices - 1])[:_MAX_BLOBS]]
    bars = []
    for index in indices:
        x, y, w, h = (int(v) for v in stats[index, :4])
        ys, xs = np.nonzero(labels[y:y + h, x:x + w] == index)
        bar = _bar_from_pixels(xs + x, ys + y)
        if bar.length >= 2.5 * bar.width:
            bars.append(bar)
            keep[index - 1] = False
        else:
            keep[index - 1] = True
    large = np.flatnonzero((areas >= 30 * MIN_BLACK_KEYS) & ((2 * heights < widths) | keep)) + 1
    rejected = np.isin(labels, large) if len(large) else np.zeros(mask.shape, bool)
    return bars, np.asarray(rejected, np.uint8)


def _bar_from_pixels(xs: NDArray[np.intp], ys: NDArray[np.intp]) -> Bar:
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    # The axis is the direction in which x changes with y (a near-vertical line: x = a + b*y).
    spread_y = float(((points[:, 1] - centre[1]) ** 2).sum())
    slope = float(((points[:, 0] - centre[0]) * (points[:, 1] - centre[1])).sum()) / max(spread_y, 1e-9)
    axis = np.array([slope, 1.0]) / np.hypot(slope, 1.0)
    along = (points - centre) @ axis
    # The ends are where the bar is still at least half its usual width: thin tails (the gaps between
    # white keys below a black key, blur into the case behind it) do not count.
    first = float(along.min())
    counts = np.bincount(np.floor(along - first).astype(np.intp))
    wide = np.flatnonzero(counts >= 0.5 * np.median(counts[counts > 0]))
    low, high = first + float(wide[0]) - 0.5, first + float(wide[-1]) + 0.5
    return Bar(centre + axis * low, centre + axis * high, len(points) / max(high - low, 1.0))


def find_key_row(bars: list[Bar]) -> KeyRow | None:
    """The largest set of bars in one row that fits the black-key pattern, or None."""
    if len(bars) < MIN_BLACK_KEYS:
        return None
    order = np.argsort([b.centre[0] for b in bars])
    bars = [bars[i] for i in order]
    best: KeyRow | None = None
    seen: set[frozenset[int]] = set()
    centres = np.array([b.centre for b in bars])
    lengths = np.array([b.length for b in bars])
    chained: set[int] = set()
    for seed in np.argsort(-lengths):
        chain = [] if seed in chained else _row_chain(bars, int(seed))
        chained.update(chain)
        for members in (chain, _row_band(centres, lengths, int(seed))):
            key = frozenset(members)
            if len(members) < MIN_BLACK_KEYS or key in seen or len(seen) >= _MAX_ROWS:
                continue
            seen.add(key)
            row = _fit_pattern([bars[i] for i in members])
            if row is not None and (best is None or _row_score(row) > _row_score(best)):
                best = row
    return best


def _row_score(row: KeyRow) -> float:
    return len(row.bars) - row.residual


def _row_chain(bars: list[Bar], seed: int) -> list[int]:
    """Bars chained left and right from the seed (bars sorted by x), each like the last one taken.

    Like means: length within 30% and width within 60% (perspective changes both slowly), back end on a line
    tilted at most about 17 degrees from the last one's, and no more than 8 of its widths away (a few
    keys may be missing). Bars that are not like it are skipped, so a hand or a shadow does not end the row.
    """
    members = [seed]
    for step in (-1, 1):
        last = bars[seed]
        index = seed + step
        while 0 <= index < len(bars):
            bar = bars[index]
            dx = abs(bar.back[0] - last.back[0])
            if dx > 8 * max(last.width, 2.0):
                break
            similar = abs(bar.length - last.length) < 0.3 * last.length and 0.6 < bar.width / last.width < 1.6
            in_line = abs(bar.back[1] - last.back[1]) < 0.3 * dx + 0.15 * last.length
            if similar and in_line:
                members.append(index)
                last = bar
            index += step
    return sorted(members)


def _row_band(centres: NDArray[np.float64], lengths: NDArray[np.float64], seed: int) -> list[int]:
    """Bars of a length like the seed's whose centres lie on a near-horizontal line through it.

    Complements the chain: it bridges a stretch of missing or odd bars, where the chain stops.
    """
    similar = np.abs(lengths - lengths[seed]) < 0.3 * lengths[seed]
    slope, intercept = 0.0, centres[seed, 1]
    members = np.flatnonzero(similar)
    for _ in range(2):
        offset = centres[:, 1] - (intercept + slope * (centres[:, 0] - centres[seed, 0]))
        members = np.flatnonzero(similar & (np.abs(offset) < 0.2 * lengths[seed]))
        if len(members) < 3:
            break
        dx = centres[members, 0] - centres[seed, 0]
        slope, intercept = _line_fit(dx, centres[members, 1])
        slope = float(np.clip(slope, -0.3, 0.3))
    return [int(i) for i in members]


def _fit_pattern(bars: list[Bar]) -> KeyRow | None:
    """Assign slots (1/12 octave) to bars ordered along the row; keep those that fit groups of two and three."""
    centres = np.array([b.centre for b in bars])
    direction = centres[-1] - centres[0] if len(bars) > 1 else np.array([1.0, 0.0])
    order = np.argsort(centres @ np.array([1.0, 0.0]))
    centres = centres[order]
    direction = centres[-1] - centres[0]
    direction = direction / max(float(np.linalg.norm(direction)), 1e-9)
    positions = centres @ direction
    gaps = np.diff(positions)
    best: tuple[int, NDArray[np.int64], NDArray[np.bool_], float, float] | None = None
    for slot in _slot_candidates(gaps):
        slots, inliers, residual, slot = _assign_slots(positions, slot)
        pitch_class_ok = _IS_BLACK[(slots[None, :] + np.arange(12)[:, None]) % 12] & inliers
        counts = pitch_class_ok.sum(axis=1)
        offset = int(np.argmax(counts))
        ranked = np.sort(counts)
        # Another shift of the pattern fits all but about one bar per octave: the winner must fit clearly better.
        if ranked[-1] - ranked[-2] < (1 if ranked[-1] == inliers.sum() else 2):
            continue
        if best is None or counts[offset] > best[0] or (counts[offset] == best[0] and residual < best[3]):
            best = (int(counts[offset]), slots + offset, pitch_class_ok[offset], residual, slot)
    if best is None or best[0] < MIN_BLACK_KEYS:
        return None
    _, semitones, good, residual, slot_px = best
    kept_order = order[good]
    like_neighbours = _like_neighbours(np.array([bars[i].width for i in kept_order]),
                                       np.array([bars[i].length for i in kept_order]))
    kept_order, kept_semitones = kept_order[like_neighbours], semitones[good][like_neighbours]
    widths = np.array([bars[i].width for i in kept_order])
    if len(kept_order) < MIN_BLACK_KEYS or not 0.4 < float(np.median(widths)) / slot_px < 1.6:
        return None
    kept = tuple(bars[i] for i in kept_order)
    return KeyRow(kept, tuple(int(s) for s in kept_semitones), slot_px, residual)


def _like_neighbours(widths: NDArray[np.float64], lengths: NDArray[np.float64], reach: int = 3) -> NDArray[np.bool_]:
    """Bars as wide and as long as their neighbours in the row (perspective changes both only slowly).

    A dark bar at the end of the row that is the case's edge or a shadow is wider or longer than the keys.
    """
    keep = np.ones(len(widths), bool)
    for i in range(len(widths)):
        around = [j for j in range(max(0, i - reach), min(len(widths), i + reach + 1)) if j != i]
        if not around:
            continue
        width_ratio = widths[i] / float(np.median(widths[around]))
        length_ratio = lengths[i] / float(np.median(lengths[around]))
        keep[i] = 0.6 < width_ratio < 1.6 and 0.8 < length_ratio < 1.25
    return keep


def _slot_candidates(gaps: NDArray[np.float64], keep: int = 4) -> list[float]:
    """Slot widths under which most gaps between neighbouring bars are two or three slots."""
    candidates = np.concatenate([gaps / 2, gaps / 3])
    candidates = candidates[candidates >= 2.0]
    if len(candidates) == 0:
        return []
    # One representative per 3% band of widths.
    bands = np.round(np.log(candidates) / 0.03)
    _, first = np.unique(bands, return_index=True)
    candidates = candidates[first]
    ratios = gaps[None, :] / candidates[:, None]
    whole = np.round(ratios)
    fits = ((np.abs(ratios - whole) < 0.2) & (whole >= 2) & (whole <= 8)).sum(axis=1)
    return [float(c) for c in candidates[np.argsort(-fits)[:keep]]]


def _assign_slots(positions: NDArray[np.float64],
                  slot: float) -> tuple[NDArray[np.int64], NDArray[np.bool_], float, float]:
    """Walk the bars left to right counting slots between neighbours, then refine on a least-squares grid.

    Returns each bar's slot, which bars fit, their RMS distance from the grid (slots) and the refined slot width.
    """
    slots = np.zeros(len(positions), np.int64)
    inliers = np.ones(len(positions), bool)
    last = 0
    for i in range(1, len(positions)):
        steps = (positions[i] - positions[last]) / slot
        whole = round(steps)
        if whole < 2 or abs(steps - whole) > 0.3:
            inliers[i] = False
            continue
        slots[i] = slots[last] + whole
        last = i
    residual = 1.0
    for _ in range(2):
        if inliers.sum() < 3:
            break
        scale, origin = _line_fit(slots[inliers].astype(np.float64), positions[inliers])
        if scale < 1.0:
            break
        slot = scale
        exact = (positions - origin) / scale
        slots = np.round(exact).astype(np.int64)
        error = np.abs(exact - slots)
        inliers = error < 0.3
        residual = float(np.sqrt(np.mean(error[inliers] ** 2))) if inliers.any() else 1.0
    slots -= int(slots[inliers].min()) if inliers.any() else 0
    return slots, inliers, residual, slot


def _line_fit(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Least-squares slope and intercept of y = slope * x + intercept (np.polyfit is slow in a loop)."""
    x_mean, y_mean = float(x.mean()), float(y.mean())
    spread = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / spread if spread > 0 else 0.0
    return slope, y_mean - slope * x_mean


def row_homography(row: KeyRow) -> tuple[NDArray[np.float64], float] | None:
    """Image -> plane (mm, x from the reference C's left edge) from the bars' ends, and the RMS error in mm."""
    image_points, plane_points = [], []
    for bar, semitone in zip(row.bars, row.semitones, strict=True):
        x_mm = (semitone + 0.5) * SLOT_WIDTH_MM
        image_points += [bar.back, bar.front]
        plane_points += [(x_mm, 0.0), (x_mm, BLACK_KEY_LENGTH_MM)]
    src = np.array(image_points, np.float64)
    dst = np.array(plane_points, np.float64)
    # Real black keys sit up to ~2 mm off the 12-slot grid and lenses bend the row: a loose threshold.
    homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, 8.0)
    if homography is None:
        return None
    inliers = inlier_mask.ravel().astype(bool)
    for _ in range(2):
        refit, _ = cv2.findHomography(src[inliers], dst[inliers], 0)
        if refit is None:
            return None
        homography = refit
        mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
        errors = np.linalg.norm(mapped - dst, axis=1)
        # Then drop ends well off the common fit (a key end hidden by a finger, a pressed key's shadow).
        inliers = errors < max(2.5 * float(np.median(errors[inliers])), 1.5)
        if inliers.sum() < 8:
            return None
    rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    return np.asarray(homography, np.float64), rms
