from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from bridge.cli import main
from bridge.errors import InputFileError, VmbError
from bridge.gesture_control import GestureControl
from bridge.landmarks import LandmarkDetector, LandmarkTracks, extract_landmarks, hands_from_mediapipe
from bridge.motion_synth import synthesize
from bridge.sources import VideoFileSource
from bridge.synth import RenderConfig, render_to_files
from bridge.synth.notes_io import read_notes
from bridge.types import Frame

# Half a synthetic hand at 640x360: the cartoon skeleton places joints a little differently from mediapipe's.
MAX_MEDIAN_ERROR_PX = 25.0


@pytest.fixture(scope="module")
def rendered(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("hands")
    notes, _ = read_notes(shared_data / "midi" / "miditest" / "10.mid")
    video, labels = folder / "grand.mp4", folder / "grand.npz"
    render_to_files(notes, RenderConfig(style="grand", seed=2, size=(640, 360), duration=1.0), video, labels)
    return video, labels


def test_rendered_hands_are_found_in_pixels(rendered: tuple[Path, Path]) -> None:
    video, labels_path = rendered
    tracks = extract_landmarks(VideoFileSource(video))
    truth = np.load(labels_path)["hand_landmarks"][..., :2]
    assert tracks.n_frames == len(truth) and tracks.image_size == (640, 360)
    errors = []
    for i, slot in zip(*np.nonzero(tracks.hand_present()), strict=True):
        found = tracks.hands[i, slot, :, :2]
        errors.append(min(float(np.median(np.linalg.norm(found - truth[i, k], axis=1))) for k in range(2)))
    assert len(errors) >= 0.3 * tracks.n_frames
    assert np.median(errors) < MAX_MEDIAN_ERROR_PX
    hands = tracks.hands_at(int(np.flatnonzero(tracks.hand_present().any(axis=1))[0]))
    assert hands.landmarks.shape[1:] == (21, 3) and set(hands.handedness) <= {"Left", "Right"}


def test_real_keyboard_photos_have_no_hands(shared_data: Path) -> None:
    # Some show fingers at the bottom edge, blurred and cut off without the palm: mediapipe finds no hand there.
    photos = sorted((shared_data / "real_keyboards").glob("*.jpg"))[::4]
    with LandmarkDetector(pose=True, search_every=1) as detector:
        for i, photo in enumerate(photos):
            found = detector.process(Frame(i, i / 30, np.asarray(cv2.imread(str(photo)), dtype=np.uint8)))
            assert np.isnan(found.hands).all() and found.to_hands().landmarks.shape == (0, 21, 3)
            assert found.pose is not None
        assert detector.skipped == 0


def test_without_hands_only_every_nth_frame_is_searched(shared_data: Path, rendered: tuple[Path, Path]) -> None:
    empty = np.asarray(cv2.imread(str(shared_data / "real_keyboards" / "video25_im.jpg")), dtype=np.uint8)
    hand_frames = list(VideoFileSource(rendered[0], 0.55))
    empty = cv2.resize(empty, (hand_frames[0].image.shape[1], hand_frames[0].image.shape[0]))
    with LandmarkDetector(search_every=3) as detector:
        for i in range(6):
            assert np.isnan(detector.process(Frame(i, i / 30, empty)).hands).all()
        assert detector.skipped == 4  # frames 1, 2, 4 and 5
        found = [np.isfinite(detector.process(f).hands[:, 0, 0]).any() for f in hand_frames]
    assert any(found[:3]), "a hand that comes into view is searched for within search_every frames"


def test_shrinking_frames_keeps_points_in_the_original_pixels(rendered: tuple[Path, Path]) -> None:
    frames = list(VideoFileSource(rendered[0], 0.55))
    full = extract_landmarks(frames, detect_width=None, smoothing=None)
    small = extract_landmarks(frames, detect_width=320, smoothing=None)
    both = full.hand_present() & small.hand_present()
    assert both.any()
    gap = np.linalg.norm(full.hands[both][..., :2] - small.hands[both][..., :2], axis=-1)
    assert float(np.median(gap)) < 0.03 * 640  # same hands, same pixels, within detector noise


def test_bad_detector_settings_are_refused() -> None:
    with pytest.raises(VmbError, match="detect_width"):
        LandmarkDetector(detect_width=10)
    with pytest.raises(VmbError, match="search_every"):
        LandmarkDetector(search_every=0)


def test_tracks_round_trip_through_npz(tmp_path: Path) -> None:
    tracks = synthesize("bow", 1.0).tracks
    path = tmp_path / "tracks.npz"
    tracks.save(path)
    with np.load(path) as raw:
        assert {"t", "hands", "handedness", "scores", "pose", "image_size", "luma"} <= set(raw.files)
        assert list(raw["handedness"]) == ["Left", "Right"]
    back = LandmarkTracks.load(path)
    assert back.image_size == tracks.image_size and back.pose is not None and tracks.pose is not None
    for name in ("t", "hands", "scores", "luma"):
        assert np.array_equal(getattr(back, name), getattr(tracks, name), equal_nan=True)
    assert np.array_equal(back.pose, tracks.pose, equal_nan=True)


def test_other_files_are_refused_with_advice(tmp_path: Path, rendered: tuple[Path, Path]) -> None:
    with pytest.raises(InputFileError, match="vmb landmarks"):
        LandmarkTracks.load(rendered[1])  # synth labels, not tracks
    with pytest.raises(InputFileError, match="does not exist"):
        LandmarkTracks.load(tmp_path / "missing.npz")


def _result(*hands: tuple[str, float]) -> SimpleNamespace:
    """A mediapipe Hands result with the attributes the adapter reads; one hand per (label, x)."""
    marks = [SimpleNamespace(landmark=[SimpleNamespace(x=x, y=0.5, z=0.0)] * 21) for _, x in hands]
    labels = [SimpleNamespace(classification=[SimpleNamespace(label=label, score=0.9)]) for label, _ in hands]
    return SimpleNamespace(multi_hand_landmarks=marks, multi_handedness=labels)


def test_adapter_puts_hands_in_slots_by_the_players_side() -> None:
    hands, scores = hands_from_mediapipe(_result(("Right", 0.2)), 100, 50, mirrored=False)
    assert np.isfinite(hands[0]).all() and np.isnan(hands[1]).all() and hands[0, 0, 0] == pytest.approx(20)
    hands, _ = hands_from_mediapipe(_result(("Right", 0.2)), 100, 50, mirrored=True)
    assert np.isfinite(hands[1]).all()
    hands, _ = hands_from_mediapipe(_result(("Left", 0.8), ("Left", 0.3)), 100, 50, mirrored=False)
    assert hands[0, 0, 0] == pytest.approx(30) and hands[1, 0, 0] == pytest.approx(80)
    assert list(scores) == [pytest.approx(0.9), 0.0]


def test_cli_writes_tracks_with_pose(rendered: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tracks.npz"
    assert main(["landmarks", str(rendered[0]), "-o", str(out), "--pose", "--duration", "0.3"]) == 0
    tracks = LandmarkTracks.load(out)
    assert tracks.pose is not None and tracks.pose.shape == (9, 33, 4)
    assert "wrote" in capsys.readouterr().out
    assert main(["landmarks", str(tmp_path / "none.mp4"), "-o", str(out)]) == 2


def test_gestures_in_a_worker_thread_answer_as_called_directly(rendered: tuple[Path, Path]) -> None:
    frames = list(VideoFileSource(rendered[0], 0.55))
    direct, threaded = GestureControl("osc", (640, 360)), GestureControl("osc", (640, 360))
    try:
        expected = [direct(frame) for frame in frames]
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = [worker.submit(threaded, frame) for frame in frames]
            assert [future.result() for future in pending] == expected
        assert any(expected), "the hands moved the OSC values"
    finally:
        direct.close()
        threaded.close()
