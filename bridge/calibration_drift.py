"""Live use: notice that the camera or the keyboard moved, so the calibration no longer fits.

The frame is rectified with the calibration and cut into blocks of a few white keys; each block is
compared with the same block of a reference frame (normalised correlation, so light changes do not
count). Hands cover some blocks, never most of them: the keyboard has moved when most blocks stop
matching, frame after frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import CalibrationError
from bridge.rectify import Rectifier, StripSpec
from bridge.types import KeyboardGeometry

_SPEC = StripSpec(px_per_white_key=8.0, height=48, margin_mm=10.0)
_WHITE_KEYS_PER_BLOCK = 7  # an octave: a shift by part of an octave changes every block
# Normalised correlation of a block that still shows the same keys (grey, vertical gradient). Measured on
# synthetic video: unmoved blocks >= 0.92 and >= 0.82, blocks moved by a white key <= 0.78 and <= 0.67.
_BLOCK_MATCH = np.array([[0.85], [0.7]], np.float32)


class DriftMonitor:
    """Feed it frames; ``update`` turns True once most of the keyboard has stopped matching the reference."""

    def __init__(self, geometry: KeyboardGeometry, reference: NDArray[np.uint8], *, patience: int = 15,
                 min_matching: float = 0.4) -> None:
        self.patience = patience
        self.min_matching = min_matching
        self.reset(geometry, reference)

    def reset(self, geometry: KeyboardGeometry, reference: NDArray[np.uint8]) -> None:
        """Start over with a new calibration (after recalibrating) and a frame it was made from."""
        self._rectifier = Rectifier(geometry, _SPEC)
        self._reference = self._blocks(reference)
        self._textured = np.all(np.linalg.norm(self._reference, axis=2) > 0, axis=0)
        if self._textured.mean() < 0.5:
            raise CalibrationError("the reference frame does not show the keys: give a frame where the keyboard is "
                                   "visible (not black or faded)")
        self._misses = 0
        self.last_matching = 1.0

    def matching(self, frame: NDArray[np.uint8]) -> float:
        """Share of keyboard blocks that still look like the reference (0-1)."""
        scores = np.einsum("kij,kij->ki", self._blocks(frame), self._reference)
        matched = np.all(scores > _BLOCK_MATCH, axis=0)
        return float(np.mean(matched[self._textured]))

    def update(self, frame: NDArray[np.uint8]) -> bool:
        """Count frames in a row that do not match; True once there have been ``patience`` of them."""
        self.last_matching = self.matching(frame)
        self._misses = self._misses + 1 if self.last_matching < self.min_matching else 0
        return self._misses >= self.patience

    @property
    def drifted(self) -> bool:
        return self._misses >= self.patience

    def _blocks(self, frame: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Per block of white keys, unit-norm zero-mean vectors of the strip and of its vertical gradient.

        The grey blocks catch sideways moves (black keys no longer line up); the gradient blocks catch moves
        along the keys (the back edge, the black keys' ends and the front edge no longer line up).
        """
        strip = self._rectifier(frame)
        grey = np.asarray(cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY) if strip.ndim == 3 else strip, np.float32)
        gradient = np.asarray(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3), np.float32)
        return np.stack([_unit_blocks(grey), _unit_blocks(gradient)])


def _unit_blocks(values: NDArray[np.float32]) -> NDArray[np.float32]:
    block_px = int(_SPEC.px_per_white_key * _WHITE_KEYS_PER_BLOCK)
    n_blocks = values.shape[1] // block_px
    blocks = values[:, : n_blocks * block_px].reshape(values.shape[0], n_blocks, block_px)
    flat = blocks.transpose(1, 0, 2).reshape(n_blocks, -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.asarray(np.where(norms > 1e-3, flat / np.maximum(norms, 1e-3), 0.0), np.float32)
