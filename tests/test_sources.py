from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import VideoError
from bridge.sources import VideoFileSource, probe


def encode(path: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args, str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    encode(folder / "cfr25.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p")
    # Variable frame rate: frames at 0, 0.1, 0.15, 0.4, ... (timestamps from setpts).
    encode(folder / "vfr.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
           "-vf", "settb=1/1000,setpts='if(eq(N,2),N*0.1/TB-0.05/TB,if(eq(N,3),0.4/TB,N*0.1/TB+0.3/TB*gte(N,4)))'",
           "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    return folder


def test_every_frame_with_its_timestamp(videos: Path) -> None:
    info = probe(videos / "cfr25.mp4")
    assert (info.width, info.height, info.n_frames) == (320, 240, 50) and info.fps == pytest.approx(25)
    frames = list(VideoFileSource(videos / "cfr25.mp4"))
    assert len(frames) == 50
    assert np.allclose([f.t for f in frames], np.arange(50) / 25, atol=1e-3)
    assert frames[0].image.shape == (240, 320, 3)


def test_time_range_selects_frames(videos: Path) -> None:
    frames = list(VideoFileSource(videos / "cfr25.mp4", start=0.4, duration=0.4))
    assert [round(f.t * 25) for f in frames] == list(range(10, 20))


def test_variable_frame_rate_uses_each_frames_own_time(videos: Path) -> None:
    times = [f.t for f in VideoFileSource(videos / "vfr.mkv")]
    probe_out = subprocess.run(["ffprobe", "-loglevel", "error", "-select_streams", "v", "-show_entries",
                                "frame=pts_time", "-of", "csv=p=0", str(videos / "vfr.mkv")],
                               capture_output=True, text=True, check=True).stdout
    truth = [float(line.split(",")[0]) for line in probe_out.split() if line.strip(", ")]
    assert len(times) == len(truth) and times == pytest.approx(truth, abs=2e-3)
    assert not np.allclose(np.diff(times), np.diff(times)[0]), "the test video must really be variable-rate"


def test_truncated_video_keeps_what_decodes(videos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = encode(tmp_path / "whole.mkv", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10")
    data = source.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    reader = VideoFileSource(cut)
    frames = list(reader)
    assert 10 < len(frames) < 100
    assert reader.truncated and "kept what decoded" in caplog.text


@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 50])
def test_not_a_video_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match="video"):
        probe(path)
    with pytest.raises(VideoError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
