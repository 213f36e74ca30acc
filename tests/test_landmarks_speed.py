"""The speed-ups of bridge/landmarks.py keep what is found: time segments side by side, pose at a lower rate."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.cli import main
from bridge.errors import VmbError
from bridge.landmarks import (
    LandmarkDetector,
    LandmarkTracks,
    concatenate_tracks,
    extract_landmarks,
    extract_landmarks_from_video,
    interpolate_held_pose,
)
from bridge.segments import plan_segments
from bridge.sources import VideoFileSource
from bridge.synth import RenderConfig, render_to_files
from bridge.synth.notes_io import read_notes


@pytest.fixture(scope="module")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("speed")
    notes, _ = read_notes(shared_data / "midi" / "miditest" / "10.mid")
    video = folder / "grand.mp4"
    render_to_files(notes, RenderConfig(style="grand", seed=2, size=(640, 360), duration=2.0), video,
                    folder / "grand.npz")
    return video


@given(start=st.floats(0, 100), length=st.floats(0, 200), workers=st.integers(1, 8), open_end=st.booleans())
def test_segments_cut_the_range_into_equal_parts_with_a_warm_up(start: float, length: float, workers: int,
                                                                 open_end: bool) -> None:
    end = start + length
    segments = plan_segments(start, end, workers, open_end, min_segment_s=8.0, warmup_s=1.0)
    assert 1 <= len(segments) <= workers
    assert len(segments) == 1 or all(s.end is None or s.end - s.keep_from >= 8.0 - 1e-9 for s in segments)
    assert segments[0].read_from == segments[0].keep_from == start
    for before, after in pairwise(segments):
        assert before.end == after.keep_from  # no frame kept twice, none lost
        assert after.keep_from - 1.0 - 1e-9 <= after.read_from < after.keep_from
    assert segments[-1].end == (None if open_end else end)


def test_bad_worker_counts_are_refused() -> None:
    with pytest.raises(VmbError, match="workers"):
        plan_segments(0.0, 100.0, 0, True, 8.0, 1.0)
    with pytest.raises(VmbError, match="pose_every"):
        LandmarkDetector(pose_every=0)


def test_segments_side_by_side_give_the_frames_and_hands_of_one_pass(clip: Path) -> None:
    one = extract_landmarks_from_video(clip, workers=1, smoothing=None)
    two = extract_landmarks_from_video(clip, workers=2, min_segment_s=0.9, smoothing=None)
    assert np.array_equal(one.t, two.t) and one.image_size == two.image_size == (640, 360)
    assert np.all(np.diff(two.t) > 0)
    joined = two.t >= 1.0 - 1e-6  # the second worker's frames, after its warm-up second
    assert (one.hand_present()[joined] == two.hand_present()[joined]).mean() >= 0.8
    both = one.hand_present() & two.hand_present()
    assert both.any(), "mediapipe found no hand in the rendered clip: pick a seed whose cartoon hands it finds"
    gap = np.linalg.norm(one.hands[both][..., :2] - two.hands[both][..., :2], axis=-1)
    assert float(np.median(gap)) < 0.03 * 640


def test_pose_runs_on_every_nth_frame_and_is_held_between(clip: Path) -> None:
    frames = list(VideoFileSource(clip, 0.0, 0.5))
    with LandmarkDetector(pose=True, pose_every=3, smoothing=None) as detector:
        poses = [detector.process(frame).pose for frame in frames]
        assert detector.pose_runs == len(range(0, len(frames), 3)) and detector.processed == len(frames)
    assert all(pose is not None and pose.shape == (33, 4) for pose in poses)
    tracks = extract_landmarks(frames[:4], pose=True, smoothing=None, pose_every=3)
    assert tracks.pose is not None and tracks.pose.shape == (4, 33, 4)


def test_interpolation_fills_between_pose_runs_and_holds_next_to_misses() -> None:
    truth = np.linspace(0, 70, 8, dtype=np.float32)[:, None, None] * np.ones((1, 33, 4), np.float32)
    held = truth[np.arange(8) // 3 * 3].copy()  # what the detector gives with pose_every=3
    interpolate_held_pose(held, 3)
    assert np.allclose(held[:7], truth[:7]) and np.array_equal(held[7], truth[6])  # after the last run: held
    missed = truth[np.arange(8) // 3 * 3].copy()
    missed[3:6] = np.nan  # the run on row 3 found nobody
    interpolate_held_pose(missed, 3)
    assert np.array_equal(missed[1], truth[0]) and np.isnan(missed[3:6]).all()
    assert np.array_equal(missed[7], truth[6])


def test_concatenated_tracks_keep_order_and_skip_empty_parts(clip: Path) -> None:
    whole = extract_landmarks(VideoFileSource(clip, 0.0, 0.4), smoothing=None)
    parts = [whole.between(0.0, 0.2), whole.between(5.0), whole.between(0.2)]
    joined = concatenate_tracks(parts)
    assert isinstance(joined, LandmarkTracks) and np.array_equal(joined.t, whole.t)
    assert np.array_equal(joined.hands, whole.hands, equal_nan=True) and joined.image_size == whole.image_size


def test_cli_splits_into_workers_and_refuses_bad_counts(clip: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tracks.npz"
    assert main(["landmarks", str(clip), "-o", str(out), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err and not out.exists()
    assert main(["landmarks", str(clip), "-o", str(out), "--pose", "--pose-every", "2", "--duration", "0.5"]) == 0
    tracks = LandmarkTracks.load(out)
    assert tracks.pose is not None and tracks.n_frames == 15
