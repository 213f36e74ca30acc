"""Synthesia-style overlays: falling note bars with glow, particles and note names, fades, a title card and a
watermark.

Bars live on the keyboard plane extended behind the keys (negative y in mm), so a tilted or rolled
camera sees them in the same perspective as the keys. A bar reaches the felt strip when its note starts.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import NOTE_NAMES, KeyLayout, apply_homography
from bridge.synth.scene import LOOK_AHEAD_S
from bridge.synth.style import BGR, StyleParams
from bridge.synth.surfaces import scale_colour
from bridge.types import Note

Image = NDArray[np.uint8]
BAR_SECONDS = LOOK_AHEAD_S
FELT_Y_MM = -6.0
PARTICLE_SECONDS = 0.7
N_PARTICLES = 7
GLOW_LEVELS = 8
NAME_WIDTH = 0.6  # a note name's width as a share of its bar's (a sharp's two characters shrink to fit)
NAME_MARGIN = 0.25  # its gap to the bar's front, as a share of the bar's width
MEASURE_S = 2.0  # score lines: a measure line every 2 s from the clip's first frame (4/4 at 120 bpm)
LINE_COLOUR = (72, 72, 72)  # grey on the dark background
LIGHT_LINE_SHADE = 0.82  # on a light background: a grey this much darker than it
CORNER_POINTS = 7  # points along each rounded corner of a bar


def bar_span_mm(homography: NDArray[np.float64], layout: KeyLayout) -> float:
    """How far behind the keys (mm) the plane stays in view: the bars fall over this distance."""
    ys = FELT_Y_MM - np.arange(0.0, 4000.0, 5.0)
    pts = np.column_stack([np.full_like(ys, layout.width_mm / 2.0), ys, np.ones_like(ys)]) @ homography.T
    w0 = pts[0, 2]
    visible = (pts[:, 2] > 0.25 * w0) & (pts[:, 1] / pts[:, 2] > 0.0)
    last = int(np.argmin(visible)) if not visible.all() else len(ys) - 1
    return float(max(FELT_Y_MM - ys[max(last, 1)], 50.0))


class BarPainter:
    """Draws the bars of the notes within ``BAR_SECONDS`` of ``t``, and the effects of sounding notes."""

    def __init__(self, notes: Sequence[Note], layout: KeyLayout, homography: NDArray[np.float64],
                 style: StyleParams, hand_of_note: Sequence[int]) -> None:
        inside = [i for i, n in enumerate(notes) if layout.lowest_pitch <= n.pitch <= layout.highest_pitch]
        self.starts = np.array([notes[i].start for i in inside], np.float64)
        self.ends = np.array([notes[i].end for i in inside], np.float64)
        self.ranges = np.array([layout.x_range_mm(notes[i].pitch) for i in inside], np.float64).reshape(-1, 2)
        self.hands = np.array([hand_of_note[i] for i in inside], np.int8)
        self.names = [NOTE_NAMES[notes[i].pitch % 12] for i in inside]
        self.homography, self.style = homography, style
        self.speed = bar_span_mm(homography, layout) / BAR_SECONDS  # mm per second
        self.colours = (style.left_bar_colour, style.right_bar_colour)
        self.width_mm = layout.width_mm
        self.octave_lines = [layout.x_range_mm(p)[0] for p in range(layout.lowest_pitch, layout.highest_pitch + 1)
                             if p % 12 in (0, 5) and p != layout.lowest_pitch]
        self.key_px = max(2.0, float(np.linalg.norm(np.diff(apply_homography(homography, np.array(
            [[0.0, 0.0], [layout.width_mm / layout.n_white, 0.0]])), axis=0))))
        blob = _glow_sprite(round(self.key_px * 2.5))
        self.glows = [[(blob[:, :, None] * np.array(c, np.float32) * (k / GLOW_LEVELS)).astype(np.uint8)
                       for k in range(GLOW_LEVELS + 1)] for c in self.colours]

    def paint(self, img: Image, t: float) -> None:
        if self.style.score_lines:
            self._score_lines(img, t)
        due = np.flatnonzero((self.starts < t + BAR_SECONDS) & (self.ends > t))
        if len(due) == 0:
            return
        bottom = FELT_Y_MM - np.maximum(self.starts[due] - t, 0.0) * self.speed
        top = FELT_Y_MM - (self.ends[due] - t) * self.speed
        left, right = self.ranges[due, 0] + 0.8, self.ranges[due, 1] - 0.8
        corners = np.stack([np.column_stack(c) for c in ((left, top), (right, top), (right, bottom),
                                                         (left, bottom))], axis=1)
        pixels = apply_homography(self.homography, corners.reshape(-1, 2)).reshape(-1, 4, 2)
        target = img.copy() if self.style.bar_look == "translucent" else img
        for k, quad in enumerate(pixels):
            colour = self.colours[int(self.hands[due[k]])]
            if self.style.bar_corners > 0:
                self._rounded_bar(target, (left[k], right[k], top[k], bottom[k]), colour)
            else:
                self._bar(target, quad, colour)
        if target is not img:
            cv2.addWeighted(target, 0.7, img, 0.3, 0.0, dst=img)
        if self.style.note_names:
            for index in due:
                self._name(img, int(index), t)
        sounding = due[self.starts[due] <= t]
        for index in sounding:
            self._hit(img, int(index), t)

    def _score_lines(self, img: Image, t: float) -> None:
        """Lines behind the bars: each measure's line across the keyboard, falling with them, and a still line
        above the left edge of each C and F."""
        far = FELT_Y_MM - BAR_SECONDS * self.speed
        ends: list[tuple[float, float, float, float]] = []
        if self.style.score_lines in ("measures", "both"):
            first = np.ceil(t / MEASURE_S) * MEASURE_S
            for when in np.arange(first, t + BAR_SECONDS, MEASURE_S):
                y = FELT_Y_MM - (when - t) * self.speed
                ends.append((0.0, y, self.width_mm, y))
        if self.style.score_lines in ("octaves", "both"):
            ends.extend((x, FELT_Y_MM, x, far) for x in self.octave_lines)
        if not ends:
            return
        pixels = apply_homography(self.homography, np.array(ends).reshape(-1, 2)).reshape(-1, 2, 2)
        thickness = max(1, round(img.shape[0] / 720))
        light = self.style.theme == "light"
        colour = scale_colour(self.style.background_colour, LIGHT_LINE_SHADE) if light else LINE_COLOUR
        for (x0, y0), (x1, y1) in np.round(pixels * 16).astype(np.int64).tolist():
            cv2.line(img, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA, shift=4)

    def _bar(self, img: Image, quad: NDArray[np.float64], colour: BGR) -> None:
        fixed = np.round(quad * 16).astype(np.int32)
        if self.style.bar_look == "gradient":  # brighter where the bar meets the keys
            mid = (quad[:2] + quad[2:][::-1]) / 2.0
            cv2.fillPoly(img, [fixed], scale_colour(colour, 0.65), cv2.LINE_AA, shift=4)
            lower = np.round(np.array([mid[0], mid[1], quad[2], quad[3]]) * 16).astype(np.int32)
            cv2.fillPoly(img, [lower], colour, cv2.LINE_AA, shift=4)
        else:
            cv2.fillPoly(img, [fixed], colour, cv2.LINE_AA, shift=4)
        cv2.polylines(img, [fixed], True, scale_colour(colour, 0.5), 1, cv2.LINE_AA, shift=4)

    def _rounded_bar(self, img: Image, rect: tuple[float, float, float, float], colour: BGR) -> None:
        """A bar with rounded corners (``rect``: left, right, top and bottom on the plane, mm), as the quad of
        :meth:`_bar` is drawn: a gradient bar's lower half brighter, then the darker outline."""
        left, right, top, bottom = rect
        outline = self._outline(left, right, top, bottom, True)
        if self.style.bar_look == "gradient":
            cv2.fillPoly(img, [outline], scale_colour(colour, 0.65), cv2.LINE_AA, shift=4)
            lower = self._outline(left, right, (top + bottom) / 2.0, bottom, False)
            cv2.fillPoly(img, [lower], colour, cv2.LINE_AA, shift=4)
        else:
            cv2.fillPoly(img, [outline], colour, cv2.LINE_AA, shift=4)
        cv2.polylines(img, [outline], True, scale_colour(colour, 0.5), 1, cv2.LINE_AA, shift=4)

    def _outline(self, left: float, right: float, top: float, bottom: float, round_top: bool) -> NDArray[np.int32]:
        """Image points (1/16 pixel) around a plane rectangle whose corners are quarter circles of
        ``style.bar_corners`` times its width (at most half its height); the top corners square unless
        ``round_top``."""
        radius = min(self.style.bar_corners * (right - left), (bottom - top) / 2.0)
        quarter = np.linspace(0.0, np.pi / 2.0, CORNER_POINTS)
        arc = np.column_stack([np.cos(quarter), np.sin(quarter)]) * radius
        bottom_right = np.array([right - radius, bottom - radius]) + arc
        bottom_left = (np.array([left + radius, bottom - radius]) + arc * [-1.0, 1.0])[::-1]
        if round_top:
            top_left = np.array([left + radius, top + radius]) - arc
            top_right = (np.array([right - radius, top + radius]) + arc * [1.0, -1.0])[::-1]
        else:
            top_left, top_right = np.array([[left, top]]), np.array([[right, top]])
        plane = np.concatenate([bottom_right, bottom_left, top_left, top_right])
        return np.asarray(np.round(apply_homography(self.homography, plane) * 16), dtype=np.int32)

    def _name(self, img: Image, index: int, t: float) -> None:
        """The note's name in white near its bar's front, hidden behind the keyboard once it passes the felt."""
        ahead = self.starts[index] - t
        front = FELT_Y_MM - (max(ahead, 0.0) if self.style.note_names == "held" else ahead) * self.speed
        end = FELT_Y_MM - (self.ends[index] - t) * self.speed
        left, right = self.ranges[index, 0] + 0.8, self.ranges[index, 1] - 0.8
        (x0, y0), (x1, _), (_, y_end), (_, felt) = apply_homography(self.homography, np.array(
            [[left, front], [right, front], [left, end], [(left + right) / 2, FELT_Y_MM]]))
        width = abs(x1 - x0)
        name = self.names[index]
        scale = NAME_WIDTH * width / max(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)[0][0]
                                         for text in ("C", name))
        thickness = max(1, round(1.5 * scale))
        (text_w, text_h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        base = y0 - NAME_MARGIN * width
        if y0 - y_end < text_h + 2 * NAME_MARGIN * width or base - text_h - thickness >= felt:
            return  # the bar is too short for it, or it is behind the keyboard
        x = round((x0 + x1) / 2 - text_w / 2)
        top, bottom = max(round(base - text_h) - thickness - 1, 0), min(round(base) + thickness + 1, img.shape[0])
        first_hidden = int(np.clip(np.ceil(felt), top, bottom))
        hidden = img[first_hidden:bottom, max(x, 0):x + text_w + 1].copy()
        cv2.putText(img, name, (x, round(base)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
        img[first_hidden:bottom, max(x, 0):x + text_w + 1] = hidden

    def _hit(self, img: Image, index: int, t: float) -> None:
        x_mm = float(self.ranges[index].mean())
        x, y = apply_homography(self.homography, np.array([[x_mm, FELT_Y_MM]]))[0]
        colour = self.colours[int(self.hands[index])]
        age = t - float(self.starts[index])
        if self.style.glow:
            level = round(GLOW_LEVELS * (0.5 + 0.5 * np.exp(-age * 4.0)))
            _add_sprite(img, self.glows[int(self.hands[index])][level], (x, y))
        if self.style.particles and age < PARTICLE_SECONDS:
            rng = np.random.default_rng([self.style.seed, index])
            velocity = rng.normal(0.0, 1.0, (N_PARTICLES, 2)) * [self.key_px * 1.5, self.key_px] - [0, self.key_px * 3]
            positions = np.array([x, y]) + velocity * age + [0.0, self.key_px * 6.0 * age * age]
            bright = scale_colour(colour, 1.6)
            for px, py in positions:
                cv2.circle(img, (round(px), round(py)), max(1, round(self.key_px * 0.12)), bright, -1, cv2.LINE_AA)


def _glow_sprite(radius: int) -> NDArray[np.float32]:
    size = 2 * max(radius, 2) + 1
    ys, xs = np.mgrid[:size, :size].astype(np.float32) - size // 2
    sprite: NDArray[np.float32] = np.exp(-(xs**2 / (radius * 0.5) ** 2 + ys**2 / (radius * 0.3) ** 2)).astype(
        np.float32)
    return sprite


def _add_sprite(img: Image, sprite: Image, centre: tuple[float, float]) -> None:
    """Add a coloured blob (light) centred on ``centre``, clipped to the image."""
    half = sprite.shape[0] // 2
    cx, cy = round(centre[0]), round(centre[1])
    x0, y0, x1, y1 = cx - half, cy - half, cx + half + 1, cy + half + 1
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if ix1 <= ix0 or iy1 <= iy0:
        return
    roi = img[iy0:iy1, ix0:ix1]
    cv2.add(roi, sprite[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0], dst=roi)


class TextOverlay:
    """Text blended into one corner of every frame (watermark) or fading out over the intro (title)."""

    def __init__(self, text: str, size: tuple[int, int], where: str, height_fraction: float, opacity: float) -> None:
        width, height = size
        scale = height * height_fraction / 22.0
        thickness = max(1, round(scale * 1.5))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
        tw, th = min(tw, width - 4), min(th + base, height - 4)
        pad = round(height * 0.03)
        x = (width - tw) // 2 if where == "top" else width - tw - pad
        y = pad if where == "top" else height - th - pad
        self.box = (max(y, 0), max(y, 0) + th, max(x, 0), max(x, 0) + tw)
        mask = np.zeros((th, tw), np.uint8)
        cv2.putText(mask, text, (0, th - base), cv2.FONT_HERSHEY_DUPLEX, scale, (255,), thickness, cv2.LINE_AA)
        self.alpha = mask.astype(np.float32)[:, :, None] * (opacity / 255.0)

    def blend(self, img: Image, strength: float = 1.0) -> None:
        y0, y1, x0, x1 = self.box
        roi = img[y0:y1, x0:x1]
        alpha = self.alpha[: roi.shape[0], : roi.shape[1]] * strength
        roi[:] = (roi.astype(np.float32) * (1.0 - alpha) + 255.0 * alpha).astype(np.uint8)


def fade_gain(t: float, duration: float, fade_in: float, fade_out: float) -> float:
    """Brightness of the frame at ``t``: ramps up over the intro and down over the outro."""
    gain = 1.0
    if fade_in > 0:
        gain = min(gain, t / fade_in)
    if fade_out > 0:
        gain = min(gain, (duration - t) / fade_out)
    return float(np.clip(gain, 0.0, 1.0))
