"""Per-video style parameters, all drawn from one seed so a (style, seed) pair always looks the same."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bridge.errors import VmbError

STYLE_NAMES = ("grand", "upright", "digital", "synthesia", "hybrid")

BGR = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class StyleParams:
    """Everything random about one video; stored in the labels so the video can be described."""

    name: str
    seed: int
    case_colour: BGR
    felt_colour: BGR
    white_colour: BGR
    black_colour: BGR
    background_colour: BGR
    skin_colour: BGR
    sleeve_colour: BGR
    tilt_deg: float
    roll_deg: float
    fill: float
    centre_y: float
    light_gradient: float
    light_tint: BGR
    noise_sigma: float
    blur_sigma: float
    flicker: float
    press_depth_mm: float
    hands: bool
    bars: bool
    left_bar_colour: BGR
    right_bar_colour: BGR
    crf: int
    shadow_offset: tuple[float, float]
    shadow_strength: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def style_rng(name: str, seed: int) -> np.random.Generator:
    """A generator fixed by the style name and seed (crc32 keeps it stable across Python runs)."""
    return np.random.default_rng([zlib.crc32(name.encode()), seed])


def _colour(rng: np.random.Generator, base: BGR, spread: int) -> BGR:
    jitter = rng.integers(-spread, spread + 1, size=3)
    b, g, r = (int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=True))
    return b, g, r


def _grey(rng: np.random.Generator, base: int, spread: int) -> BGR:
    value = int(np.clip(base + rng.integers(-spread, spread + 1), 0, 255))
    return value, value, value


_SKIN = ((172, 200, 235), (140, 175, 224), (100, 140, 198), (70, 105, 160), (45, 70, 110))
_SLEEVE = ((40, 40, 40), (120, 60, 30), (200, 200, 200), (50, 50, 140), (90, 110, 60), (150, 120, 100))


def sample_style(name: str, seed: int) -> StyleParams:
    """Draw the look of one video: case and key colours, camera, light and sensor, per style."""
    if name not in STYLE_NAMES:
        raise VmbError(f"unknown style {name!r}: use one of {', '.join(STYLE_NAMES)}")
    rng = style_rng(name, seed)
    case = {
        "grand": _colour(rng, (18, 18, 20), 10),
        "upright": _colour(rng, (30, 60, 95), 25) if rng.random() < 0.6 else _colour(rng, (15, 15, 18), 8),
        "digital": _colour(rng, (45, 45, 48), 20),
        "synthesia": (20, 20, 24),
        "hybrid": _colour(rng, (20, 20, 22), 10),
    }[name]
    felt = _colour(rng, (40, 30, 140), 25) if name in ("grand", "upright") else case
    white = _colour(rng, (228, 236, 240), 14) if name != "synthesia" else (245, 245, 245)
    synthetic = name == "synthesia"
    flat = name in ("synthesia", "hybrid")
    tilt = 0.0 if flat else float(rng.uniform(0.0, 30.0) if rng.random() < 0.6 else rng.uniform(0, 5))
    roll = 0.0 if flat else float(rng.normal(0.0, 2.0))
    left_bar = _colour(rng, (60, 200, 90), 40)
    right_bar = _colour(rng, (220, 140, 50), 40)
    return StyleParams(
        name=name,
        seed=seed,
        case_colour=case,
        felt_colour=felt,
        white_colour=white,
        black_colour=_grey(rng, 22, 8),
        background_colour=_colour(rng, (60, 60, 60), 50) if not synthetic else (25, 20, 20),
        skin_colour=_SKIN[int(rng.integers(len(_SKIN)))],
        sleeve_colour=_SLEEVE[int(rng.integers(len(_SLEEVE)))],
        tilt_deg=tilt,
        roll_deg=float(np.clip(roll, -5.0, 5.0)),
        fill=float(rng.uniform(0.8, 1.0)) if not synthetic else 1.0,
        centre_y=float(rng.uniform(0.3, 0.55)) if name not in ("synthesia", "hybrid") else 0.82,
        light_gradient=float(rng.uniform(0.0, 0.35)) if not synthetic else 0.0,
        light_tint=_colour(rng, (0, 0, 0), 12) if not synthetic else (0, 0, 0),
        noise_sigma=float(rng.uniform(1.0, 6.0)) if not synthetic else 0.0,
        blur_sigma=float(rng.uniform(0.0, 1.3)) if not synthetic else 0.0,
        flicker=float(rng.uniform(0.0, 0.03)) if not synthetic else 0.0,
        press_depth_mm=float(rng.uniform(6.0, 10.0)),
        hands=not synthetic,
        bars=name in ("synthesia", "hybrid"),
        left_bar_colour=left_bar,
        right_bar_colour=right_bar,
        crf=int(rng.integers(18, 30)),
        shadow_offset=(float(rng.uniform(-12, 12)), float(rng.uniform(-14, 2))),
        shadow_strength=float(rng.uniform(0.15, 0.5)),
    )
