"""Falling notes from only the reference frames: the reader's frames and times, the tracker on sparse, irregular
frames, and the automatic choice (bridge.falling_source, bridge.falling_tracker)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from bridge.cli import main
from bridge.errors import VmbError
from bridge.falling import transcribe_falling
from bridge.falling_source import choose_frames, falling_frames, falling_view, skip_frame
from bridge.ffmpeg_source import CropSource, has_b_frames
from bridge.midi import read_midi
from bridge.sources import PlanarFrame
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.types import Frame, KeyboardGeometry, Note

FPS = 60
LEAD_IN = [Note(0.5 + 0.2 * i, 0.7 + 0.2 * i, pitch, 80) for i, pitch in enumerate((50, 55, 59, 62, 57, 53))]
LEGATO = [Note(2.0 + 0.08 * i, 2.08 + 0.08 * i, 64, 90) for i in range(6)]  # touching bars: only their outline
DETACHED = [Note(2.1 + 0.08 * i, 2.16 + 0.08 * i, 71, 90) for i in range(6)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyboardGeometry]:
    """A 720p60 synthesia clip with B frames (x264) and legato and detached repeats 80 ms apart."""
    video = tmp_path_factory.mktemp("frames") / "repeats.mp4"
    config = RenderConfig(style="synthesia", seed=7, size=(1280, 720), fps=FPS, duration=2.9)
    labels = render_to_files(LEAD_IN + LEGATO + DETACHED, config, video, None)
    return video, true_geometry(labels)


def _read(video: Path, geometry: KeyboardGeometry, frames: str) -> list[Frame]:
    source = falling_frames(video, falling_view(geometry), skip_frame=skip_frame(frames))
    read = list(source)
    assert not source.truncated  # fewer frames than the container counts, as asked
    return read


def test_reference_frames_are_a_subset_of_every_frame_with_their_times_and_pixels(
        clip: tuple[Path, KeyboardGeometry]) -> None:
    video, geometry = clip
    every = {frame.t: frame for frame in CropSource(video, falling_view(geometry).crop, pixels="i420")}
    counts = {}
    for frames in ("reference", "ip"):
        kept = _read(video, geometry, frames)
        counts[frames] = len(kept)
        times = [frame.t for frame in kept]
        assert times == sorted(times) and set(times) <= set(every)
        for frame in kept:
            assert isinstance(frame, PlanarFrame)  # skipped frames: the speed path reads the planes
            assert frame.index == every[frame.t].index == round(frame.t * FPS)
            if frames == "reference":  # never predicted from a skipped frame: the very pixels
                assert np.array_equal(frame.planes, cast(PlanarFrame, every[frame.t]).planes)
        assert np.diff(times).max() <= 4.5 / FPS  # x264 puts at most 3 B frames between two others
    assert len(every) > counts["reference"] > counts["ip"] > len(every) / 5


def test_sparse_irregular_frames_find_legato_and_detached_repeats(clip: tuple[Path, KeyboardGeometry]) -> None:
    """Every frame is read, then only frames 1 to 4 frames apart are given to the tracker (as I and P frames come):
    each strike of both runs is found within 30 ms, and its end within 50 ms; no note is found that was not played."""
    video, geometry = clip
    view = falling_view(geometry)
    every = _read(video, geometry, "all")
    steps = itertools.cycle((4, 3, 1, 4, 2, 4))
    index, sparse = 0, []
    while index < len(every):
        sparse.append(every[index])
        index += next(steps)
    found = transcribe_falling(sparse, geometry, points=view.points, frame_interval=1 / FPS).notes
    for run in (LEGATO, DETACHED):
        on_key = [e for e in found if e.pitch == run[0].pitch]
        assert len(on_key) == len(run)
        assert all(abs(e.start - n.start) <= 0.03 for e, n in zip(on_key, run, strict=True))
        assert all(abs(e.end - n.end) <= 0.05 for e, n in zip(on_key, run, strict=True))
    played = LEAD_IN + LEGATO + DETACHED
    assert all(any(n.pitch == e.pitch and abs(n.start - e.start) <= 0.03 for n in played) for e in found)


def test_auto_reads_i_and_p_frames_only_of_fast_large_videos_with_b_frames(clip: tuple[Path, KeyboardGeometry],
                                                                           tmp_path: Path) -> None:
    video, _ = clip
    assert has_b_frames(video) and choose_frames(video) == "all"  # 720p60: every frame is cheap enough
    assert choose_frames(video, "reference") == "reference" and choose_frames(video, "ip") == "ip"
    large, intra_only, slow = tmp_path / "large.mp4", tmp_path / "no_b.mp4", tmp_path / "slow.mp4"
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    for out, options in ((large, ["-vf", "scale=1920:1080"]), (intra_only, ["-vf", "scale=1920:1080", "-bf", "0"]),
                         (slow, ["-vf", "scale=1920:1080", "-r", "30"])):
        subprocess.run([ffmpeg, "-v", "error", "-i", str(video), "-t", "0.5", *options, "-c:v", "libx264",
                        "-preset", "ultrafast" if out == intra_only else "veryfast", str(out)], check=True)
    assert has_b_frames(large) and choose_frames(large) == "ip"
    assert not has_b_frames(intra_only) and choose_frames(intra_only) == "all"
    assert has_b_frames(slow) and choose_frames(slow) == "all"
    with pytest.raises(VmbError, match="use one of"):
        choose_frames(video, "odd")


def test_transcribe_frames_flag(clip: tuple[Path, KeyboardGeometry], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    video, geometry = clip
    calibration = tmp_path / "calibration.json"
    geometry.save(calibration)
    common = ["transcribe", str(video), "--calibration", str(calibration), "--method", "falling"]
    assert main([*common, "-o", str(tmp_path / "ip.mid"), "--frames", "ip"]) == 0
    notes = read_midi(tmp_path / "ip.mid").notes
    assert sum(n.pitch == 64 for n in notes) == len(LEGATO)
    capsys.readouterr()
    code = main([*common, "-o", str(tmp_path / "x.mid"), "--frames", "reference", "--reader", "opencv"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and "--frames reference needs the ffmpeg reader" in error
    assert not (tmp_path / "x.mid").exists()
