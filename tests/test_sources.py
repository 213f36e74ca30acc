from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import InputFileError, VideoError
from bridge.sources import CameraSource, Pacer, ReplaySource, VideoFileSource, looped, paced, probe
from bridge.types import Frame, Note


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


def test_a_start_inside_variable_rate_video_keeps_every_frame_from_there(tmp_path: Path) -> None:
    # OpenCV seeks by frame numbers from the nominal rate, which lands too late here: the source seeks back.
    vfr = encode(tmp_path / "vfr.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3",
                 "-vf", "settb=1/1000,setpts='N*0.1/TB+0.3/TB*gte(N,4)'", "-fps_mode", "vfr",
                 "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "7")
    truth = [0.0, 0.1, 0.2, 0.3] + [round(n * 0.1 + 0.3, 6) for n in range(4, 30)]
    for start, duration in ((1.25, None), (2.05, 0.5), (0.5, 0.3)):
        times = [round(f.t, 6) for f in VideoFileSource(vfr, start, duration)]
        end = start + duration if duration is not None else 99.0
        assert times == [t for t in truth if start <= t < end]


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


def test_looped_source_plays_again_on_one_continuous_timeline(videos: Path) -> None:
    frames = list(looped(VideoFileSource(videos / "cfr25.mp4", start=0.0, duration=0.4), passes=3))
    assert len(frames) == 30
    assert np.allclose([f.t for f in frames], np.arange(30) / 25, atol=1e-3)
    assert [f.index for f in frames] == list(range(30))


def test_realtime_pacing_delivers_frames_at_their_own_times_and_pauses(videos: Path) -> None:
    pacer = Pacer()
    arrivals: list[tuple[float, float]] = []
    start = time.monotonic()
    for frame in paced(VideoFileSource(videos / "cfr25.mp4", duration=0.6), pacer):
        arrivals.append((frame.t, time.monotonic() - start))
        if frame.index == 5:
            pacer.pause()
            threading.Timer(0.3, pacer.resume).start()
    assert len(arrivals) == 15
    assert all(wall >= t - 0.01 for t, wall in arrivals), "no frame may come before its time"
    last_t, last_wall = arrivals[-1]
    assert last_wall >= last_t + 0.29, "the pause holds the video"


def test_camera_source_newest_frame_wins_and_a_lost_camera_is_reported(tmp_path: Path) -> None:
    # A stream that ends stands in for an unplugged camera: OpenCV opens both through the same API.
    clip = encode(tmp_path / "camera.mkv", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1",
                  "-c:v", "libx264", "-pix_fmt", "yuv420p")
    stalls: list[str] = []
    camera = CameraSource(str(clip), stall_s=0.3, retry_s=0.2, on_stall=stalls.append)
    try:
        delivered = []
        for frame in camera:
            delivered.append(frame)
            time.sleep(0.05)  # a slow consumer: the reader keeps only the newest frame
            if len(delivered) >= 3:
                break
        deadline = time.monotonic() + 10
        while not stalls and time.monotonic() < deadline:
            time.sleep(0.05)
        clip.unlink()  # the camera stays away: retries go on, the source stays up
        time.sleep(0.5)
    finally:
        camera.close()
    assert camera.dropped > 0 and delivered[0].index < delivered[1].index < delivered[2].index
    assert stalls and "stopped delivering frames" in stalls[0]
    with pytest.raises(VideoError, match="cannot open camera"):
        CameraSource(str(tmp_path / "no-such-camera.mkv"))


def test_replay_source_groups_edges_by_time_and_loops() -> None:
    notes = [Note(0.0, 0.5, 60), Note(0.0, 0.25, 64), Note(0.25, 0.5, 67)]
    steps = ReplaySource(notes, loop=True, period=1.0).steps(0.0, threading.Event())
    first = [next(steps) for _ in range(6)]
    assert [s.t for s in first] == [0.0, 0.25, 0.5, 1.0, 1.25, 1.5]
    assert [len(s.edges) for s in first] == [2, 2, 2, 2, 2, 2]
    assert [e.t for e in first[3].edges] == [1.0, 1.0]
    with pytest.raises(InputFileError, match="no notes"):
        ReplaySource([])


def test_camera_showing_a_frozen_picture_is_reported(tmp_path: Path) -> None:
    # A long still clip (10 min: a quiet machine decodes 30 s of it in a fraction of stall_s), so the camera
    # thread is still delivering identical frames when the frozen picture is due.
    still = encode(tmp_path / "still.mkv", "-f", "lavfi", "-i", "color=c=gray:size=160x120:rate=25:duration=600",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p")
    stalls: list[str] = []
    camera = CameraSource(str(still), stall_s=0.1, retry_s=5.0, on_stall=stalls.append)
    deadline = time.monotonic() + 10
    try:
        for _ in camera:
            time.sleep(0.02)
            if any("frozen" in s for s in stalls) or time.monotonic() > deadline:
                break
    finally:
        camera.close()
    assert any("frozen picture" in s for s in stalls), stalls


def test_prefetched_keeps_order_passes_errors_and_stops_early() -> None:
    from bridge.sources import prefetched

    frames = [Frame(i, i / 30, np.zeros((2, 2, 3), np.uint8)) for i in range(100)]
    assert [f.index for f in prefetched(frames, depth=4)] == list(range(100))

    def failing() -> Iterator[Frame]:
        yield frames[0]
        raise VideoError("the stream broke")

    with pytest.raises(VideoError, match="broke"):
        list(prefetched(failing()))
    read: list[int] = []

    def counted() -> Iterator[Frame]:
        for frame in frames:
            read.append(frame.index)
            yield frame

    stream = prefetched(counted(), depth=2)
    assert next(stream).index == 0
    stream.close()
    assert len(read) < 10, "the reader stops once the consumer has gone"
