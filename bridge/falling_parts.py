"""Notes of a falling-notes video grouped into parts (hands or instruments) by the colour of their bars.

Colours are compared by hue (CIE Lab with the chroma fixed and lightness down-weighted), so gradients,
translucency, glow and dimming (which change lightness and strength) do not split a part. The number
of parts is the largest k up to ``max_parts`` whose clusters stay clearly apart; parts are ordered by
mean pitch (the left hand first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

LIGHTNESS_WEIGHT = 0.35
HUE_RADIUS = 50.0
MIN_CHROMA = 10.0
MIN_SEPARATION = 22.0  # Lab units between part colours
MIN_SHARE = 0.02  # a part holds at least this share of the notes
MIN_SSE_DROP = 0.4  # a further part must cut the spread by this fraction

BGR = tuple[int, int, int]
_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


@dataclass(frozen=True, slots=True)
class Parts:
    labels: NDArray[np.intp]  # part of each note, 0 = lowest mean pitch
    colours: list[BGR]  # median BGR colour of each part


def _features(bgr: NDArray[np.float64]) -> NDArray[np.float64]:
    """CIE Lab (D65) of BGR colours with the chroma set to HUE_RADIUS (weak colours up to 1/MIN_CHROMA)."""
    rgb = np.clip(bgr[:, ::-1] / 255.0, 0.0, 1.0)
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lightness = 116 * f[:, 1] - 16
    a, b = 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])
    scale = HUE_RADIUS / np.maximum(np.hypot(a, b), MIN_CHROMA)  # hue counts, not how strong the colour is
    return np.stack([LIGHTNESS_WEIGHT * lightness, a * scale, b * scale], axis=1)


def _kmeans(points: NDArray[np.float64], k: int, iterations: int = 30) -> tuple[NDArray[np.intp], float]:
    """Deterministic k-means: farthest-point start from the point nearest the mean."""
    first = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    centres = [points[first]]
    for _ in range(1, k):
        dist = np.min([np.linalg.norm(points - c, axis=1) for c in centres], axis=0)
        centres.append(points[int(np.argmax(dist))])
    centre_arr = np.array(centres)
    labels = np.zeros(len(points), np.intp)
    for _ in range(iterations):
        dist = np.linalg.norm(points[:, None, :] - centre_arr[None, :, :], axis=2)
        labels = np.argmin(dist, axis=1)
        new = np.array([points[labels == j].mean(axis=0) if np.any(labels == j) else centre_arr[j] for j in range(k)])
        if np.allclose(new, centre_arr):
            break
        centre_arr = new
    sse = float(np.sum((points - centre_arr[labels]) ** 2))
    return labels, sse


def _acceptable(points: NDArray[np.float64], labels: NDArray[np.intp], k: int) -> bool:
    counts = np.bincount(labels, minlength=k)
    if counts.min() < max(2, MIN_SHARE * len(points)):
        return False
    centres = np.array([points[labels == j].mean(axis=0) for j in range(k)])
    gaps = np.linalg.norm(centres[:, None] - centres[None, :], axis=2) + np.eye(k) * 1e9
    return bool(gaps.min() >= MIN_SEPARATION)


def cluster_parts(colours_bgr: NDArray[np.float64], pitches: NDArray[np.int64], max_parts: int = 4) -> Parts:
    """Group notes by bar colour (``colours_bgr[N, 3]``, 0-255); parts come out ordered by mean pitch."""
    n = len(colours_bgr)
    if n == 0:
        return Parts(np.zeros(0, np.intp), [])
    points = _features(colours_bgr)
    labels, sse = np.zeros(n, np.intp), float(np.sum((points - points.mean(axis=0)) ** 2))
    for k in range(2, max_parts + 1):
        if n < 2 * k:
            break
        candidate, candidate_sse = _kmeans(points, k)
        if not _acceptable(points, candidate, k) or candidate_sse > (1 - MIN_SSE_DROP) * sse:
            break
        labels, sse = candidate, candidate_sse
    k = int(labels.max()) + 1
    order = np.argsort([np.mean(pitches[labels == j]) for j in range(k)], kind="stable")
    rank = np.empty(k, np.intp)
    rank[order] = np.arange(k)
    ordered = rank[labels]
    colours = [_bgr(np.median(colours_bgr[ordered == j], axis=0)) for j in range(k)]
    return Parts(ordered, colours)


def _bgr(colour: NDArray[np.float64]) -> BGR:
    b, g, r = (int(np.clip(round(float(c)), 0, 255)) for c in colour)
    return b, g, r
