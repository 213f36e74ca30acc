"""Falling-notes transcription speed: OpenCV's whole frames against ffmpeg's stacked stripes of every frame or of
only the reference frames, in one run; then a minute of 1080p60 read by one process or by time segments side by
side, and the whole ``vmb transcribe`` command (with its calibration) on it.

``vmb transcribe --method falling`` end to end (``transcribe_video``) on rendered synthesia clips, each reader
timed twice (best wall time kept), with the onset F1 of its notes; then where the stripes path spends its time:
ffmpeg's decoding alone (all, reference or I and P frames), ffmpeg with the stripes filter and the pipe (its CPU
time per frame), and in this process the reading, the sampling and the tracker (CPU time per frame of the video).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bridge.falling import FallingSettings
from bridge.falling_source import MIN_REFERENCE_FPS, falling_frames, falling_view, skip_frame
from bridge.falling_tracker import Tracker
from bridge.midi import read_midi
from bridge.scoring import score
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.transcribe import TranscribeOptions, Transcription, transcribe_video
from bridge.types import Frame, KeyboardGeometry, Note

TITLE = "Falling-notes transcription speed (OpenCV whole frames vs ffmpeg stripes)"
MIDI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "miditest" / "10.mid"
SECONDS = 10.0
LONG_SECONDS = float(os.environ.get("VMB_BENCH_LONG_S", "60"))
FORMATS = ((1920, 1080, 60), (1280, 720, 60), (1280, 720, 30))
REPEATS = 2
# (reader, frames, what the row is called)
READS = (("opencv", "all", "OpenCV whole frames"), ("ffmpeg", "all", "ffmpeg stripes, every frame"),
         ("ffmpeg", "reference", "ffmpeg stripes, reference frames"),
         ("ffmpeg", "ip", "ffmpeg stripes, I and P frames"))

IP_ONE_THREAD = ("-threads", "1", "-skip_frame", "bidir")  # how vmb transcribe decodes I and P frames


def _steal() -> tuple[int, int]:
    """Jiffies stolen by the hypervisor and all jiffies so far, summed over the cores (0, 0 where unknown)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0, 0
    values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    return (values[7] if len(values) > 7 else 0), sum(values)


def _stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the cores' time the hypervisor gave to other machines between two :func:`_steal` readings."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _render(workdir: Path, size: tuple[int, int], fps: int) -> tuple[Path, KeyboardGeometry, list[Note]]:
    video = workdir / f"synthesia_{size[1]}p{fps}.mp4"
    config = RenderConfig(style="synthesia", seed=3, size=size, fps=fps, start=0.0, duration=SECONDS)
    labels = render_to_files(read_midi(MIDI).notes, config, video, None, midi_path=video.with_suffix(".mid"))
    return video, true_geometry(labels), read_midi(video.with_suffix(".mid")).notes


def _best_of(video: Path, geometry: KeyboardGeometry, options: TranscribeOptions) -> tuple[float, float, float,
                                                                                           Transcription]:
    """The shortest wall time of REPEATS transcriptions with ``options``, the CPU time of this process and its
    children (ffmpeg, the workers) and the share of the cores' time stolen during that run, and the transcription."""
    runs = []
    for _ in range(REPEATS):
        t0, c0, k0, steal = time.perf_counter(), time.process_time(), _child_cpu(), _steal()
        result = transcribe_video(video, geometry, options)
        runs.append((time.perf_counter() - t0, time.process_time() - c0 + _child_cpu() - k0,
                     _stolen_share(steal, _steal())))
    wall, cpu, stolen = min(runs)
    return wall, cpu, stolen, result


def _end_to_end(video: Path, geometry: KeyboardGeometry, truth: list[Note], fps: int) -> list[str]:
    """One row per way of reading (only every frame below MIN_REFERENCE_FPS); speeds count the frames of the video."""
    size = f"{geometry.image_size[0]}x{geometry.image_size[1]}@{fps}"
    rows = []
    for reader, frames, name in READS:
        if frames != "all" and fps < MIN_REFERENCE_FPS:
            continue
        wall, cpu, _, result = _best_of(video, geometry, TranscribeOptions(method="falling", reader=reader,
                                                                          frames=frames))
        n_video = round(SECONDS * fps)
        rate = n_video / wall
        f1 = score(truth, result.notes, fps).onset_50ms.f1
        rows.append(f"| {size} | {name} | {result.n_frames} | {rate:.0f} | {rate / fps:.1f} | "
                    f"{1000 * cpu / n_video:.2f} | {len(result.notes)} | {f1:.3f} |")
    return rows


def _ffmpeg_cpu_ms(video: Path, input_options: list[str], n_frames: int) -> float:
    """ffmpeg's CPU time decoding ``video`` to nothing, per frame of the video."""
    before = _child_cpu()
    subprocess.run(_null_decode(video, *input_options), check=True)
    return 1000 * (_child_cpu() - before) / n_frames


def _null_decode(video: Path, *input_options: str) -> list[str]:
    """The ffmpeg command decoding ``video`` to nothing with ``input_options``."""
    return ["ffmpeg", "-v", "error", "-nostdin", *input_options, "-i", str(video), "-f", "null", "-"]


def _frame_types(video: Path) -> str:
    """How many frames of each picture type (I, P, B) the video holds, as ``I 2, P 101, B 197``."""
    listing = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pict_type",
                              "-of", "csv=p=0", str(video)], check=True, capture_output=True, text=True).stdout
    kinds = [line.split(",")[0] for line in listing.split()]
    return ", ".join(f"{kind} {kinds.count(kind)}" for kind in ("I", "P", "B"))


def _stage_ms(video: Path, geometry: KeyboardGeometry, frames: str, n_video: int, fps: int) -> tuple[float, ...]:
    """CPU ms per frame of the video: ffmpeg decoding + stripes + pipe, and in this process reading the pipe,
    sampling and the tracker, reading ``frames``."""
    view = falling_view(geometry)
    c0, k0 = time.process_time(), _child_cpu()
    read: list[Frame] = list(falling_frames(video, view, skip_frame=skip_frame(frames)))
    read_ms, piped_ms = 1000 * (time.process_time() - c0) / n_video, 1000 * (_child_cpu() - k0) / n_video
    c0 = time.process_time()
    samples = [view.points.read_frame(f) for f in read]
    sample_ms = 1000 * (time.process_time() - c0) / n_video
    tracker = Tracker(view.points, FallingSettings(), None if frames == "all" else 1 / fps)
    c0 = time.process_time()
    for frame, sample in zip(read, samples, strict=True):
        tracker.push(frame.t, sample)
    tracker.close()
    track_ms = 1000 * (time.process_time() - c0) / n_video
    return piped_ms, read_ms, sample_ms, track_ms


def _stages(video: Path, geometry: KeyboardGeometry, fps: int) -> list[str]:
    view = falling_view(geometry)
    n_video = sum(1 for _ in falling_frames(video, view))
    decode = [_ffmpeg_cpu_ms(video, options, n_video) for options in
              ([], ["-skip_frame", "noref"], ["-skip_frame", "bidir"], ["-skip_frame", "bidir", "-skip_loop_filter",
                                                                          "all"])]
    stages = {frames: _stage_ms(video, geometry, frames, n_video, fps) for frames in ("all", "reference", "ip")}
    names = ("decoding + stripes + pipe (I420 planes) | ffmpeg", "reading the pipe (frames and timestamps) | python",
             "sampling, the sampled pixels to BGR (SamplePoints.read_frame) | python",
             "tracker (Tracker.push) | python")
    rows = [f"| {name} | " + " | ".join(f"{stages[f][i]:.2f}" for f in stages) + " |" for i, name in enumerate(names)]
    total = " | ".join(f"{sum(stages[f]):.2f}" for f in stages)
    return [f"Where the time goes ({geometry.image_size[0]}x{geometry.image_size[1]}, stripes of "
            f"{view.crop.width}x{view.crop.height} pixels in {len(view.crop.stripes)} cuts), CPU ms per frame of the "
            "video, reading every frame, the reference frames (`-skip_frame noref`) or the I and P frames "
            "(`-skip_frame bidir`):", "",
            "| stage | process | all | reference | I and P |", "|---|---|---|---|---|",
            f"| decoding only (H.264, ffmpeg -f null) | ffmpeg | {decode[0]:.2f} | {decode[1]:.2f} | {decode[2]:.2f} |",
            f"| the same without deblocking (`-skip_loop_filter all`: other pixels) | ffmpeg | | | {decode[3]:.2f} |",
            *rows, f"| **all stages** | both | {total} |", "",
            f"Frame types of this clip (x264 `veryfast`): {_frame_types(video)}. 10x real time at 1080p60 is 600 "
            "frames/s: 3.3 ms of CPU per frame of the video on 2 cores, if ffmpeg and Python kept both busy."]


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds of ``run`` and the share of the cores' time stolen meanwhile."""
    steal, t0 = _steal(), time.perf_counter()
    run()
    return time.perf_counter() - t0, _stolen_share(steal, _steal())


def _long_clip(workdir: Path) -> list[str]:
    """A long 1080p60 clip: the method read by 1 or 2 processes, each way of reading the frames, and the whole
    command line with its automatic calibration and defaults; then how much two cores give when both are busy."""
    video = workdir / "synthesia_1080p60_long.mp4"
    config = RenderConfig(style="synthesia", seed=3, size=(1920, 1080), fps=60, start=0.0, duration=LONG_SECONDS)
    labels = render_to_files(read_midi(MIDI).notes, config, video, None, midi_path=video.with_suffix(".mid"))
    geometry, truth = true_geometry(labels), read_midi(video.with_suffix(".mid")).notes
    n_video = round(LONG_SECONDS * 60)
    lines = [f"{LONG_SECONDS:.0f} s of 1920x1080@60 (synthesia, miditest 10.mid), best of {REPEATS} runs "
             "each; `workers` = time segments read side by side (`--workers`); stolen = the share of the cores' time "
             "the hypervisor gave to other machines during the best run.", "",
             "| frames | workers | frames/s | x real time | stolen | notes | onset F1 |",
             "|---|---|---|---|---|---|---|"]
    for frames in ("ip", "reference", "all"):
        for workers in (1, 2):
            options = TranscribeOptions(method="falling", reader="ffmpeg", frames=frames, workers=workers)
            wall, _, stolen, result = _best_of(video, geometry, options)
            f1 = score(truth, result.notes, 60).onset_50ms.f1
            lines.append(f"| {frames} | {workers} | {n_video / wall:.0f} | {LONG_SECONDS / wall:.1f} | {stolen:.0%} | "
                         f"{len(result.notes)} | {f1:.3f} |")
    command = [sys.executable, "-m", "bridge", "transcribe", str(video), "-o", str(workdir / "long.mid")]
    runs = [(_timed(lambda: subprocess.run(command, check=True, capture_output=True)), _timed(_decoder(video)))
            for _ in range(REPEATS)]
    cli, decoded = min(runs)
    lines += ["", f"The whole command, `vmb transcribe VIDEO -o OUT.mid` with its defaults (automatic calibration and "
              f"method, `--frames auto` = I and P frames here, `--workers` its default), Python's start included: "
              f"{cli[0]:.1f} s for {LONG_SECONDS:.0f} s of video, {LONG_SECONDS / cli[0]:.1f}x real time "
              f"(stolen {cli[1]:.0%}). Right after it, ffmpeg alone decoded the same I and P frames (one thread, to "
              f"nothing) in {decoded[0]:.2f} s (stolen {decoded[1]:.0%}): the whole command took "
              f"{cli[0] / decoded[0]:.2f} times the decoding alone (where that ratio holds, the command runs at 10x "
              f"real time on a machine whose core decodes these frames {10 * cli[0] / decoded[0]:.0f}x faster than "
              "real time)."]
    return [*lines, "", _two_cores(video)]


def _decoder(video: Path) -> Callable[[], object]:
    """ffmpeg decoding the I and P frames of ``video`` with one thread, to nothing."""
    return lambda: subprocess.run(_null_decode(video, *IP_ONE_THREAD), check=True)


def _two_cores(video: Path) -> str:
    """ffmpeg decoding the I and P frames of the whole clip in one process, then its two halves side by side."""
    half = f"{LONG_SECONDS / 2}"
    one = _decoder(video)

    def two() -> None:
        halves = [subprocess.Popen(_null_decode(video, *IP_ONE_THREAD, "-t", half)),
                  subprocess.Popen(_null_decode(video, *IP_ONE_THREAD, "-ss", half))]
        if any(process.wait() for process in halves):
            raise RuntimeError("ffmpeg failed decoding a half of the clip")

    serial, parallel = min(_timed(one) for _ in range(REPEATS)), min(_timed(two) for _ in range(REPEATS))
    return (f"How much the 2 cores give when both are busy: ffmpeg decoding the clip's I and P frames (one thread) "
            f"takes {serial[0]:.2f} s in one process and {parallel[0]:.2f} s as two halves side by side "
            f"({serial[0] / parallel[0]:.2f}x; 2x would be two whole cores; stolen {serial[1]:.0%} and "
            f"{parallel[1]:.0%}).")


def run(workdir: Path) -> list[str]:
    clips = [(_render(workdir, (width, height), fps), fps) for width, height, fps in FORMATS]
    load_before = _load()
    lines = [f"`vmb transcribe --method falling --frames all|reference|ip` end to end on {SECONDS:.0f} s synthesia "
             f"renders of miditest 10.mid (ground-truth calibration), best of {REPEATS} runs, {os.cpu_count()} cores; "
             "ffmpeg decodes with its own threads, in parallel with the method. Frames/s and CPU ms count the frames "
             "of the video (decoded or skipped). Load average (1, 5, 15 min) before: " + load_before + ".", "",
             "| format | reader | frames decoded | frames/s | x real time | CPU ms/frame (all processes) | notes | "
             "onset F1 |", "|---|---|---|---|---|---|---|---|"]
    for (video, geometry, truth), fps in clips:
        lines += _end_to_end(video, geometry, truth, fps)
    lines += ["", f"Load average after: {_load()}.", ""]
    (video, geometry, _), fps = clips[0]
    lines += _stages(video, geometry, fps)
    return [*lines, "", *_long_clip(workdir)]


def main() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return run(Path(tmp))
