"""`vmb transcribe` end to end on real encoded video rendered from real performances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from bridge.decoding import notes_from_edges
from bridge.ffmpeg_source import whole_frames
from bridge.midi import read_midi
from bridge.pipeline import edge_stream
from bridge.scoring import score
from bridge.sources import VideoFileSource
from bridge.synth import RenderConfig, render_to_files, true_geometry
from bridge.synth.notes_io import read_notes
from bridge.transcribe import TranscribeOptions, transcribe_video
from bridge.types import KeyboardGeometry, Note

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path, list[Note], Path]:
    """A 6 s grand-piano clip of a real performance, its calibration and its true notes."""
    out = tmp_path_factory.mktemp("transcribe")
    notes, sustain = read_notes(shared_data / "midi" / "miditest" / "21.mid")
    config = RenderConfig(style="grand", seed=11, size=(640, 360), fps=30.0, start=20.0, duration=6.0)
    video = out / "clip.mp4"
    labels = render_to_files(notes, config, video, None, sustain)
    calibration = out / "clip.json"
    true_geometry(labels).save(calibration)
    truth = [Note(n.start - 20.0, n.end - 20.0, n.pitch, n.velocity) for n in notes
             if 20.0 <= n.start < 26.0 - 0.1]
    return video, calibration, truth, out


def test_transcribes_a_rendered_performance(clip: tuple[Path, Path, list[Note], Path]) -> None:
    video, calibration, truth, out = clip
    midi, csv, preview = out / "t.mid", out / "t.csv", out / "t.mp4"
    code = main(["transcribe", str(video), "-o", str(midi), "--calibration", str(calibration), "--notes", str(csv),
                 "--preview", str(preview), "--roll", str(out / "roll.npz"), "--method", "keys"])
    assert code == 0
    found = read_midi(midi).notes
    result = score(truth, [n for n in found if n.start < 5.9], fps=30.0)
    assert result.onset_50ms.f1 >= 0.8, result
    assert VideoFileSource(preview).info.n_frames == VideoFileSource(video).info.n_frames
    assert np.load(out / "roll.npz")["frame"].shape[1] == 88


def test_offline_equals_live(clip: tuple[Path, Path, list[Note], Path]) -> None:
    """The batched offline run (the keyboard's crop) and the frame-by-frame live loop (whole frames, as vmb live
    --video reads them) send the same notes, except the notes already sounding at the first frame, which only
    offline can write (live would know them only at their end); with OpenCV's frames on both sides too."""
    video, calibration, _, _ = clip
    geometry = KeyboardGeometry.load(calibration)
    first_t = next(iter(whole_frames(video))).t
    offline = transcribe_video(video, geometry, TranscribeOptions(method="keys", batch_size=7)).notes
    edges = [e for _, frame_edges in edge_stream(whole_frames(video), geometry) for e in frame_edges]
    _assert_live_is_offline_without_initial_notes(notes_from_edges(edges), offline, first_t)
    opencv = transcribe_video(video, geometry, TranscribeOptions(method="keys", reader="opencv")).notes
    edges = [e for _, frame_edges in edge_stream(VideoFileSource(video), geometry) for e in frame_edges]
    _assert_live_is_offline_without_initial_notes(notes_from_edges(edges), opencv, first_t)


def _assert_live_is_offline_without_initial_notes(live: list[Note], offline: list[Note], first_t: float) -> None:
    initial = [n for n in offline if n.start == first_t]
    assert [n for n in offline if n.start != first_t] == live
    assert len(live) >= 5 and len(initial) <= 3


def test_truncated_video_keeps_what_decoded(clip: tuple[Path, Path, list[Note], Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    video, calibration, _, out = clip
    broken = out / "broken.mp4"
    data = video.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    midi = out / "broken.mid"
    code = main(["transcribe", str(broken), "-o", str(midi), "--calibration", str(calibration), "--method", "keys"])
    assert code == 0
    assert midi.exists()


def test_missing_video_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["transcribe", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "x.mid")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err


def test_calibration_for_another_size_is_rejected(clip: tuple[Path, Path, list[Note], Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    video, calibration, _, _ = clip
    geometry = KeyboardGeometry.load(calibration)
    other = KeyboardGeometry.from_homography((1280, 720), geometry.lowest_pitch, geometry.n_keys,
                                             geometry.homography)
    path = tmp_path / "other.json"
    other.save(path)
    code = main(["transcribe", str(video), "-o", str(tmp_path / "x.mid"), "--calibration", str(path)])
    assert code == 2
    assert "recalibrate" in capsys.readouterr().err
