"""Realism, measured: the same statistics on the real keyboard crops and on rendered frames cropped alike.

``python -m benchmarks.realism`` writes the table into docs/realism.md (between the ``realism-table``
markers) and the side-by-side crops into docs/img/. A synthetic frame is cropped as the real ones
are: the keyboard plane from 10 mm left of the lowest key to 10 mm right of the highest, 12 mm behind
the keys to 71 mm in front of them (the player's lap), at the frame's own resolution.

Statistics (same code for both; rows and columns are fractions of that crop):
- white brightness: median luma of the white keys' front parts (below the black keys);
- contrast: (white - black) / (white + black), black from the middle of the black keys;
- black/white width: median dark run across the black keys over the white key pitch;
- noise: robust sigma (1.4826 x MAD) of luma minus its Gaussian blur (sigma 1 px) inside flat white areas;
- edge width: pixels from 10 % to 90 % of the step at the sides of the black keys (optics, blur, codec);
- blue/red: mean blue over mean red of the white keys (colour temperature and white balance).
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, KeyLayout
from bridge.midi import read_midi
from bridge.synth.camera import pixels_per_mm
from bridge.synth.render import RenderConfig, render_frames

ROOT = Path(__file__).resolve().parents[1]
REAL_DIR = ROOT.parent / "shared" / "data" / "real_keyboards"
MIDI = ROOT.parent / "shared" / "data" / "midi" / "miditest" / "25.mid"
DOC = ROOT / "docs" / "realism.md"
IMG_DIR = ROOT / "docs" / "img"
REAL_SAMPLES = ("video25_im", "video5_frame_003720")
STYLES = ("grand", "upright", "digital", "hybrid", "synthesia")
SEEDS = range(8)
CROP_MM = (-10.0, -12.0, 10.0, WHITE_KEY_LENGTH_MM + 71.0)  # left, back, right (past the last key), front
FRONT_ROWS = (0.52, 0.64)  # white keys below the black keys
BLACK_ROWS = (0.20, 0.34)
STATS = ("white brightness", "contrast", "black/white width", "noise sigma", "edge width px", "blue/red")
Image = NDArray[np.uint8]


def crop_synthetic(frame: Image, homography: NDArray[np.float64], layout: KeyLayout) -> Image:
    """The keyboard region of a rendered frame, warped upright at the frame's own scale (as the real crops)."""
    left, back, right, front = CROP_MM
    ppm = pixels_per_mm(homography, layout)
    width_mm, height_mm = layout.width_mm + right - left, front - back
    size = (max(64, round(width_mm * ppm)), max(16, round(height_mm * ppm)))
    to_plane = np.array([[width_mm / size[0], 0, left], [0, height_mm / size[1], back], [0, 0, 1]])
    warped = cv2.warpPerspective(frame, homography @ to_plane, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return np.asarray(warped, dtype=np.uint8)


def _rows(img: Image, band: tuple[float, float]) -> Image:
    h, w = img.shape[:2]
    margin = round(w * 0.02)
    return img[round(band[0] * h):round(band[1] * h), margin:w - margin]


def _luma(img: Image) -> NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), dtype=np.float32)


def _threshold(luma: NDArray[np.float32]) -> float:
    value, _ = cv2.threshold(np.clip(luma, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(value)


def _edges(profile: NDArray[np.float32], low: float, high: float) -> list[float]:
    """10-90 % widths of the falling and rising steps of a column profile between ``high`` and ``low``."""
    mid = (low + high) / 2.0
    dark = profile < mid
    changes = np.flatnonzero(np.diff(dark.astype(np.int8)))
    lo10, hi90 = low + 0.1 * (high - low), low + 0.9 * (high - low)
    widths = []
    for c in changes:
        a, b = c, c + 1
        while a > 0 and lo10 < profile[a - 1] < hi90:
            a -= 1
        while b < len(profile) - 1 and lo10 < profile[b] < hi90:
            b += 1
        widths.append(float(b - a - 1) if b - a > 1 else 0.5)
    return widths


def measure(crop: Image) -> dict[str, float]:
    front, black_band = _rows(crop, FRONT_ROWS), _rows(crop, BLACK_ROWS)
    front_luma = _luma(front)
    white_mask = front_luma > _threshold(front_luma)
    white = float(np.median(front_luma[white_mask]))
    profile = _luma(black_band).mean(axis=0)
    level = _threshold(profile)
    black = float(np.median(profile[profile < level])) if (profile < level).any() else white
    dark_runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], (profile < level).astype(np.int8), [0]]))))[::2]
    key_pitch = _px_per_mm(crop) * 23.5
    flat = cv2.erode(white_mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    residual = front_luma - np.asarray(cv2.GaussianBlur(front_luma, (5, 5), 1.0), np.float32)
    resid = residual[flat] if flat.any() else residual.ravel()
    noise = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    whites = front[white_mask].astype(np.float64)
    return {
        "white brightness": white,
        "contrast": (white - black) / max(white + black, 1.0),
        "black/white width": float(np.median(dark_runs[dark_runs > 2])) / key_pitch if (dark_runs > 2).any() else 0.0,
        "noise sigma": noise,
        "edge width px": float(np.median(_edges(profile, black, white) or [0.0])),
        "blue/red": float(whites[:, 0].mean() / max(whites[:, 2].mean(), 1.0)),
    }


def _px_per_mm(crop: Image) -> float:
    """Crops span the keyboard plus 20 mm (88 keys: 52 white keys of 23.5 mm)."""
    return crop.shape[1] / (52 * 23.5 + 20.0)


def real_crops() -> dict[str, Image]:
    crops = {}
    for path in sorted(REAL_DIR.glob("*.jpg")):
        image = cv2.imread(str(path))
        if image is not None:
            crops[path.stem] = np.asarray(image, dtype=np.uint8)
    return crops


def synthetic_crops(style: str, seeds: Iterable[int]) -> dict[int, Image]:
    notes = read_midi(MIDI).notes
    crops = {}
    for seed in seeds:
        config = RenderConfig(style=style, seed=seed, start=4.0, duration=6.0, n_keys=88)
        scene, frames, _ = render_frames(notes, config)
        frame = next(itertools.islice(frames, round(3.0 * config.fps), None))  # after any fade-in
        crops[seed] = crop_synthetic(frame, scene.homography, scene.layout)
    return crops


def _summary(values: list[float]) -> str:
    a = np.array(values)
    return f"{a.mean():.2f} ({a.min():.2f}-{a.max():.2f})"


def table() -> tuple[list[str], dict[str, Image]]:
    real = real_crops()
    rows = {"real": [measure(c) for c in real.values()]}
    samples: dict[str, Image] = {f"real-{name}": real[name] for name in REAL_SAMPLES if name in real}
    for style in STYLES:
        crops = synthetic_crops(style, SEEDS)
        rows[style] = [measure(c) for c in crops.values()]
        samples[f"synth-{style}"] = crops[min(crops)]
    lines = ["| statistic | " + " | ".join(f"{k} (n={len(v)})" for k, v in rows.items()) + " |",
             "|---|" + "---|" * len(rows)]
    for stat in STATS:
        lines.append(f"| {stat} | " + " | ".join(_summary([m[stat] for m in ms]) for ms in rows.values()) + " |")
    return lines, samples


def write_images(samples: dict[str, Image], width: int = 560) -> list[str]:
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    names = []
    for name, crop in samples.items():
        if name.startswith("real-"):  # the shared real frames are never copied into the repository
            continue
        height = round(crop.shape[0] * width / crop.shape[1])
        small = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(IMG_DIR / f"realism-{name}.png"), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        names.append(f"realism-{name}.png")
    return names


def write_doc(lines: list[str]) -> None:
    text = DOC.read_text()
    block = "<!-- realism-table -->\n" + "\n".join(lines) + "\n<!-- /realism-table -->"
    DOC.write_text(re.sub(r"<!-- realism-table -->.*?<!-- /realism-table -->", lambda _: block, text, flags=re.S))


def main() -> int:
    cv2.setNumThreads(1)
    if not REAL_DIR.is_dir():
        print(f"error: {REAL_DIR} is missing: put the shared data folder beside the repository", file=sys.stderr)
        return 2
    lines, samples = table()
    print("\n".join(lines))
    print("images:", ", ".join(write_images(samples)))
    if DOC.exists():
        write_doc(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
