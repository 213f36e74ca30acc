"""The transcription preview video: the frame with the keys the model thinks are down lit up, over a
scrolling piano roll of the model's key-down probability with the decoded notes on top, so a user
sees at a glance where it went wrong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.synth.video import H264Writer
from bridge.types import Activations, Frame, KeyboardGeometry, NoteEdge, NoteOn

MAX_WIDTH = 1280
ROLL_HEIGHT = 160
LIT_COLOUR = (40, 200, 255)  # BGR amber
NOTE_COLOUR = (60, 220, 60)
N_KEYS = 88
LOWEST_PITCH = 21


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


class PreviewWriter:
    """Context manager: :meth:`add` each frame (in order) with the activations and edges it produced."""

    def __init__(self, path: Path, geometry: KeyboardGeometry, fps: float) -> None:
        width, height = geometry.image_size
        self.scale = min(1.0, MAX_WIDTH / width)
        self.frame_size = (_even(width * self.scale), _even(height * self.scale))
        self.size = (self.frame_size[0], self.frame_size[1] + ROLL_HEIGHT)
        self._polygons = {k.pitch: np.round(k.polygon * self.scale).astype(np.int32) for k in geometry.keys}
        edges = np.linspace(0, self.size[0], N_KEYS + 1).astype(int)
        self._key_of_column = np.searchsorted(edges, np.arange(self.size[0]), side="right") - 1
        self._roll = np.zeros((ROLL_HEIGHT, self.size[0], 3), np.uint8)
        self._sounding: set[int] = set()
        self._writer = H264Writer(path, self.size, fps, crf=26)

    def add(self, frame: Frame, activations: Sequence[Activations], edges: Iterable[NoteEdge]) -> None:
        for edge in edges:
            if isinstance(edge, NoteOn):
                self._sounding.add(edge.pitch)
            else:
                self._sounding.discard(edge.pitch)
        for act in activations:
            self._scroll(act)
        image = np.asarray(cv2.resize(frame.image, self.frame_size, interpolation=cv2.INTER_AREA), np.uint8)
        self._light_keys(image)
        self._writer.write(np.vstack([image, self._roll]))

    def _light_keys(self, image: NDArray[np.uint8]) -> None:
        polygons = [self._polygons[p] for p in self._sounding if p in self._polygons]
        if not polygons:
            return
        overlay = image.copy()
        cv2.fillPoly(overlay, polygons, LIT_COLOUR)
        cv2.addWeighted(overlay, 0.55, image, 0.45, 0, dst=image)
        cv2.polylines(image, polygons, True, LIT_COLOUR, 1, cv2.LINE_AA)

    def _scroll(self, act: Activations) -> None:
        self._roll[:-1] = self._roll[1:]
        levels = (np.clip(np.asarray(act.frame, np.float32), 0, 1) * 200).astype(np.uint8)
        colours = np.repeat(levels[:, None], 3, axis=1)
        for pitch in self._sounding:
            if 0 <= pitch - LOWEST_PITCH < N_KEYS:
                colours[pitch - LOWEST_PITCH] = NOTE_COLOUR
        self._roll[-1] = colours[self._key_of_column]

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.__exit__(exc_type, exc, tb)
