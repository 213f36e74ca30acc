"""Training batches: random windows of random strip crops, augmented, turned into model input by bridge.features.

Augmentation (per sample) on top of what the renderer varies: gamma, a light gradient across the keyboard,
per-frame exposure flicker and exposure jumps, camera shake (the window's frames moved by up to a strip pixel,
frame by frame or from one frame on), sensor noise, lens blur: none of these is a key going down. The
calibration error is drawn per clip in ``models.keys.data``; H.264 artefacts come from the encoded clips themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.features import OUTPUT_STRIDE, background_stats, model_input, window_indices
from models.keys.data import ClipArrays

EDGE_PX = 12  # keys this close to a crop edge see padding instead of neighbours: not scored
SHAKE_P, SHAKE_PX = 0.3, 1.0  # share of windows moved as by camera shake, and by up to how many strip pixels
EXPOSURE_STEP_P = 0.15  # share of windows whose exposure jumps (auto exposure) at a random frame


@dataclass(frozen=True, slots=True)
class Batch:
    inputs: NDArray[np.float32]  # (b, N_CHANNELS, h, crop)
    centres_px: NDArray[np.float32]  # (b, 88) in crop pixels (clamped)
    mask: NDArray[np.bool_]  # (b, 88) key is on the keyboard and well inside the crop
    onset: NDArray[np.float32]
    frame: NDArray[np.float32]
    velocity: NDArray[np.float32]  # 0-1


class BatchSampler:
    def __init__(self, clips: list[ClipArrays], crop_px: int, augment: bool, seed: int) -> None:
        self.clips = clips
        self.crop_px = crop_px
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        frames = np.array([c.n_frames for c in clips], dtype=np.float64)
        self.clip_p = frames / frames.sum()
        self.onset_frames = [np.flatnonzero(c.onset.any(axis=1)) for c in clips]
        self._noise = self.rng.standard_normal(4_000_000, dtype=np.float32)  # sliced at random offsets

    def sample(self, size: int) -> Batch:
        items = [self._one() for _ in range(size)]
        window, background = np.stack([item[0] for item in items]), np.stack([item[1] for item in items])
        references = [item[2] for item in items]
        x0 = np.stack([item[3] for item in items])
        if self.augment:
            window, background, references = self._augment(window, background, references, x0)
        stats = [background_stats(r) for r in references]
        mean, scale = np.stack([m for m, _ in stats]), np.stack([v for _, v in stats])
        inputs = model_input(window, background, (mean, scale))
        labels = (np.stack([item[i] for item in items]) for i in range(4, 9))
        return Batch(inputs, *labels)  # type: ignore[arg-type]

    def _one(self) -> tuple[NDArray[np.generic], ...]:
        rng = self.rng
        index = int(rng.choice(len(self.clips), p=self.clip_p))
        clip = self.clips[index]
        width = clip.grays.shape[2]
        onsets = self.onset_frames[index]
        if len(onsets) and rng.random() < 0.5:
            target = int(onsets[rng.integers(len(onsets))]) + int(rng.integers(-1, 2))
            target = int(np.clip(target, 0, clip.n_frames - 1))
            keys = np.flatnonzero(clip.onset[target] | clip.frame[target])
            focus = clip.centres_px[int(rng.choice(keys))] if len(keys) else rng.uniform(0, width)
        else:
            target = int(rng.integers(clip.n_frames))
            focus = rng.uniform(0, width)
        crop = min(self.crop_px, width - width % OUTPUT_STRIDE)
        x0 = int(np.clip(focus - rng.uniform(EDGE_PX, crop - EDGE_PX), 0, width - crop))
        x0 -= x0 % OUTPUT_STRIDE
        window = clip.grays[window_indices(target, clip.n_frames), :, x0:x0 + crop].astype(np.float32) / 255
        reference = clip.backgrounds[target].astype(np.float32)
        background = reference[:, x0:x0 + crop]
        centres = clip.centres_px - x0
        inside = (centres >= (EDGE_PX if x0 > 0 else 0)) & (centres <= crop - (EDGE_PX if x0 + crop < width else 0))
        mask = ~np.isnan(clip.centres_px) & inside
        centres = np.nan_to_num(np.clip(centres, 0, crop - 1)).astype(np.float32)
        return (window, background, reference, np.int64(x0), centres, mask,
                clip.onset[target].astype(np.float32), clip.frame[target].astype(np.float32),
                clip.velocity[target].astype(np.float32) / 127)

    def _augment(self, window: NDArray[np.float32], background: NDArray[np.float32],
                 references: list[NDArray[np.float32]], x0: NDArray[np.int64],
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32], list[NDArray[np.float32]]]:
        """Augment crops' windows (b, t, h, w) and backgrounds (b, h, w), and whole-strip backgrounds the same way."""
        rng = self.rng
        n, crop = len(window), window.shape[-1]
        gamma = np.exp(rng.uniform(-0.4, 0.4, (n, 1, 1))).astype(np.float32)
        slope = rng.uniform(-0.25, 0.25, (n, 1, 1)).astype(np.float32)
        widths = np.array([r.shape[-1] for r in references])
        positions = (x0[:, None] + np.arange(crop)) / (widths[:, None] - 1) * 2 - 1  # -1..1 across each strip
        crop_ramp = 1 + slope * positions[:, None, :].astype(np.float32)
        references = [np.clip(r, 0, 1) ** g * (1 + k * np.linspace(-1, 1, r.shape[-1], dtype=np.float32))
                      for r, g, k in zip(references, gamma, slope, strict=True)]
        background = np.clip(background, 0, 1) ** gamma * crop_ramp
        gains = (1 + rng.normal(0, 0.03, (n, window.shape[1], 1, 1))).astype(np.float32)
        for i in np.flatnonzero(rng.random(n) < EXPOSURE_STEP_P):
            gains[i, int(rng.integers(1, window.shape[1])):] *= rng.uniform(0.75, 1.25)
        window = np.clip(window, 0, 1) ** gamma[:, None] * crop_ramp[:, None] * gains
        for i in np.flatnonzero(rng.random(n) < SHAKE_P):
            window[i] = shaken(window[i], rng)
        for i in np.flatnonzero(rng.random(n) < 0.4):
            sigma = rng.uniform(0.3, 1.2)
            window[i] = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in window[i]])
            background[i] = cv2.GaussianBlur(background[i], (0, 0), sigma)
        start = int(rng.integers(0, len(self._noise) - window.size))
        noise = self._noise[start:start + window.size].reshape(window.shape)
        window = window + rng.uniform(0, 0.03, (n, 1, 1, 1)).astype(np.float32) * noise
        return window.astype(np.float32), background.astype(np.float32), references


def shaken(frames: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """The frames (t, h, w) moved by up to ``SHAKE_PX`` (half that vertically): each its own way, or all from one on."""
    count, height, width = frames.shape
    if rng.random() < 0.5:
        offsets = rng.uniform(-SHAKE_PX, SHAKE_PX, (count, 2))
    else:
        offsets = np.zeros((count, 2))
        offsets[int(rng.integers(1, count)):] = rng.uniform(-SHAKE_PX, SHAKE_PX, 2)
    moved = np.empty_like(frames)
    for k, (dx, dy) in enumerate(offsets):
        matrix = np.array([[1, 0, dx], [0, 1, dy / 2]], dtype=np.float32)
        moved[k] = cv2.warpAffine(frames[k], matrix, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    return moved
