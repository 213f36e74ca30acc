"""Gesture control for the live bridge: each frame's hands (mediapipe, through bridge.landmarks) mapped by a
gesture preset (bridge.gestures) to controllers, pitch bend, notes and OSC messages."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bridge.gestures import ControlMessage, GestureMapper, load_gesture_preset
from bridge.landmarks import LandmarkDetector
from bridge.types import Frame


class GestureControl:
    """Call it with every frame; it answers with the control messages that changed.

    :meth:`submit` does the same work in a worker thread (frames are handled in the order given), so a
    caller can run the key model on the frame meanwhile and collect the messages after.
    """

    def __init__(self, preset: str | Path, image_size: tuple[int, int], hand_model: int = 1) -> None:
        self.mapper = GestureMapper(load_gesture_preset(preset), image_size=image_size)
        self.detector = LandmarkDetector(hand_model=hand_model)
        self._worker: ThreadPoolExecutor | None = None

    def __call__(self, frame: Frame) -> list[ControlMessage]:
        return self.mapper.update(self.detector.process(frame).to_hands())

    def submit(self, frame: Frame) -> Future[list[ControlMessage]]:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gestures")
        return self._worker.submit(self, frame)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        self.detector.close()
