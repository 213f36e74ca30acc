"""Keyboard drawing: static layers drawn once per video on the canonical plane, warped once into the image.

Per frame only pressed keys are copied from a "pressed" layer into the "up" layer, inside each key's mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import BLACK_KEY_LENGTH_MM, WHITE_KEY_LENGTH_MM, KeyLayout, is_black
from bridge.synth.style import BGR, StyleParams
from bridge.synth.surfaces import add_reflection, apply_wear, draw_case, room, scale_colour

Image = NDArray[np.uint8]
MARGIN_X_MM = 40.0
BACK_MM = 70.0
FRONT_MM = 25.0


@dataclass(frozen=True, slots=True)
class KeyMask:
    """Pixels of one key in the image: a bounding box ``(y0, y1, x0, x1)`` and a boolean mask inside it."""

    box: tuple[int, int, int, int]
    mask: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class KeyboardLayers:
    up: Image
    pressed: tuple[Image, Image]  # per hand: left, right (identical unless keys light up in hand colours)
    masks: dict[int, KeyMask]


class _Canvas:
    """The plane region around the keyboard rasterized at ``ppm`` pixels per mm."""

    def __init__(self, layout: KeyLayout, ppm: float) -> None:
        self.ppm = ppm
        self.x0, self.y0 = -MARGIN_X_MM, -BACK_MM
        self.width = int(np.ceil((layout.width_mm + 2 * MARGIN_X_MM) * ppm))
        self.height = int(np.ceil((BACK_MM + WHITE_KEY_LENGTH_MM + FRONT_MM) * ppm))

    def px(self, points_mm: NDArray[np.float64]) -> NDArray[np.int32]:
        pts = (np.asarray(points_mm, dtype=np.float64) - [self.x0, self.y0]) * self.ppm
        return np.asarray(np.round(pts * 16), dtype=np.int32)  # 4 fractional bits for cv2 shift=4

    def from_plane(self) -> NDArray[np.float64]:
        return np.array([[self.ppm, 0, -self.x0 * self.ppm], [0, self.ppm, -self.y0 * self.ppm], [0, 0, 1]])

    def row(self, y_mm: float) -> int:
        return round((y_mm - self.y0) * self.ppm)

    def col(self, x_mm: float) -> int:
        return round((x_mm - self.x0) * self.ppm)

    def rect(self, img: Image, x0: float, y0: float, x1: float, y1: float, colour: BGR) -> None:
        poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        cv2.fillPoly(img, [self.px(poly)], colour, cv2.LINE_AA, shift=4)


def _shrink(poly: NDArray[np.float64], mm: float) -> NDArray[np.float64]:
    centre = poly.mean(axis=0)
    out = poly.copy()
    out[:, 0] += np.sign(centre[0] - poly[:, 0]) * mm
    out[:, 1] += np.sign(centre[1] - poly[:, 1]) * mm * 0.5
    return out


def _draw_white(canvas: _Canvas, img: Image, layout: KeyLayout, pitch: int, style: StyleParams,
                pressed: bool, lit: BGR | None) -> None:
    left, right = layout.x_range_mm(pitch)
    base = lit if lit is not None else style.white_colour
    depth = style.press_depth_mm if pressed else 0.0
    top = scale_colour(base, 0.94 if pressed and lit is None else 1.0)
    front = WHITE_KEY_LENGTH_MM
    # front face (seen as a lip) and the key top
    canvas.rect(img, left + 0.4, front - 3.0, right - 0.4, front + 2.0 - 0.25 * depth, scale_colour(base, 0.78))
    key_top = canvas.px(_shrink(layout.polygon_mm(pitch), style.key_gap_mm / 2))
    cv2.fillPoly(img, [key_top], top, cv2.LINE_AA, shift=4)
    if pressed:
        shade = scale_colour(base, 0.45)
        canvas.rect(img, left + 0.4, 0.0, left + 1.8, front, shade)  # side shadows
        canvas.rect(img, right - 1.8, 0.0, right - 0.4, front, shade)
        canvas.rect(img, left + 0.4, front - 0.3 * depth, right - 0.4, front + 2.0, scale_colour(base, 0.35))


def _draw_black(canvas: _Canvas, img: Image, layout: KeyLayout, pitch: int, style: StyleParams,
                pressed: bool, lit: BGR | None) -> None:
    left, right = layout.x_range_mm(pitch)
    base = lit if lit is not None else style.black_colour
    depth = style.press_depth_mm if pressed else 0.0
    length = BLACK_KEY_LENGTH_MM - 0.4 * depth
    if lit is not None:
        canvas.rect(img, left, 0.0, right, BLACK_KEY_LENGTH_MM, scale_colour(base, 0.6))
        canvas.rect(img, left + 1.2, 0.0, right - 1.2, length - 6.0, base)
        canvas.rect(img, left + 1.6, length - 6.0, right - 1.6, length - 1.0, scale_colour(base, 0.8))
        return
    # from above: a very dark top, bevelled sides catching the light, a lighter sloped front
    bevel = style.black_bevel_mm
    canvas.rect(img, left, 0.0, right, BLACK_KEY_LENGTH_MM, (8, 8, 8))
    canvas.rect(img, left, 0.0, left + bevel, length, scale_colour(base, 4.0))
    canvas.rect(img, right - bevel, 0.0, right, length, scale_colour(base, 2.8))
    canvas.rect(img, left + bevel, 0.0, right - bevel, length - 9.0, scale_colour(base, 0.85))
    canvas.rect(img, left + bevel, length - 9.0, right - bevel, length - 0.5, scale_colour(base, 2.0))
    if pressed:
        canvas.rect(img, left - 1.2, 0.0, left, length, (10, 10, 10))
        canvas.rect(img, right, 0.0, right + 1.2, length, (10, 10, 10))


def _draw_keys(canvas: _Canvas, layout: KeyLayout, style: StyleParams, pressed: bool, lit: BGR | None) -> Image:
    img = np.zeros((canvas.height, canvas.width, 3), np.uint8)
    draw_case(canvas, img, layout, style)
    for pitch in layout.pitches:
        if not is_black(pitch):
            _draw_white(canvas, img, layout, pitch, style, pressed, lit)
    for pitch in layout.pitches:
        if is_black(pitch):
            _draw_black(canvas, img, layout, pitch, style, pressed, lit)
    if lit is None:
        apply_wear(canvas, img, layout, style)
    add_reflection(canvas, img, style.reflection)
    return img


def _key_index_map(canvas: _Canvas, layout: KeyLayout) -> NDArray[np.int32]:
    index = np.full((canvas.height, canvas.width), -1, np.int32)
    order = [p for p in layout.pitches if not is_black(p)] + [p for p in layout.pitches if is_black(p)]
    for pitch in order:
        poly = layout.polygon_mm(pitch).copy()
        if is_black(pitch):
            left, right = layout.x_range_mm(pitch)
            poly = np.array([[left - 1.2, 0.0], [right + 1.2, 0.0], [right + 1.2, BLACK_KEY_LENGTH_MM],
                             [left - 1.2, BLACK_KEY_LENGTH_MM]])
        else:
            poly[poly[:, 1] >= WHITE_KEY_LENGTH_MM - 1e-6, 1] = WHITE_KEY_LENGTH_MM + 2.0
        cv2.fillPoly(index, [canvas.px(poly)], (pitch,), 8, shift=4)
    return index


def _lighting(size: tuple[int, int], style: StyleParams) -> NDArray[np.float32]:
    width, height = size
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)
    angle = (style.seed % 360) * np.pi / 180.0
    ramp = np.cos(angle) * xs[None, :] + np.sin(angle) * ys[:, None]
    gain = 1.0 - style.light_gradient * (0.5 + 0.5 * ramp)
    gain *= 1.0 - style.vignette * 0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)
    tint = (1.0 + np.array(style.light_tint, np.float32) / 255.0) * style.exposure
    return np.asarray(gain[:, :, None] * tint[None, None, :], dtype=np.float32)


def _finish(img: Image, light: NDArray[np.float32], blur: float) -> Image:
    out = np.clip(img.astype(np.float32) * light, 0, 255).astype(np.uint8)
    if blur > 0.2:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), blur), dtype=np.uint8)
    return out


def build_layers(layout: KeyLayout, style: StyleParams, plane_to_image: NDArray[np.float64],
                 size: tuple[int, int], ppm: float) -> KeyboardLayers:
    """Draw the up and pressed keyboards once, warp them into the image, and cut a mask per key."""
    canvas = _Canvas(layout, max(ppm * 1.5, 1.0))
    warp = plane_to_image @ np.linalg.inv(canvas.from_plane())
    width, height = size

    background = room(size, style, plane_to_image, layout)

    def to_image(img: Image) -> Image:
        warped = background.copy()
        cv2.warpPerspective(img, warp, size, dst=warped, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
        return warped

    light = _lighting(size, style)
    up = _finish(to_image(_draw_keys(canvas, layout, style, False, None)), light, style.blur_sigma)
    if style.bars:
        lit = (_draw_keys(canvas, layout, style, True, style.left_bar_colour),
               _draw_keys(canvas, layout, style, True, style.right_bar_colour))
        pressed = (_finish(to_image(lit[0]), light, style.blur_sigma),
                   _finish(to_image(lit[1]), light, style.blur_sigma))
    else:
        down = _finish(to_image(_draw_keys(canvas, layout, style, True, None)), light, style.blur_sigma)
        pressed = (down, down)
    index = np.asarray(cv2.warpPerspective(_key_index_map(canvas, layout), warp, (width, height),
                                           flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                           borderValue=(-1,)), dtype=np.int32)
    masks: dict[int, KeyMask] = {}
    for pitch in layout.pitches:
        ys, xs = np.nonzero(index == pitch)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        masks[pitch] = KeyMask((y0, y1, x0, x1), index[y0:y1, x0:x1] == pitch)
    return KeyboardLayers(up, pressed, masks)


def compose(layers: KeyboardLayers, pressed_hand: dict[int, int]) -> Image:
    """The keyboard with the given keys down; ``pressed_hand`` maps pitch to hand (0 left, 1 right)."""
    out = layers.up.copy()
    for pitch, hand in pressed_hand.items():
        key = layers.masks.get(pitch)
        if key is None:
            continue
        y0, y1, x0, x1 = key.box
        region = out[y0:y1, x0:x1]
        region[key.mask] = layers.pressed[hand][y0:y1, x0:x1][key.mask]
    return out
