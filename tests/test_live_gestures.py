"""Gesture control in the live loop: rendered hands on a real encoded video move controllers."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from bridge.gesture_control import GestureControl
from bridge.live import LiveRunner, VideoEdgeSource
from bridge.sources import VideoFileSource
from bridge.synth import RenderConfig, render_to_files, true_geometry
from bridge.synth.notes_io import read_notes
from bridge.types import Frame
from tests.test_live import ListSink, assert_paired


def test_gestures_send_controllers_beside_the_notes(shared_data: Path, tmp_path: Path) -> None:
    notes, sustain = read_notes(shared_data / "midi" / "miditest" / "24.mid")
    config = RenderConfig(style="grand", seed=5, size=(1280, 720), fps=15.0, start=30.0, duration=3.0)
    video = tmp_path / "clip.mp4"
    labels = render_to_files(notes, config, video, None, sustain)
    geometry = true_geometry(labels)

    def frames_of(start: float, halt: threading.Event) -> Iterable[Frame]:
        return VideoFileSource(video)

    gestures = GestureControl("mixer", config.size)
    sink = ListSink()
    try:
        LiveRunner(VideoEdgeSource(frames_of, geometry, gestures=gestures), [sink]).run()
    finally:
        gestures.close()
    assert_paired(sink.edges)
    assert sink.edges, "the key model found notes"
    mixer_controls = {74, 71, 7, 91, 10}
    assert {control for control, _, _ in sink.controls} & mixer_controls, "hand moves reached the controllers"
    assert all(0 <= value <= 127 for control, value, _ in sink.controls if control >= 0)
