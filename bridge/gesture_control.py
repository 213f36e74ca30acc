"""Gesture control for the live bridge: each frame's hands (mediapipe, through bridge.landmarks) mapped by a
gesture preset (bridge.gestures) to controllers, pitch bend, notes and OSC messages."""

from __future__ import annotations

from pathlib import Path

from bridge.gestures import ControlMessage, GestureMapper, load_gesture_preset
from bridge.landmarks import LandmarkDetector
from bridge.types import Frame


class GestureControl:
    """Call it with every frame; it answers with the control messages that changed."""

    def __init__(self, preset: str | Path, image_size: tuple[int, int], hand_model: int = 1) -> None:
        self.mapper = GestureMapper(load_gesture_preset(preset), image_size=image_size)
        self.detector = LandmarkDetector(hand_model=hand_model)

    def __call__(self, frame: Frame) -> list[ControlMessage]:
        return self.mapper.update(self.detector.process(frame).to_hands())

    def close(self) -> None:
        self.detector.close()
