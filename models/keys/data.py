"""Training arrays from rendered clips (``vmb dataset build`` shards or any ``vmb synth`` video + labels).

A clip is decoded from its H.264 video (what users have), rectified through the labels' true calibration
moved by a small random error (up to ``CALIBRATION_ERROR`` of a white key, as a real calibration would be
off), turned into grey strips with ``bridge.features`` and cached as one ``.npz`` per clip.
"""

from __future__ import annotations

import logging
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.features import STRIP_SPEC, clip_backgrounds
from bridge.geometry import WHITE_KEY_WIDTH_MM, KeyLayout
from bridge.rectify import Rectifier
from bridge.sources import VideoFileSource
from bridge.types import KeyboardGeometry

log = logging.getLogger(__name__)
CALIBRATION_ERROR = 0.15  # of a white key's width, at the keyboard's ends
N_KEYS = 88


@dataclass(frozen=True, slots=True)
class ClipArrays:
    name: str
    grays: NDArray[np.uint8]  # (n, h, w) rectified grey strips
    backgrounds: NDArray[np.float16]  # (n, h, w) background of each target frame, 0-1
    onset: NDArray[np.bool_]  # (n, 88)
    frame: NDArray[np.bool_]  # (n, 88)
    velocity: NDArray[np.uint8]  # (n, 88)
    centres_px: NDArray[np.float64]  # (88,) strip x of each key; nan when the keyboard lacks the key
    fps: float

    @property
    def n_frames(self) -> int:
        return len(self.grays)


def jittered(image_to_plane: NDArray[np.float64], layout: KeyLayout, rng: np.random.Generator | None,
             ) -> NDArray[np.float64]:
    """The calibration with its ends moved by up to ``CALIBRATION_ERROR`` white keys (x) and 4% of the length (y)."""
    if rng is None:
        return image_to_plane
    max_mm = CALIBRATION_ERROR * WHITE_KEY_WIDTH_MM
    left, right = rng.uniform(-max_mm, max_mm, 2)
    scale_x = 1 + (right - left) / layout.width_mm
    scale_y, shift_y = 1 + rng.uniform(-0.04, 0.04), rng.uniform(-6.0, 6.0)
    affine = np.array([[scale_x, 0.0, left], [0.0, scale_y, shift_y], [0.0, 0.0, 1.0]])
    return affine @ image_to_plane


def geometry_from_labels(labels: dict[str, NDArray[np.generic]], rng: np.random.Generator | None = None,
                         ) -> KeyboardGeometry:
    layout = KeyLayout(int(labels["lowest_pitch"]), int(labels["key_count"]))
    size = tuple(int(v) for v in labels["size"])
    homography = jittered(np.asarray(labels["image_to_plane"], np.float64), layout, rng)
    return KeyboardGeometry((size[0], size[1]), layout.lowest_pitch, layout.n_keys, homography)


def strips_of_video(video: Path, geometry: KeyboardGeometry) -> NDArray[np.uint8]:
    rectifier = Rectifier(geometry, STRIP_SPEC)
    grays = [cv2.cvtColor(rectifier(frame.image), cv2.COLOR_BGR2GRAY) for frame in VideoFileSource(video)]
    return np.asarray(np.stack(grays), dtype=np.uint8)


def centres_of(geometry: KeyboardGeometry) -> NDArray[np.float64]:
    centres = np.full(N_KEYS, np.nan)
    columns = Rectifier(geometry, STRIP_SPEC).key_columns()
    for pitch, x in zip(geometry.layout.pitches, columns, strict=True):
        if 21 <= pitch <= 108:
            centres[pitch - 21] = x
    return centres


def load_clip(base: Path, seed: int | None = None) -> ClipArrays:
    """Decode and rectify ``base.mp4`` with ``base.npz`` labels (calibration error drawn from ``seed``)."""
    with np.load(base.with_suffix(".npz")) as data:
        labels = {k: data[k] for k in data.files}
    rng = None if seed is None else np.random.default_rng(seed)
    geometry = geometry_from_labels(labels, rng)
    grays = strips_of_video(base.with_suffix(".mp4"), geometry)
    n = min(len(grays), len(labels["key_state"]))
    grays = grays[:n]
    backgrounds = clip_backgrounds(grays.astype(np.float32) * np.float32(1 / 255)).astype(np.float16)
    return ClipArrays(base.name, grays, backgrounds, labels["onsets"][:n], labels["key_state"][:n],
                      labels["velocities"][:n], centres_of(geometry), float(labels["fps"]))


def save_clip(clip: ClipArrays, path: Path) -> None:
    np.savez(path, name=clip.name, grays=clip.grays, backgrounds=clip.backgrounds, onset=clip.onset,
             frame=clip.frame, velocity=clip.velocity, centres_px=clip.centres_px, fps=clip.fps)


def read_clip(path: Path) -> ClipArrays:
    with np.load(path) as d:
        return ClipArrays(str(d["name"]), d["grays"], d["backgrounds"], d["onset"], d["frame"], d["velocity"],
                          d["centres_px"], float(d["fps"]))


def _cache_one(job: tuple[Path, Path, int]) -> Path:
    base, cache, seed = job
    target = cache / f"{base.name}.npz"
    if not target.exists():
        cv2.setNumThreads(1)
        tmp = cache / f"{base.name}.part.npz"
        save_clip(load_clip(base, seed), tmp)
        tmp.replace(target)
    return target


def cache_clips(bases: list[Path], cache: Path, seed: int, workers: int = 1) -> list[Path]:
    """Cached arrays of every clip (built when missing), one calibration error per clip (drawn from its name)."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(b, cache, seed * 100_003 + zlib.crc32(b.name.encode())) for b in bases]
    if workers == 1:
        return [_cache_one(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_cache_one, jobs))
