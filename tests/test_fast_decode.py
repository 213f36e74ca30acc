"""The fast frame path (ffmpeg decoding the keyboard's crop) against the OpenCV path, on real encoded video."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.errors import VideoError
from bridge.features import STRIP_SPEC
from bridge.ffmpeg_source import CropBox, CropSource, cropped_geometry, keyboard_crop, whole_frames
from bridge.rectify import Rectifier, StripSpec
from bridge.sources import GreyFrame, VideoFileSource, looped
from bridge.synth import RenderConfig, render_to_files, true_geometry
from bridge.synth.notes_io import read_notes
from bridge.transcribe import TranscribeOptions, transcribe_video
from bridge.types import KeyboardGeometry, Note

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def encode(path: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args, str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, KeyboardGeometry]:
    """A 3 s upright-piano clip of a real performance (tilted camera, hands, noise) and its true calibration."""
    out = tmp_path_factory.mktemp("fast_decode")
    notes, sustain = read_notes(shared_data / "midi" / "miditest" / "5.mid")
    config = RenderConfig(style="upright", seed=5, size=(640, 360), fps=30.0, start=12.0, duration=3.0)
    video = out / "clip.mp4"
    labels = render_to_files(notes, config, video, None, sustain)
    geometry = true_geometry(labels)
    return video, geometry


def _tilted(size: tuple[int, int], corners: list[tuple[float, float]], n_keys: int = 61) -> KeyboardGeometry:
    """A calibration whose keyboard (back-left, back-right, front-right, front-left) lies at ``corners``."""
    layout = Rectifier(KeyboardGeometry.from_homography(size, 36, n_keys, np.eye(3)), StripSpec()).geometry.layout
    plane = np.float32([[0, 0], [layout.width_mm, 0], [layout.width_mm, 150], [0, 150]])
    homography = cv2.getPerspectiveTransform(np.float32(corners), plane).astype(np.float64)
    return KeyboardGeometry.from_homography(size, 36, n_keys, homography)


@pytest.mark.parametrize("corners", [
    [(180.3, 120.7), (1100.1, 90.2), (1180.9, 520.4), (90.6, 560.5)],  # tilted, inside the frame
    [(-40.5, 300.2), (1300.7, 280.9), (1290.3, 450.1), (-30.8, 470.6)],  # wider than the frame
    [(3.0, 1.0), (1277.0, 1.0), (1277.0, 200.0), (3.0, 200.0)],  # against the top edge
])
def test_rectifying_the_crop_gives_exactly_the_strip_of_the_whole_frame(corners: list[tuple[float, float]]) -> None:
    size = (1280, 720)
    geometry = _tilted(size, corners)
    image = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for spec in (STRIP_SPEC, StripSpec()):
        crop = keyboard_crop(geometry, spec)
        assert crop.x % 2 == 0 and crop.y % 2 == 0 and crop.width % 2 == 0 and crop.height % 2 == 0
        assert crop.x + crop.width <= size[0] and crop.y + crop.height <= size[1]
        part = np.ascontiguousarray(image[crop.y:crop.y + crop.height, crop.x:crop.x + crop.width])
        whole = Rectifier(geometry, spec)(image)
        assert np.array_equal(Rectifier(cropped_geometry(geometry, crop), spec)(part), whole)
        grey = Rectifier(geometry, spec)(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))  # grey in, grey strip out
        assert np.abs(grey.astype(int) - cv2.cvtColor(whole, cv2.COLOR_BGR2GRAY)).max() <= 1


def test_a_keyboard_outside_the_frame_is_a_clear_error() -> None:
    geometry = _tilted((640, 360), [(700, 400), (1500, 400), (1500, 500), (700, 500)])
    with pytest.raises(VideoError, match="outside the video frame"):
        keyboard_crop(geometry, STRIP_SPEC)


def test_crop_frames_are_opencvs_pixels_with_opencvs_timestamps(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    crop = keyboard_crop(geometry, STRIP_SPEC)
    assert crop.width * crop.height < 640 * 360 / 2, "the crop should hold the keyboard, not the frame"
    reference = list(VideoFileSource(video))
    fast = list(CropSource(video, crop, pixels="bgr"))
    grey = list(CropSource(video, crop, pixels="grey", threads=1))
    assert len(fast) == len(grey) == len(reference) == 90
    for ours, theirs, luma in zip(fast, reference, grey, strict=True):
        assert (ours.index, ours.t) == (theirs.index, theirs.t) == (luma.index, luma.t)
        part = theirs.image[crop.y:crop.y + crop.height, crop.x:crop.x + crop.width]
        assert np.array_equal(ours.image, part)
        assert isinstance(luma, GreyFrame) and np.array_equal(luma.image[..., 1], luma.grey)
        difference = luma.grey.astype(int) - cv2.cvtColor(part, cv2.COLOR_BGR2GRAY).astype(int)
        assert np.abs(difference).mean() < 1.5 and np.percentile(np.abs(difference), 99) <= 3


def test_whole_frames_carry_exactly_the_grey_of_the_crop_and_opencvs_colour(clip: tuple[Path, KeyboardGeometry],
                                                                           tmp_path: Path) -> None:
    """Live reads whole frames, transcribe the keyboard's crop: both give the model the same grey levels."""
    video, geometry = clip
    crop = keyboard_crop(geometry, STRIP_SPEC)
    whole = list(whole_frames(video, start=1.0, duration=1.0))
    cropped = list(CropSource(video, crop, start=1.0, duration=1.0))
    reference = list(VideoFileSource(video, start=1.0, duration=1.0))
    assert len(whole) == len(cropped) == len(reference) == 30
    for full, part, theirs in zip(whole, cropped, reference, strict=True):
        assert isinstance(full, GreyFrame) and isinstance(part, GreyFrame)
        assert (full.index, full.t) == (part.index, part.t) == (theirs.index, theirs.t)
        assert np.array_equal(full.grey[crop.y:crop.y + crop.height, crop.x:crop.x + crop.width], part.grey)
        colour = full.image.astype(int) - theirs.image.astype(int)
        assert full.image.shape == theirs.image.shape and np.abs(colour).mean() < 2
    # vmb live --video --loop plays them again on one timeline, still with their grey levels
    again = list(looped(whole_frames(video, duration=0.2), passes=2))
    assert len(again) == 12 and all(isinstance(f, GreyFrame) for f in again) and again[6].t == pytest.approx(0.2)
    # ffmpeg's own luma-to-grey conversion is the table's, level for level
    ffmpeg_grey = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-frames:v", "1", "-vf", "format=gray",
                                  "-f", "rawvideo", "-"], capture_output=True, check=True, timeout=60).stdout
    first = next(iter(whole_frames(video)))
    assert isinstance(first, GreyFrame)
    assert np.array_equal(np.frombuffer(ffmpeg_grey, np.uint8).reshape(first.grey.shape), first.grey)


def test_odd_sized_video_is_read_by_opencv_live_and_offline(tmp_path: Path) -> None:
    odd = encode(tmp_path / "odd.mkv", "-f", "lavfi", "-i", "testsrc=size=161x121:rate=10:duration=1",
                 "-c:v", "libx264", "-pix_fmt", "yuv444p")
    assert isinstance(whole_frames(odd), VideoFileSource)
    with pytest.raises(VideoError, match="even"):
        CropSource(odd, CropBox(0, 0, 161, 121), pixels="both")


def test_time_range_and_variable_frame_rate_keep_each_frames_own_time(tmp_path: Path) -> None:
    # Variable frame rate: frames at 0, 0.1, 0.15, 0.4, 0.7, ... (timestamps from setpts), and an audio track.
    times = "if(eq(N,2),N*0.1/TB-0.05/TB,if(eq(N,3),0.4/TB,N*0.1/TB+0.3/TB*gte(N,4)))"
    vfr = encode(tmp_path / "vfr.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3",
                 "-f", "lavfi", "-i", "sine=duration=3", "-vf", f"settb=1/1000,setpts='{times}'",
                 "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "7")
    crop = CropBox(16, 8, 96, 64)
    for start, duration in ((0.0, None), (0.3, 1.0), (1.25, None), (2.0, 0.5)):
        reference = list(VideoFileSource(vfr, start, duration))
        fast = list(CropSource(vfr, crop, start, duration, pixels="bgr"))
        assert [f.t for f in fast] == [f.t for f in reference] and reference
        assert all(np.array_equal(a.image, b.image[8:72, 16:112]) for a, b in zip(fast, reference, strict=True))
    times = np.diff([f.t for f in CropSource(vfr, crop)])
    assert not np.allclose(times, times[0]), "the test video must really be variable-rate"


def _ffmpeg_children() -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        if name == "ffmpeg" and int(rest.split()[1]) == os.getpid():
            children.append(int(stat.parent.name))
    return children


def test_stopping_early_ends_ffmpeg(clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    frames = iter(CropSource(video, keyboard_crop(geometry, STRIP_SPEC)))
    next(frames)
    assert _ffmpeg_children(), "ffmpeg decodes while frames are read"
    frames.close()  # what a consumer that stops (an error, the end of --duration) does
    assert not _ffmpeg_children()


def test_truncated_video_keeps_what_decodes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    whole = encode(tmp_path / "whole.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10")
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    source = CropSource(cut, CropBox(0, 100, 320, 60))
    with caplog.at_level(logging.WARNING):
        frames = list(source)
    assert 10 < len(frames) < 100 and source.truncated
    assert "kept what decoded" in caplog.text
    assert [f.t for f in frames] == [f.t for f in VideoFileSource(cut)][: len(frames)]


def test_corrupt_data_in_the_middle_is_reported_and_the_rest_kept(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    whole = encode(tmp_path / "whole.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10")
    data = bytearray(whole.read_bytes())
    middle = len(data) // 3
    data[middle:middle + 3000] = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    corrupt = tmp_path / "corrupt.mkv"
    corrupt.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        frames = list(CropSource(corrupt, CropBox(0, 0, 320, 240)))
    assert "errors in the data" in caplog.text and "kept what decoded" in caplog.text
    assert frames[-1].t > 3.5, "decoding goes on after the damage"
    assert [f.t for f in frames] == pytest.approx([f.t for f in VideoFileSource(corrupt)], abs=1e-9)


def test_not_a_video_and_a_crop_outside_the_frame_are_clear_errors(tmp_path: Path,
                                                                   clip: tuple[Path, KeyboardGeometry]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all\n" * 50)
    with pytest.raises(VideoError, match="video"):
        CropSource(junk, CropBox(0, 0, 16, 16))
    with pytest.raises(VideoError, match="does not fit"):
        CropSource(clip[0], CropBox(600, 0, 64, 16))
    with pytest.raises(VideoError, match="empty"):
        CropBox(0, 0, 0, 16)


def _matched(a: list[Note], b: list[Note]) -> list[tuple[Note, Note]]:
    by_onset = {(n.pitch, round(n.start, 6)): n for n in b}
    return [(n, by_onset[(n.pitch, round(n.start, 6))]) for n in a if (n.pitch, round(n.start, 6)) in by_onset]


def test_luma_paths_transcribe_the_same_notes_and_near_the_opencv_path(clip: tuple[Path, KeyboardGeometry],
                                                                       tmp_path: Path) -> None:
    video, geometry = clip
    crop = transcribe_video(video, geometry, TranscribeOptions(method="keys", reader="ffmpeg")).notes
    # the preview reads whole frames (as vmb live --video does): the same notes as the keyboard's crop
    whole = transcribe_video(video, geometry, TranscribeOptions(method="keys", reader="ffmpeg"),
                             preview=tmp_path / "preview.mp4").notes
    assert len(crop) >= 5 and whole == crop
    # OpenCV's BGR is within a grey level or two of the luma: the documented tolerance is the same onsets
    # (pitch and frame) for at least 95% of the notes and velocities within 3.
    opencv = transcribe_video(video, geometry, TranscribeOptions(method="keys", reader="opencv")).notes
    matched = _matched(opencv, crop)
    assert len(matched) >= 0.95 * max(len(crop), len(opencv))
    assert all(abs(a.velocity - b.velocity) <= 3 for a, b in matched)


def test_without_ffmpeg_transcription_reads_frames_with_opencv(clip: tuple[Path, KeyboardGeometry], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    video, geometry = clip
    monkeypatch.setenv("PATH", str(tmp_path))  # a real PATH without ffmpeg on it
    with caplog.at_level(logging.INFO, logger="bridge.transcribe"):
        result = transcribe_video(video, geometry, TranscribeOptions(method="keys", duration=1.0))
    assert "frame reader: opencv (auto)" in caplog.text
    assert result.n_frames == 30
