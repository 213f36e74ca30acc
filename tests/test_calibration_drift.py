"""DriftMonitor: a moved camera stops matching the calibration; hands playing on the keys do not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.calibration import DriftMonitor, calibrate_images
from bridge.errors import CalibrationError
from bridge.synth import RenderConfig, render_frames
from bridge.synth.notes_io import read_notes
from bridge.types import KeyboardGeometry


@pytest.fixture(scope="module")
def performance(shared_data: Path) -> tuple[KeyboardGeometry, list[NDArray[np.uint8]]]:
    notes = read_notes(shared_data / "midi" / "miditest" / "5.mid")[0]
    config = RenderConfig(style="grand", seed=1, size=(640, 360), fps=10.0, start=20.0, duration=4.0)
    _, frames, _ = render_frames(notes, config)
    images = list(frames)
    return calibrate_images(images[::5]), images


def _shift(image: NDArray[np.uint8], dx: float, dy: float) -> NDArray[np.uint8]:
    height, width = image.shape[:2]
    moved = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height),
                           borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(moved, np.uint8)


def test_hands_playing_do_not_trigger(performance: tuple[KeyboardGeometry, list[NDArray[np.uint8]]]) -> None:
    geometry, frames = performance
    monitor = DriftMonitor(geometry, frames[0], patience=3)
    assert not any(monitor.update(frame) for frame in frames)
    assert monitor.last_matching > 0.6


@pytest.mark.parametrize(("dx", "dy"), [(5.0, 0.0), (-12.0, 3.0), (0.0, 8.0)])
def test_moved_camera_triggers_after_patience(performance: tuple[KeyboardGeometry, list[NDArray[np.uint8]]],
                                              dx: float, dy: float) -> None:
    geometry, frames = performance
    monitor = DriftMonitor(geometry, frames[0], patience=4)
    moved = [_shift(frame, dx, dy) for frame in frames[10:16]]
    results = [monitor.update(frame) for frame in moved]
    assert results[:3] == [False, False, False] and all(results[3:])
    assert monitor.drifted


def test_reset_accepts_the_new_position(performance: tuple[KeyboardGeometry, list[NDArray[np.uint8]]]) -> None:
    geometry, frames = performance
    monitor = DriftMonitor(geometry, frames[0], patience=2)
    moved = [_shift(frame, 10.0, 0.0) for frame in frames[:12]]
    assert monitor.update(moved[0]) is False and monitor.update(moved[1]) is True
    monitor.reset(calibrate_images(moved[::4]), moved[2])
    assert not any(monitor.update(frame) for frame in moved[3:])


def test_black_reference_is_refused(performance: tuple[KeyboardGeometry, list[NDArray[np.uint8]]]) -> None:
    geometry, frames = performance
    with pytest.raises(CalibrationError, match="reference frame"):
        DriftMonitor(geometry, np.zeros_like(frames[0]))


def test_live_source_recalibrates_when_the_camera_moves(
        performance: tuple[KeyboardGeometry, list[NDArray[np.uint8]]]) -> None:
    """The live video source notices the move, recalibrates by itself and runs on: every note on gets its note off."""
    import threading

    from bridge.live import VideoEdgeSource
    from bridge.types import Frame, NoteOff, NoteOn

    geometry, frames = performance
    images = frames + [_shift(frame, 14.0, 4.0) for frame in frames]

    def frames_of(start: float, halt: threading.Event) -> list[Frame]:
        return [Frame(i, i / 10.0, image) for i, image in enumerate(images)]

    source = VideoEdgeSource(frames_of, geometry, calibrate=calibrate_images)
    edges = [edge for step in source.steps(0.0, threading.Event()) for edge in step.edges]
    assert source.recalibrations >= 1
    moved_by = source.geometry.homography @ np.linalg.inv(geometry.homography)
    assert not np.allclose(moved_by, np.eye(3), atol=1e-3)
    ons = sum(isinstance(e, NoteOn) for e in edges)
    offs = sum(isinstance(e, NoteOff) for e in edges)
    assert ons == offs
