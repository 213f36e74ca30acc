"""Everything around and on the keys that does not move: case, fallboard, panel, logo, wear, room and lap.

All of it is drawn once per video: the case on the keyboard canvas (plane mm), the room behind the
keyboard in image pixels.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, KeyLayout, apply_homography, is_black
from bridge.synth.style import BGR, StyleParams, style_rng

Image = NDArray[np.uint8]
FALLBOARD_GAP_MM = 12.0  # back rail and felt between the keys and the fallboard
REFLECTION_MM = 45.0


class PlaneCanvas(Protocol):
    ppm: float
    x0: float
    y0: float
    width: int
    height: int

    def rect(self, img: Image, x0: float, y0: float, x1: float, y1: float, colour: BGR) -> None: ...

    def row(self, y_mm: float) -> int: ...

    def col(self, x_mm: float) -> int: ...


def scale_colour(colour: BGR, factor: float) -> BGR:
    b, g, r = (int(np.clip(c * factor, 0, 255)) for c in colour)
    return b, g, r


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> NDArray[np.float32]:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled with cubic interpolation."""
    coarse = rng.uniform(-1.0, 1.0, (cells[1], cells[0])).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), dtype=np.float32)


def draw_case(canvas: PlaneCanvas, img: Image, layout: KeyLayout, style: StyleParams) -> None:
    """Case colour everywhere, then the fallboard (or panel), felt strip and the dark gaps between keys."""
    rng = style_rng(style.name + "/case", style.seed)
    img[:] = style.case_colour
    if style.case_finish == "wood":
        _wood_grain(img, rng, canvas.ppm)
    w = layout.width_mm
    top, bottom = canvas.y0, -FALLBOARD_GAP_MM
    if style.case_finish == "gloss":
        _gloss_highlight(canvas, img, rng, top, bottom)
    elif style.name == "digital":
        _panel(canvas, img, layout, style, rng)
    if style.brand:
        _logo(canvas, img, style, (w / 2.0, bottom - 0.35 * (bottom - top)))
    canvas.rect(img, -10.0, -FALLBOARD_GAP_MM, w + 10.0, -6.0, scale_colour(style.case_colour, 0.6))  # back rail
    canvas.rect(img, 0.0, -6.0, w, 0.0, style.felt_colour)  # felt strip
    canvas.rect(img, 0.0, 0.0, w, WHITE_KEY_LENGTH_MM + 2.0, (25, 25, 25))  # gaps between keys


def _wood_grain(img: Image, rng: np.random.Generator, ppm: float) -> None:
    h, w = img.shape[:2]
    warp = smooth_noise(rng, (h, w), (12, 4)) * 6.0
    ys = np.arange(h, dtype=np.float32)[:, None] / max(ppm, 1e-3)
    fine = rng.normal(0.0, 1.0, (h, 1)).astype(np.float32)
    grain = 1.0 + 0.10 * np.sin(ys * 0.9 + warp) + 0.04 * np.asarray(cv2.GaussianBlur(fine, (1, 5), 0))
    img[:] = np.clip(img.astype(np.float32) * grain[:, :, None], 0, 255).astype(np.uint8)


def _gloss_highlight(canvas: PlaneCanvas, img: Image, rng: np.random.Generator, top: float, bottom: float) -> None:
    """A soft bright streak across the glossy fallboard where the room light reflects."""
    r0, r1 = canvas.row(top), canvas.row(bottom)
    rows = np.linspace(0.0, 1.0, max(r1 - r0, 1), dtype=np.float32)
    centre, width = float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.08, 0.2))
    streak = np.exp(-((rows - centre) / width) ** 2) * float(rng.uniform(25, 60))
    along = 0.6 + 0.4 * smooth_noise(rng, (1, img.shape[1]), (6, 1))[0]
    band = img[r0:r1].astype(np.float32) + streak[:, None, None] * along[None, :, None]
    img[r0:r1] = np.clip(band, 0, 255).astype(np.uint8)


def _panel(canvas: PlaneCanvas, img: Image, layout: KeyLayout, style: StyleParams,
           rng: np.random.Generator) -> None:
    """A digital piano's control panel: buttons, a small display and speaker grilles."""
    w = layout.width_mm
    y0, y1 = canvas.y0 + 12.0, -FALLBOARD_GAP_MM - 14.0
    light = sum(style.case_colour) > 300
    button: BGR = scale_colour(style.case_colour, 0.7 if light else 1.8)
    n_buttons = int(rng.integers(4, 12))
    x = w * 0.18
    for _ in range(n_buttons):
        bw = float(rng.uniform(8.0, 14.0))
        canvas.rect(img, x, y1 - 10.0, x + bw, y1, button)
        x += bw + float(rng.uniform(3.0, 8.0))
    lcd_x = w * float(rng.uniform(0.55, 0.65))
    canvas.rect(img, lcd_x, y1 - 16.0, lcd_x + 60.0, y1, (30, 45, 25) if rng.random() < 0.5 else (60, 40, 20))
    grille = scale_colour(style.case_colour, 0.55 if light else 0.5)
    for left in (10.0, w - 130.0):
        for gx in np.arange(left, left + 120.0, 4.0):
            for gy in np.arange(y0, y1, 4.0):
                canvas.rect(img, float(gx), float(gy), float(gx) + 1.6, float(gy) + 1.6, grille)


def _logo(canvas: PlaneCanvas, img: Image, style: StyleParams, centre_mm: tuple[float, float]) -> None:
    gold = style.case_finish in ("gloss", "wood")
    colour: BGR = (70, 170, 215) if gold else ((235, 235, 235) if sum(style.case_colour) < 300 else (30, 30, 30))
    height_px = 9.0 * canvas.ppm
    font = cv2.FONT_HERSHEY_TRIPLEX if gold else cv2.FONT_HERSHEY_DUPLEX
    scale = height_px / 22.0
    thickness = max(1, round(scale * 1.2))
    (tw, th), _ = cv2.getTextSize(style.brand, font, scale, thickness)
    x, y = canvas.col(centre_mm[0]) - tw // 2, canvas.row(centre_mm[1]) + th // 2
    cv2.putText(img, style.brand, (x, y), font, scale, colour, thickness, cv2.LINE_AA)


def add_reflection(canvas: PlaneCanvas, img: Image, strength: float) -> None:
    """Mirror the back of the key tops into the glossy fallboard above them, dimmed and blurred."""
    if strength <= 0:
        return
    k0, k1 = canvas.row(0.0), canvas.row(REFLECTION_MM)
    f1 = canvas.row(-FALLBOARD_GAP_MM)
    f0 = max(f1 - (k1 - k0), 0)
    mirrored = img[k0:k0 + (f1 - f0)][::-1].astype(np.float32)
    fade = np.linspace(strength, 0.0, f1 - f0, dtype=np.float32)[::-1]  # strongest next to the keys
    soft = np.asarray(cv2.GaussianBlur(mirrored, (0, 0), max(canvas.ppm * 0.8, 0.5)), dtype=np.float32)
    out = img[f0:f1].astype(np.float32) + soft * fade[:, None, None]
    img[f0:f1] = np.clip(out, 0, 255).astype(np.uint8)


def apply_wear(canvas: PlaneCanvas, img: Image, layout: KeyLayout, style: StyleParams) -> None:
    """Uneven white keys (tone per key, yellowing) and smudges where fingers land; same for every layer."""
    if style.wear <= 0:
        return
    rng = style_rng(style.name + "/wear", style.seed)
    r0, r1 = canvas.row(0.0), canvas.row(WHITE_KEY_LENGTH_MM)
    gain = np.ones((r1 - r0, img.shape[1]), np.float32)
    for pitch in layout.pitches:
        tone = 1.0 - abs(float(rng.normal(0.0, 0.012 * style.wear)))
        if is_black(pitch):
            continue
        left, right = layout.x_range_mm(pitch)
        gain[:, canvas.col(left):canvas.col(right)] *= tone
    smudges = np.zeros_like(gain)
    for _ in range(int(style.wear * len(layout.pitches) * 0.6)):
        x = canvas.col(float(rng.uniform(0.0, layout.width_mm)))
        y = canvas.row(float(rng.uniform(100.0, 140.0))) - r0
        axes = (max(1, round(rng.uniform(3, 7) * canvas.ppm)), max(1, round(rng.uniform(5, 12) * canvas.ppm)))
        cv2.ellipse(smudges, (x, y), axes, 0.0, 0.0, 360.0, (float(rng.uniform(0.01, 0.035)),), -1)
    smudges = np.asarray(cv2.GaussianBlur(smudges, (0, 0), max(2.0 * canvas.ppm, 0.5)), dtype=np.float32)
    gain -= smudges * style.wear
    region = img[r0:r1].astype(np.float32) * gain[:, :, None]
    img[r0:r1] = np.clip(region, 0, 255).astype(np.uint8)


def room(size: tuple[int, int], style: StyleParams, plane_to_image: NDArray[np.float64],
         layout: KeyLayout) -> Image:
    """The image behind the keyboard: a softly uneven floor or wall and, often, the player's lap."""
    width, height = size
    rng = style_rng(style.name + "/room", style.seed)
    texture = smooth_noise(rng, (height, width), (10, 6)) * (4.0 if style.name == "synthesia" else 18.0)
    bg = np.clip(np.array(style.background_colour, np.float32)[None, None, :] + texture[:, :, None], 0, 255)
    out = bg.astype(np.uint8)
    if style.lap:
        trousers = [(90, 50, 30), (40, 40, 40), (120, 80, 50), (60, 60, 70), (30, 25, 20)]
        colour = trousers[int(rng.integers(len(trousers)))]
        angles = np.linspace(0.0, 2 * np.pi, 48)
        centre = (layout.width_mm / 2.0 + float(rng.uniform(-80, 80)), WHITE_KEY_LENGTH_MM + 60.0 + 330.0)
        ellipse = np.column_stack([centre[0] + 560.0 * np.cos(angles), centre[1] + 330.0 * np.sin(angles)])
        pts = apply_homography(plane_to_image, ellipse)
        mask = np.zeros((height, width), np.float32)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], (1.0,), cv2.LINE_AA)
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), max(width / 200.0, 1.0)), dtype=np.float32)
        folds = 1.0 + 0.25 * smooth_noise(rng, (height, width), (16, 8))
        lap = np.array(colour, np.float32)[None, None, :] * folds[:, :, None]
        blended = out.astype(np.float32) * (1.0 - mask[:, :, None]) + lap * mask[:, :, None]
        out = np.clip(blended, 0, 255).astype(np.uint8)
    return out
