"""Keyboard calibration: synthetic videos of every style and camera, images without a keyboard, real frames.

A synthetic video passes when every key the calibration reports is a key of the drawn keyboard whose
centre lies within 3.5 mm (15% of a white key) of the truth, and every key wholly in the picture is
reported. Run alone: ``.venv/bin/python -m benchmarks.run_all bench_calibration``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.calibration import calibrate_images, calibrate_video, draw_preview
from bridge.errors import CalibrationError
from bridge.geometry import KeyLayout, apply_homography, is_black
from bridge.synth import RenderConfig, render_frames, render_to_files
from bridge.synth.notes_io import read_notes
from bridge.synth.style import STYLE_NAMES
from bridge.types import KeyboardGeometry, Note

TITLE = "Keyboard calibration (synthetic set, no-keyboard images, real frames, speed)"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PREVIEWS = REPO / "out" / "calibration-previews"  # copies of the shared real frames: never committed
TOLERANCE_MM = 3.5
SEEDS = (0, 1, 2, 3)
SIZES = ((1280, 720), (640, 360))
FRAMES_PER_CLIP = 9


@dataclass(frozen=True, slots=True)
class Outcome:
    style: str
    size: tuple[int, int]
    passed: bool
    octave_guessed: bool
    worst_mm: float
    note: str


def key_errors(geometry: KeyboardGeometry, labels: dict[str, Any]) -> tuple[dict[int, float], set[int]]:
    """Per reported key, how far (mm, true plane) its centre is from the true key's; and the keys wholly in view."""
    truth = KeyLayout(int(labels["lowest_pitch"]), int(labels["key_count"]))
    plane_to_image = np.asarray(labels["homography"], np.float64)
    image_to_plane = np.asarray(labels["image_to_plane"], np.float64)
    width, height = (int(v) for v in labels["size"])
    estimated_to_image = np.linalg.inv(geometry.homography)
    errors: dict[int, float] = {}
    for pitch in geometry.layout.pitches:
        if pitch not in truth.pitches:
            errors[pitch] = float("inf")
            continue
        estimate = apply_homography(estimated_to_image, np.array([geometry.layout.centre_mm(pitch)]))
        on_truth = apply_homography(image_to_plane, estimate)[0]
        errors[pitch] = float(np.linalg.norm(on_truth - np.array(truth.centre_mm(pitch))))
    whole = set()
    for pitch in truth.pitches:
        corners = apply_homography(plane_to_image, truth.polygon_mm(pitch))
        if np.all(corners >= 0) and np.all(corners[:, 0] <= width) and np.all(corners[:, 1] <= height):
            whole.add(pitch)
    # A calibration spans white key to white key: a black key counts when both its neighbours are in view.
    in_view = {p for p in whole if not is_black(p) or {p - 1, p + 1} <= whole}
    return errors, in_view


def judge(geometry: KeyboardGeometry, labels: dict[str, Any]) -> tuple[bool, float, str]:
    errors, in_view = key_errors(geometry, labels)
    worst = max(errors.values())
    missing = in_view - set(errors)
    passed = worst <= TOLERANCE_MM and not missing
    note = "" if passed else f"worst {worst:.1f} mm, {len(missing)} visible keys missing"
    return passed, worst, note


def _songs() -> list[list[Note]]:
    return [read_notes(path)[0] for path in sorted((SHARED / "midi" / "miditest").glob("*.mid"))]


def synthetic_cases() -> Iterator[tuple[str, int, tuple[int, int], list[Note], int]]:
    songs = _songs()
    case = 0
    for style in STYLE_NAMES:
        for seed in SEEDS:
            for size in SIZES:
                song = songs[case % len(songs)]
                yield style, seed + 100 * SIZES.index(size), size, song, case
                case += 1


def _clip_start(notes: list[Note], case: int) -> float:
    end = max(n.end for n in notes)
    return float((case * 7.3) % max(end - 4.0, 1.0))


def run_synthetic(hinted: bool, only: set[int] | None = None) -> list[Outcome]:
    """Every clip of the set; ``hinted`` passes the true key count as ``--keys``; ``only`` picks clips by number."""
    outcomes = []
    for style, seed, size, notes, case in synthetic_cases():
        if only is not None and case not in only:
            continue
        config = RenderConfig(style=style, seed=seed, size=size, fps=10.0, start=_clip_start(notes, case),
                              duration=3.0)
        _, frames, labels = render_frames(notes, config)
        images = list(frames)[:: max(1, 30 // FRAMES_PER_CLIP)]
        outcomes.append(_calibrate_case(style, size, images, labels, hinted))
    return outcomes


def _calibrate_case(style: str, size: tuple[int, int], images: list[NDArray[np.uint8]], labels: dict[str, Any],
                    hinted: bool) -> Outcome:
    n_keys = int(labels["key_count"]) if hinted else None
    try:
        geometry = calibrate_images(images, n_keys=n_keys)
    except CalibrationError as exc:
        return Outcome(style, size, False, False, float("inf"), f"not found: {exc}")
    passed, worst, note = judge(geometry, labels)
    guessed = any("assumed" in a for a in geometry.assumptions)
    return Outcome(style, size, passed, guessed, worst, note)


def run_encoded(tmp: Path) -> list[Outcome]:
    """One clip per style through real H.264, calibrated from the file."""
    outcomes = []
    songs = _songs()
    for i, style in enumerate(STYLE_NAMES):
        config = RenderConfig(style=style, seed=7 + i, size=(1280, 720), fps=30.0, start=5.0, duration=2.0)
        video = tmp / f"{style}.mp4"
        labels = render_to_files(songs[i], config, video, None)
        try:
            geometry = calibrate_video(video)
            passed, worst, note = judge(geometry, labels)
            guessed = any("assumed" in a for a in geometry.assumptions)
        except CalibrationError as exc:
            passed, worst, note, guessed = False, float("inf"), str(exc), False
        outcomes.append(Outcome(style, (1280, 720), passed, guessed, worst, note))
    return outcomes


def no_keyboard_images() -> dict[str, NDArray[np.uint8]]:
    """Pictures without a keyboard: noise, gradients, a wall, a black frame, a street, real frames without keys."""
    rng = np.random.default_rng(0)
    h, w = 720, 1280
    ramp = np.tile(np.linspace(0, 255, w, dtype=np.float32), (h, 1))
    images = {
        "uniform noise": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "grey noise": np.repeat(np.clip(rng.normal(128, 40, (h, w, 1)), 0, 255).astype(np.uint8), 3, axis=2),
        "horizontal gradient": np.dstack([ramp] * 3).astype(np.uint8),
        "diagonal gradient": np.dstack([(ramp + ramp.T[:h, :1]) / 2] * 3).astype(np.uint8),
        "plain wall": np.clip(rng.normal((180, 190, 200), 3, (h, w, 3)), 0, 255).astype(np.uint8),
        "black frame": np.zeros((h, w, 3), np.uint8),
        "street": _street(rng, w, h),
        "stripes (a fence)": _fence(w, h),
    }
    for path in sorted((SHARED / "real_keyboards").glob("*.jpg"))[::2]:
        image = cv2.imread(str(path))
        if image is not None:
            images[f"{path.stem} below the keys"] = np.ascontiguousarray(image[int(image.shape[0] * 0.62):])
    return images


def _street(rng: np.random.Generator, w: int, h: int) -> NDArray[np.uint8]:
    """Buildings with rows of dark windows, a road with dashed lane marks, a sky: regular, dark-on-bright parts."""
    image = np.zeros((h, w, 3), np.uint8)
    image[: h // 3] = (235, 200, 160)
    x = 0
    while x < w:
        bw = int(rng.integers(120, 260))
        top = int(rng.integers(40, h // 3))
        colour = tuple(int(c) for c in rng.integers(120, 230, 3))
        cv2.rectangle(image, (x, top), (x + bw, int(h * 0.7)), colour, -1)
        for wy in range(top + 20, int(h * 0.65), 45):
            for wx in range(x + 12, x + bw - 20, 28):
                cv2.rectangle(image, (wx, wy), (wx + 14, wy + 30), (40, 40, 50), -1)
        x += bw + int(rng.integers(0, 20))
    image[int(h * 0.7):] = (70, 70, 75)
    for lx in range(0, w, 90):
        cv2.rectangle(image, (lx, int(h * 0.84)), (lx + 50, int(h * 0.86)), (240, 240, 240), -1)
    return np.asarray(cv2.GaussianBlur(image, (0, 0), 1.0), np.uint8)


def _fence(w: int, h: int) -> NDArray[np.uint8]:
    image = np.full((h, w, 3), 200, np.uint8)
    for x in range(0, w, 24):
        cv2.rectangle(image, (x, 200), (x + 10, 500), (30, 30, 30), -1)
    return image


def black_key_check(image: NDArray[np.uint8], geometry: KeyboardGeometry) -> tuple[int, int, float]:
    """Black keys darker inside their polygon than both white neighbours (passing, checked), and the mean share
    of black-polygon pixels that are dark (below the midpoint of the white-key and black-key median greys)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    pixels = {}
    for key in geometry.keys:
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(key.polygon).astype(np.int32)], (1,))
        if mask.any():
            pixels[key.pitch] = grey[mask.astype(bool)].astype(np.float64)
    means = {pitch: float(values.mean()) for pitch, values in pixels.items()}
    checked = passed = 0
    for pitch, mean in means.items():
        if is_black(pitch) and pitch - 1 in means and pitch + 1 in means:
            checked += 1
            passed += mean < means[pitch - 1] and mean < means[pitch + 1]
    white = np.median([m for p, m in means.items() if not is_black(p)])
    black = np.median([m for p, m in means.items() if is_black(p)])
    dark = [float(np.mean(values < (white + black) / 2)) for p, values in pixels.items() if is_black(p)]
    return passed, checked, float(np.mean(dark))


def run_real() -> list[str]:
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted((SHARED / "real_keyboards").glob("*.jpg")):
        image = cv2.imread(str(path))
        try:
            geometry = calibrate_images([image])
        except CalibrationError as exc:
            rows.append(f"| {path.name} | not found: {exc} | | | |")
            continue
        passed, checked, dark = black_key_check(image, geometry)
        preview = draw_preview(image, geometry)
        small = cv2.resize(preview, (preview.shape[1] // 2, preview.shape[0] // 2), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(PREVIEWS / f"{path.stem}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        span = f"{geometry.layout.pitches[0]}-{geometry.layout.highest_pitch} ({geometry.n_keys} keys)"
        rows.append(f"| {path.name} | {span} | {passed}/{checked} | {100 * dark:.0f}% | {geometry.confidence:.2f} |")
    return rows


def run_real_in_scenes(seed: int = 5) -> tuple[int, int]:
    """Each real frame warped into a 1280x720 street scene with random tilt (0-30), roll and fill (0.45-0.95).

    Passes when A0 is the lowest key, 87 or 88 keys are found (C8 is cut in most crops) and every black
    key is darker than both neighbours.
    """
    rng = np.random.default_rng(seed)
    passed = 0
    paths = sorted((SHARED / "real_keyboards").glob("*.jpg"))
    for path in paths:
        frame = _paste_in_scene(cv2.imread(str(path)), rng)
        try:
            geometry = calibrate_images([frame])
        except CalibrationError:
            continue
        darker, checked, _ = black_key_check(frame, geometry)
        passed += geometry.lowest_pitch == 21 and geometry.n_keys in (87, 88) and darker == checked
    return passed, len(paths)


def _paste_in_scene(image: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    height, width = image.shape[:2]
    scene_w, scene_h = 1280, 720
    fill, tilt, roll = rng.uniform(0.45, 0.95), math.radians(rng.uniform(0, 30)), math.radians(rng.uniform(-5, 5))
    far = 1 - 0.45 * math.sin(tilt)
    span = fill * scene_w
    depth = span * height / width * math.cos(tilt)
    cx, cy = scene_w / 2 + rng.uniform(-50, 50), scene_h * rng.uniform(0.35, 0.6)
    corners = np.array([[-span / 2 * far, -depth / 2], [span / 2 * far, -depth / 2], [span / 2, depth / 2],
                        [-span / 2, depth / 2]])
    rotation = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    corners = corners @ rotation.T + [cx, cy]
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    warp = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    frame = _street(rng, scene_w, scene_h)
    warped = cv2.warpPerspective(image, warp, (scene_w, scene_h))
    inside = cv2.warpPerspective(np.full((height, width), 255, np.uint8), warp, (scene_w, scene_h)) > 0
    frame[inside] = warped[inside]
    return frame


def time_long_video(tmp: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds (medians of 3) to calibrate from 60 s of 720p H.264, and the keys' worst error."""
    notes = _songs()[0]
    video = tmp / "long.mp4"
    labels = render_to_files(notes, RenderConfig(style="grand", seed=3, size=(1280, 720), fps=30.0, start=0.0,
                                                 duration=60.0), video, None)
    walls, cpus = [], []
    geometry = None
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        geometry = calibrate_video(video)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert geometry is not None
    return float(np.median(walls)), float(np.median(cpus)), judge(geometry, labels)[1]


def _share(outcomes: list[Outcome]) -> str:
    passed = sum(o.passed for o in outcomes)
    return f"{passed}/{len(outcomes)} ({100 * passed / max(len(outcomes), 1):.0f}%)"


def main() -> list[str]:
    cv2.setNumThreads(2)
    automatic = run_synthetic(hinted=False)
    guessed = {i for i, o in enumerate(automatic) if o.octave_guessed}
    hinted = [o for i, o in enumerate(automatic) if i not in guessed] + run_synthetic(hinted=True, only=guessed)
    with tempfile.TemporaryDirectory(prefix="vmb-bench-cal-") as tmp_name:
        tmp = Path(tmp_name)
        encoded = run_encoded(tmp)
        seconds, cpu_seconds, long_error = time_long_video(tmp)
    in_scenes, n_scenes = run_real_in_scenes()
    false_found = []
    no_keyboard = no_keyboard_images()
    for name, image in no_keyboard.items():
        try:
            calibrate_images([image])
            false_found.append(name)
        except CalibrationError:
            pass
    lines = [f"Load average at the end of the run: {os.getloadavg()[0]:.1f} (timings grow with it); run alone: "
             "`.venv/bin/python -m benchmarks.run_all bench_calibration`.", "",
             f"Synthetic set: {len(automatic)} clips ({len(STYLE_NAMES)} styles x {len(SEEDS)} seeds x 2 sizes, "
             f"1280x720 and 640x360), 8 miditest songs, {FRAMES_PER_CLIP} frames each; pass = every reported key "
             f"within {TOLERANCE_MM} mm of the truth and every key wholly in view reported (black keys: with both "
             "neighbours).", "",
             "| set | passed |", "|---|---|",
             f"| all clips, automatic (octave guessed when the keyboard runs out of view) | {_share(automatic)} |",
             f"| all clips, with --keys N as a user would give for a cropped view | {_share(hinted)} |"]
    for style in STYLE_NAMES:
        lines.append(f"| {style}, automatic | {_share([o for o in automatic if o.style == style])} |")
    for size in SIZES:
        lines.append(f"| {size[0]}x{size[1]}, automatic | {_share([o for o in automatic if o.size == size])} |")
    lines.append(f"| through H.264 (one 2 s clip per style, calibrate_video) | {_share(encoded)} |")
    worst = max((o.worst_mm for o in automatic if o.passed), default=float("nan"))
    lines += [f"| worst key error among passing clips | {worst:.2f} mm |",
              f"| automatic octave guesses (cropped views) | {sum(o.octave_guessed for o in automatic)} clips |",
              f"| no-keyboard images calibrated by mistake | {len(false_found)}/{len(no_keyboard)} "
              f"{', '.join(false_found)} |",
              f"| time to calibrate from 60 s of 720p H.264 (keyframes through ffmpeg, 2 threads) | {seconds:.2f} s "
              f"wall, {cpu_seconds:.2f} s CPU in this process, ffmpeg not counted (worst key {long_error:.2f} mm) |",
              ""]
    failures = [o for o in automatic + encoded if not o.passed]
    if failures:
        lines += ["Failures (automatic and encoded):", ""]
        lines += [f"- {o.style} {o.size[0]}x{o.size[1]}: {o.note}" for o in failures]
        lines.append("")
    lines += [f"Real frames warped into 1280x720 street scenes (tilt 0-30, roll +-5, fill 0.45-0.95, fixed seed): "
              f"{in_scenes}/{n_scenes} calibrated to A0 with 87-88 keys and every black key darker than both "
              "neighbours.", ""]
    lines += ["Real frames (`../shared/data/real_keyboards`, one frame each, previews in `out/calibration-previews/`): "
              "black keys darker than both white neighbours inside their polygons.", "",
              "| frame | keys found | black keys darker than both neighbours | dark pixels inside black-key polygons "
              "| confidence |", "|---|---|---|---|---|"]
    lines += run_real()
    return lines
