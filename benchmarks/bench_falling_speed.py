"""Falling-notes transcription speed: OpenCV's whole frames against ffmpeg's stacked stripes, in one run.

``vmb transcribe --method falling`` end to end (``transcribe_video``) on rendered synthesia clips, each reader
timed twice (best wall time kept), then where the stripes path spends its time: ffmpeg's decoding alone, ffmpeg
with the stripes filter and the pipe (its CPU time per frame), and in this process the reading, the sampling and
the tracker (CPU time per frame over frames already read).
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bridge.falling import FallingSettings
from bridge.falling_source import falling_frames, falling_view
from bridge.falling_tracker import Tracker
from bridge.midi import read_midi
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.transcribe import TranscribeOptions, Transcription, transcribe_video
from bridge.types import KeyboardGeometry

TITLE = "Falling-notes transcription speed (OpenCV whole frames vs ffmpeg stripes)"
MIDI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "miditest" / "10.mid"
SECONDS = 10.0
FORMATS = ((1920, 1080, 60), (1280, 720, 30))
REPEATS = 2


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _render(workdir: Path, size: tuple[int, int], fps: int) -> tuple[Path, KeyboardGeometry]:
    video = workdir / f"synthesia_{size[1]}p{fps}.mp4"
    config = RenderConfig(style="synthesia", seed=3, size=size, fps=fps, start=0.0, duration=SECONDS)
    labels = render_to_files(read_midi(MIDI).notes, config, video, None)
    return video, true_geometry(labels)


def _best_of(video: Path, geometry: KeyboardGeometry, reader: str) -> tuple[float, float, Transcription]:
    """The shortest wall time of REPEATS transcriptions with ``reader``, the CPU time of this process and its
    children (ffmpeg) of that run, and the transcription."""
    options = TranscribeOptions(method="falling", reader=reader)
    runs = []
    for _ in range(REPEATS):
        t0, c0, k0 = time.perf_counter(), time.process_time(), _child_cpu()
        result = transcribe_video(video, geometry, options)
        runs.append((time.perf_counter() - t0, time.process_time() - c0 + _child_cpu() - k0))
    wall, cpu = min(runs)
    return wall, cpu, result


def _end_to_end(video: Path, geometry: KeyboardGeometry, fps: int) -> list[str]:
    size = f"{geometry.image_size[0]}x{geometry.image_size[1]}@{fps}"
    old_wall, old_cpu, old = _best_of(video, geometry, "opencv")
    new_wall, new_cpu, new = _best_of(video, geometry, "ffmpeg")
    same = "identical" if (old.notes, old.n_frames) == (new.notes, new.n_frames) else "**differ**"
    return [_row(size, "OpenCV whole frames (before)", old, old_wall, old_cpu, fps) + " |",
            _row(size, "ffmpeg stripes (now)", new, new_wall, new_cpu, fps) + f" {same} |"]


def _row(size: str, reader: str, result: Transcription, wall: float, cpu: float, fps: int) -> str:
    rate = result.n_frames / wall
    return (f"| {size} | {reader} | {rate:.0f} | {rate / fps:.1f} | {1000 * cpu / result.n_frames:.1f} | "
            f"{len(result.notes)} |")


def _ffmpeg_cpu_ms(video: Path, input_options: list[str], n_frames: int) -> float:
    """ffmpeg's CPU time decoding ``video`` to nothing, per frame of the video."""
    before = _child_cpu()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *input_options, "-i", str(video), "-f", "null", "-"],
                   check=True)
    return 1000 * (_child_cpu() - before) / n_frames


def _frame_types(video: Path) -> str:
    """How many frames of each picture type (I, P, B) the video holds, as ``I 2, P 101, B 197``."""
    listing = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pict_type",
                              "-of", "csv=p=0", str(video)], check=True, capture_output=True, text=True).stdout
    kinds = [line.split(",")[0] for line in listing.split()]
    return ", ".join(f"{kind} {kinds.count(kind)}" for kind in ("I", "P", "B"))


def _stages(video: Path, geometry: KeyboardGeometry) -> list[str]:
    view = falling_view(geometry)
    source = falling_frames(video, view)
    c0, k0 = time.process_time(), _child_cpu()
    frames = list(source)
    read_ms, piped_ms = (1000 * (time.process_time() - c0) / len(frames), 1000 * (_child_cpu() - k0) / len(frames))
    decode_ms = _ffmpeg_cpu_ms(video, [], len(frames))
    # what a method reading only the frames other frames are predicted from (I and P) would pay for decoding
    reference_ms = _ffmpeg_cpu_ms(video, ["-skip_frame", "bidir"], len(frames))
    reference_fast_ms = _ffmpeg_cpu_ms(video, ["-skip_frame", "bidir", "-skip_loop_filter", "all"], len(frames))
    c0 = time.process_time()
    samples = [view.points.read(f.image) for f in frames]
    sample_ms = 1000 * (time.process_time() - c0) / len(frames)
    tracker = Tracker(view.points, FallingSettings())
    c0 = time.process_time()
    for frame, sample in zip(frames, samples, strict=True):
        tracker.push(frame.t, sample)
    tracker.close()
    track_ms = 1000 * (time.process_time() - c0) / len(frames)
    return [f"Where the time goes ({geometry.image_size[0]}x{geometry.image_size[1]}, stripes of "
            f"{view.crop.width}x{view.crop.height} pixels in {len(view.crop.stripes)} cuts), CPU ms per frame:", "",
            "| stage | process | CPU ms/frame |", "|---|---|---|",
            f"| decoding (H.264, ffmpeg -f null) | ffmpeg | {decode_ms:.2f} |",
            f"| decoding only the I and P frames (`-skip_frame bidir`), per frame of the video | ffmpeg | "
            f"{reference_ms:.2f} |",
            f"| the same without deblocking (`-skip_loop_filter all`) | ffmpeg | {reference_fast_ms:.2f} |",
            f"| decoding + stripes + BGR + pipe | ffmpeg | {piped_ms:.2f} |",
            f"| reading the pipe (frames and timestamps) | python | {read_ms:.2f} |",
            f"| sampling (SamplePoints.read) | python | {sample_ms:.2f} |",
            f"| tracker (Tracker.push) | python | {track_ms:.2f} |", "",
            f"Frame types of this clip (x264 `veryfast`): {_frame_types(video)}. 10x real time at 1080p60 is 600 "
            "frames/s, 3.3 ms of CPU per frame on 2 cores: decoding every frame alone takes more; decoding only the I "
            "and P frames would leave room, for a method that reads note times from where the bars are."]


def run(workdir: Path) -> list[str]:
    clips = [(_render(workdir, (width, height), fps), fps) for width, height, fps in FORMATS]
    load_before = _load()
    lines = [f"`vmb transcribe --method falling` end to end on {SECONDS:.0f} s synthesia renders of miditest 10.mid "
             f"(ground-truth calibration), best of {REPEATS} runs, {os.cpu_count()} cores; ffmpeg decodes with its "
             "own threads, in parallel with the method. Load average (1, 5, 15 min) before: " + load_before + ".", "",
             "| format | reader | frames/s | x real time | CPU ms/frame (all processes) | notes | notes of the two |",
             "|---|---|---|---|---|---|---|"]
    for (video, geometry), fps in clips:
        lines += _end_to_end(video, geometry, fps)
    lines += ["", f"Load average after: {_load()}.", ""]
    lines += _stages(*clips[0][0])
    return lines


def main() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return run(Path(tmp))
