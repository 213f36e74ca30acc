"""Per-video style parameters, all drawn from one seed so a (style, seed) pair always looks the same."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bridge.errors import VmbError

STYLE_NAMES = ("grand", "upright", "digital", "synthesia", "hybrid")

BGR = tuple[int, int, int]

# Key tops as cameras see them (BGR); white balance and light temperature are applied on top.
KEY_TONES: dict[str, BGR] = {"bright": (246, 246, 244), "ivory": (222, 238, 246), "yellowed": (192, 222, 236)}
CASE_FINISHES = ("gloss", "wood", "matte")
BAR_LOOKS = ("solid", "translucent", "gradient")
NOTE_NAME_LOOKS = ("leading", "held")  # a bar's note name moves with its front / stays above the keys while it sounds
# score lines behind the bars: horizontal lines at each measure falling with them, vertical lines at each octave's C
# and F, or both (as MIDI visualizers draw them)
SCORE_LINES = ("measures", "octaves", "both")
# the background behind the bars: dark (most tutorials) or light (a white or pale grey page, bars darker than it)
THEMES = ("dark", "light")
BRANDS = ("HARMONIA", "STELLAR", "KLANGWERK", "AURELIO", "NORDHAUS", "VELLUTO", "ORPHEA", "MERIDIAN")


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
    light_tint: BGR  # per-channel gain offset in 1/255, from the colour temperature
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
    centre_x: float = 0.5  # keyboard centre as a fraction of the width; with fill > 1 the view is cropped
    key_tone: str = "bright"
    case_finish: str = "matte"
    brand: str = ""
    key_gap_mm: float = 0.5
    wear: float = 0.0  # dirt and smudges on the key tops, 0 (new) to 1
    reflection: float = 0.0  # strength of the keys' reflection in a glossy fallboard
    colour_temperature_k: float = 5500.0
    vignette: float = 0.0
    shadow_softness: float = 1.0  # hand shadow blur in finger widths: below 1 hard, above 2 soft
    motion_blur: bool = True
    max_bitrate_kbps: int = 6000
    bar_look: str = "solid"
    note_names: str = ""  # note names written in the bars: "" none, or one of NOTE_NAME_LOOKS
    score_lines: str = ""  # lines behind the bars: "" none, or one of SCORE_LINES
    theme: str = "dark"  # one of THEMES
    bar_corners: float = 0.0  # radius of the bars' rounded corners as a share of their width; 0: square
    glow: bool = False
    particles: bool = False
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    title: str = ""
    watermark: str = ""
    lap: bool = False  # the player's legs and body below the keyboard
    exposure: float = 1.0  # overall gain; above 1 the white keys may clip as on auto-exposed phones
    black_bevel_mm: float = 1.4  # the lit sloping sides of the black keys seen from above

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


def temperature_gains(kelvin: float) -> tuple[float, float, float]:
    """BGR gains of light at ``kelvin`` seen by a camera balanced for 5500 K (warm: red up, blue down)."""
    shift = 1e6 / kelvin - 1e6 / 5500.0  # mired shift: positive is warmer
    return 1.0 - 0.0016 * shift, 1.0 - 0.0003 * shift, 1.0 + 0.0010 * shift


_SKIN = ((172, 200, 235), (140, 175, 224), (120, 160, 215), (100, 140, 198), (70, 105, 160), (45, 70, 110))
_SLEEVE = ((40, 40, 40), (120, 60, 30), (200, 200, 200), (50, 50, 140), (90, 110, 60), (150, 120, 100),
           (140, 70, 25), (25, 25, 60))
_TITLES = ("Piano Tutorial", "Easy Piano", "Piano Cover", "Learn to Play", "Synthesia", "Piano Lesson")
_WATERMARKS = ("@pianokeys", "PianoChannel", "keys.tv", "MyPianoCovers", "@learnpiano")


def _case(name: str, rng: np.random.Generator) -> tuple[BGR, str]:
    if name == "upright" and rng.random() < 0.6:
        return _colour(rng, (30, 60, 95), 25), "wood"
    if name in ("grand", "upright", "hybrid"):
        return _colour(rng, (18, 18, 20), 8), "gloss"
    if name == "digital":
        return (_colour(rng, (40, 40, 43), 18) if rng.random() < 0.8 else _grey(rng, 200, 25)), "matte"
    return (20, 20, 24), "matte"


def _camera(name: str, rng: np.random.Generator) -> dict[str, Any]:
    """Tilt, roll, fill and keyboard centre; real crops fill the width, some views are cropped or far."""
    if name == "synthesia":
        if rng.random() < 0.25:  # a screen filmed or a slanted screen capture
            return {"tilt_deg": float(rng.uniform(0, 10)), "roll_deg": float(rng.normal(0, 1.0)),
                    "fill": float(rng.uniform(0.9, 1.0)), "centre_x": 0.5, "centre_y": 0.8}
        return {"tilt_deg": 0.0, "roll_deg": 0.0, "fill": 1.0, "centre_x": 0.5, "centre_y": 0.82}
    if name == "hybrid":
        return {"tilt_deg": float(rng.uniform(0, 18)), "roll_deg": float(np.clip(rng.normal(0, 1.5), -4, 4)),
                "fill": float(rng.uniform(0.85, 1.05)), "centre_x": float(rng.uniform(0.47, 0.53)),
                "centre_y": float(rng.uniform(0.74, 0.8))}
    tilt = float(rng.uniform(0.0, 30.0) if rng.random() < 0.6 else rng.uniform(0, 5))
    roll = float(np.clip(rng.normal(0.0, 2.0), -5.0, 5.0))
    view = rng.random()
    if view < 0.15:  # cropped: part of the keyboard is outside the frame
        fill, centre_x = float(rng.uniform(1.1, 1.6)), float(rng.uniform(0.3, 0.7))
    elif view < 0.3:  # far: the keyboard fills a third to two thirds of the width
        fill, centre_x = float(rng.uniform(0.33, 0.66)), float(rng.uniform(0.35, 0.65))
    else:
        fill, centre_x = float(rng.uniform(0.8, 1.0)), 0.5
    return {"tilt_deg": tilt, "roll_deg": roll, "fill": fill, "centre_x": centre_x,
            "centre_y": float(rng.uniform(0.3, 0.55))}


def _bars(name: str, rng: np.random.Generator) -> dict[str, Any]:
    if name not in ("synthesia", "hybrid"):
        return {}
    fancy = name == "synthesia"
    return {
        "bar_look": BAR_LOOKS[int(rng.integers(len(BAR_LOOKS)))],
        "glow": bool(rng.random() < (0.7 if fancy else 0.4)),
        "particles": bool(rng.random() < (0.5 if fancy else 0.2)),
        "fade_in_s": float(rng.uniform(0.5, 1.5)) if rng.random() < 0.6 else 0.0,
        "fade_out_s": float(rng.uniform(0.5, 1.5)) if rng.random() < 0.4 else 0.0,
        "title": _TITLES[int(rng.integers(len(_TITLES)))] if rng.random() < 0.4 else "",
        "watermark": _WATERMARKS[int(rng.integers(len(_WATERMARKS)))] if rng.random() < 0.5 else "",
    }


def light_background(name: str, seed: int) -> BGR:
    """A light theme's background: white to pale grey, a little warm or cool (drawn apart from the style's other
    draws, so a light render differs from the dark one of the same seed in its background only)."""
    rng = style_rng(name + "/light", seed)
    return _colour(rng, (int(rng.integers(215, 250)),) * 3, 6)


def sample_style(name: str, seed: int) -> StyleParams:
    """Draw the look of one video: case and key colours, camera, light and sensor, per style."""
    if name not in STYLE_NAMES:
        raise VmbError(f"unknown style {name!r}: use one of {', '.join(STYLE_NAMES)}")
    rng = style_rng(name, seed)
    case, finish = _case(name, rng)
    synthetic = name == "synthesia"
    bars = name in ("synthesia", "hybrid")
    felt = _colour(rng, (40, 30, 140), 25) if name != "synthesia" else (30, 30, 150)
    tone = ("bright", "ivory", "yellowed")[int(rng.choice(3, p=[0.6, 0.28, 0.12]))]
    white = _colour(rng, KEY_TONES[tone], 8) if not synthetic else (245, 245, 245)
    camera = _camera(name, rng)
    kelvin = float(rng.uniform(4300.0, 9000.0)) if not synthetic else 5500.0
    gains = temperature_gains(kelvin)
    tint_b, tint_g, tint_r = (round((g - 1.0) * 255) for g in gains)
    bitrate_per_pixel = float(rng.uniform(0.04, 0.2))  # bits per pixel and frame at 30 fps: upload to phone
    return StyleParams(
        name=name,
        seed=seed,
        case_colour=case,
        felt_colour=felt,
        white_colour=white,
        black_colour=_grey(rng, 18, 6),
        background_colour=_colour(rng, (70, 65, 60), 45) if not bars else _colour(rng, (24, 20, 20), 8),
        skin_colour=_SKIN[int(rng.integers(len(_SKIN)))],
        sleeve_colour=_SLEEVE[int(rng.integers(len(_SLEEVE)))],
        light_gradient=float(rng.uniform(0.0, 0.35)) if not synthetic else 0.0,
        light_tint=(tint_b, tint_g, tint_r),
        noise_sigma=float(rng.uniform(0.1, 1.4)) if not synthetic else 0.0,
        blur_sigma=float(rng.uniform(0.3, 1.4)) if not synthetic else 0.0,
        flicker=float(rng.uniform(0.0, 0.03)) if not synthetic else 0.0,
        press_depth_mm=float(rng.uniform(6.0, 10.0)),
        hands=not synthetic,
        bars=bars,
        left_bar_colour=_colour(rng, (60, 200, 90), 40),
        right_bar_colour=_colour(rng, (220, 140, 50), 40),
        crf=int(rng.integers(18, 30)),
        shadow_offset=(float(rng.uniform(-12, 12)), float(rng.uniform(-14, 2))),
        shadow_strength=float(rng.uniform(0.15, 0.5)),
        key_tone=tone,
        case_finish=finish,
        brand=BRANDS[int(rng.integers(len(BRANDS)))] if rng.random() < 0.7 and not synthetic else "",
        key_gap_mm=float(rng.uniform(0.6, 1.3)),
        wear=float(rng.uniform(0.0, 1.0)) if not synthetic else 0.0,
        reflection=float(rng.uniform(0.06, 0.22)) if finish == "gloss" else 0.0,
        colour_temperature_k=kelvin,
        vignette=float(rng.uniform(0.0, 0.3)) if not synthetic else 0.0,
        shadow_softness=float(rng.uniform(0.5, 3.0)),
        motion_blur=not synthetic,
        max_bitrate_kbps=int(bitrate_per_pixel * 1280 * 720 * 30 / 1000),
        lap=bool(name != "synthesia" and rng.random() < 0.7),
        exposure=float(rng.uniform(0.97, 1.15)) if not synthetic else 1.0,
        black_bevel_mm=float(rng.uniform(0.8, 3.0)) if not synthetic else 1.0,
        **camera,
        **_bars(name, rng),
    )
