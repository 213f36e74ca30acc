"""The falling-notes method fed from ffmpeg's stacked stripes: the very pixels and notes of whole frames (BGR), or
the whole frames' planes and the same notes to a fraction of a millisecond (I420, when frames are skipped)."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.cli import main
from bridge.falling import FallingResult, transcribe_falling
from bridge.falling_sampling import SamplePoints
from bridge.falling_source import MAX_STRIPES, _stripes, falling_frames, falling_view
from bridge.ffmpeg_source import CropBox, CropSource
from bridge.midi import read_midi
from bridge.sources import PlanarFrame, VideoFileSource
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.transcribe import TranscribeOptions, transcribe_video
from bridge.types import KeyboardGeometry, Note


def _excerpt(shared: Path, start: float, seconds: float) -> list[Note]:
    notes = read_midi(shared / "midi" / "miditest" / "10.mid").notes
    return [Note(n.start - start + 0.6, min(n.end, start + seconds) - start + 0.6, n.pitch, n.velocity)
            for n in notes if start <= n.start < start + seconds - 0.3]


@pytest.fixture(scope="module", params=["synthesia", "hybrid"])
def clip(request: pytest.FixtureRequest, shared_data: Path,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyboardGeometry]:
    style = str(request.param)
    notes = _excerpt(shared_data, 4.0, 2.5)
    video = tmp_path_factory.mktemp(style) / "v.mp4"
    config = RenderConfig(style=style, seed=3, size=(640, 360), fps=30, duration=max(n.end for n in notes) + 0.3)
    labels = render_to_files(notes, config, video, None)
    return video, true_geometry(labels)


def test_stripes_hold_every_sample_point_with_opencvs_pixels(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    view = falling_view(geometry)
    width, height = geometry.image_size
    assert view.crop.width * view.crop.height < width * height / 3  # (the band: 30% of the way to the top at 360p)
    whole = SamplePoints.from_geometry(geometry)
    assert view.points.pitches == whole.pitches and view.points.n_rows == whole.n_rows
    pairs = list(zip(VideoFileSource(video), falling_frames(video, view), strict=True))
    assert len(pairs) > 60
    for frame, stripes in pairs:
        assert (stripes.index, stripes.t) == (frame.index, frame.t)
        ours, theirs = view.points.read(stripes.image), whole.read(frame.image)
        assert np.array_equal(ours.keys, theirs.keys) and np.array_equal(ours.band, theirs.band)
        assert np.array_equal(ours.keys_back, theirs.keys_back)
        assert ours.contrast == theirs.contrast


def test_transcription_from_stripes_equals_whole_frames(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    whole = transcribe_falling(VideoFileSource(video), geometry)
    view = falling_view(geometry)
    assert len(whole.notes) >= 5
    assert transcribe_falling(falling_frames(video, view), geometry, points=view.points) == whole
    fast = transcribe_video(video, geometry, TranscribeOptions(method="falling", reader="ffmpeg", decode_threads=2))
    slow = transcribe_video(video, geometry, TranscribeOptions(method="falling", reader="opencv"))
    assert (fast.notes, fast.part_colours, fast.n_frames) == (slow.notes, slow.part_colours, slow.n_frames)
    assert fast.notes == whole.notes


def test_planar_stripes_hold_every_sample_point_with_the_frames_pixels(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    view, whole = falling_view(geometry), SamplePoints.from_geometry(geometry)
    width, height = geometry.image_size
    whole_planes = CropSource(video, CropBox(0, 0, width, height), pixels="i420")
    stripes_planes = CropSource(video, view.crop, pixels="i420")
    pairs = list(zip(VideoFileSource(video), whole_planes, stripes_planes, strict=True))
    assert len(pairs) > 60
    differences = []
    for frame, planar, stripes in pairs:
        assert isinstance(stripes, PlanarFrame) and isinstance(planar, PlanarFrame)
        assert (stripes.index, stripes.t) == (frame.index, frame.t) == (planar.index, planar.t)
        for ours, theirs in zip(view.points.planes, whole.planes, strict=True):
            # the very samples of the whole frame's planes, converted as OpenCV converts I420
            assert np.array_equal(ours.bgr(stripes.planes), theirs.bgr(planar.planes))
        converted = cv2.cvtColor(planar.planes, cv2.COLOR_YUV2BGR_I420).reshape(-1, 3)
        assert np.array_equal(whole.planes[1].bgr(planar.planes), np.take(converted, whole.band_index, axis=0))
        # OpenCV's video reader converts through ffmpeg's swscale, which rounds differently
        pixels = frame.image.reshape(-1, 3)
        differences.append(np.abs(view.points.planes[0].bgr(stripes.planes).astype(int)
                                  - np.take(pixels, whole.key_index, axis=0)))
    assert np.mean(differences) < 2.0 and np.max(differences) <= 12


def _same_notes(ours: FallingResult, theirs: FallingResult) -> bool:
    """The same notes, onsets and ends to a third of a frame at 30 fps, and part colours within a few levels: the
    planes' pixels differ from OpenCV's by a level or two, which moves a front's sightings by a fraction of a row (and
    may change which of its last sightings' predictions is the median)."""
    if len(ours.notes) != len(theirs.notes) or len(ours.part_colours) != len(theirs.part_colours):
        return False
    close = all((a.pitch, a.channel) == (b.pitch, b.channel) and abs(a.start - b.start) < 0.0111
                and abs(a.end - b.end) < 0.0111 for a, b in zip(ours.notes, theirs.notes, strict=True))
    colours = np.abs(np.subtract(ours.part_colours, theirs.part_colours)).max(initial=0) <= 4
    return close and bool(colours)


def test_transcription_from_planar_stripes_equals_bgr_stripes(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    view = falling_view(geometry)
    planar = falling_frames(video, view, skip_frame="bidir")
    assert planar.pixels == "i420" and falling_frames(video, view).pixels == "bgr"
    bgr = CropSource(video, view.crop, pixels="bgr", skip_frame="bidir")
    ours = transcribe_falling(planar, geometry, points=view.points, frame_interval=1 / 30)
    theirs = transcribe_falling(bgr, geometry, points=view.points, frame_interval=1 / 30)
    assert len(theirs.notes) >= 5 and _same_notes(ours, theirs)


def test_a_time_range_reads_the_same_frames(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    view = falling_view(geometry)
    ours = [(f.index, f.t) for f in falling_frames(video, view, start=1.0, duration=1.0)]
    assert ours == [(f.index, f.t) for f in VideoFileSource(video, 1.0, 1.0)]
    assert len(ours) == 30


@given(st.sets(st.integers(0, 539), min_size=1, max_size=200))
def test_stripes_are_even_sorted_and_cover_every_sampled_row(rows: set[int]) -> None:
    stripes = _stripes(np.unique(np.array(sorted(rows)) // 2), 540)
    assert 1 <= len(stripes) <= MAX_STRIPES
    assert all(top % 2 == 0 and height % 2 == 0 and height > 0 for top, height in stripes)
    assert all(a + h < b for (a, h), (b, _) in itertools.pairwise(stripes))
    assert all(any(top <= row < top + height for top, height in stripes) for row in rows)


def test_a_file_that_is_not_a_video_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        clip: tuple[Path, KeyboardGeometry]) -> None:
    _, geometry = clip
    fake, calibration = tmp_path / "fake.mp4", tmp_path / "calibration.json"
    fake.write_bytes(b"not a video at all" * 100)
    geometry.save(calibration)
    code = main(["transcribe", str(fake), "-o", str(tmp_path / "x.mid"), "--method", "falling",
                 "--calibration", str(calibration)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and "transcribe: error:" in error
    assert not (tmp_path / "x.mid").exists()
