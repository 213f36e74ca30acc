"""Speed of the key model: the ONNX model alone, end to end on 720p video by each frame path, peak memory on a
10-minute video, and Audeo's Video2Roll for reference."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import numpy as np

from bridge.decoding import notes_from_edges
from bridge.features import N_CHANNELS, STRIP_SPEC
from bridge.ffmpeg_source import CropBox, CropSource, Pixels, cropped_geometry, keyboard_crop
from bridge.geometry import KeyLayout
from bridge.midi import read_midi
from bridge.model import KeyModel
from bridge.pipeline import EdgeLoop
from bridge.sources import VideoFileSource, prefetched
from bridge.synth import RenderConfig, render_to_files, true_geometry
from bridge.types import Frame, KeyboardGeometry, Note, NoteEdge

TITLE = "Key model (ONNX Runtime, CPU)"
REPO = Path(__file__).resolve().parents[1]
MIDI = REPO.parent / "shared" / "data" / "midi" / "miditest" / "5.mid"
MODEL_BATCH = 32  # the model alone
BATCH = 16  # end to end, as vmb transcribe
E2E_S = 30.0  # seconds of video timed end to end per frame path
ROUNDS = 3
LONG_S = float(os.environ.get("VMB_BENCH_LONG_S", 600))  # the long video whose peak memory is measured


def _frames_per_second(run: Callable[[], object], frames_per_call: int, seconds: float = 3.0) -> float:
    run()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run()
        calls += 1
    return calls * frames_per_call / (time.perf_counter() - started)


def model_alone(threads: int) -> float:
    model = KeyModel.load(threads=threads)
    width = round(KeyLayout.standard(88).n_white * STRIP_SPEC.px_per_white_key)
    shape = (MODEL_BATCH, N_CHANNELS, STRIP_SPEC.height, width)
    batch = np.random.default_rng(0).normal(0, 1, shape).astype(np.float32)
    return _frames_per_second(lambda: model.run(batch), MODEL_BATCH)


def video2roll(threads: int) -> float | None:
    """Audeo's Video2Roll with random weights, exported to ONNX and run the same way (needs torch)."""
    if importlib.util.find_spec("torch") is None:
        return None
    import onnxruntime as ort
    import torch

    from models.keys.video2roll import INPUT_SHAPE, Video2Roll

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "video2roll.onnx"
        torch.onnx.export(Video2Roll().eval(), (torch.zeros(1, *INPUT_SHAPE),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        batch = np.random.default_rng(0).random((8, *INPUT_SHAPE), dtype=np.float32)
        return _frames_per_second(lambda: session.run(None, {"x": batch}), len(batch))


@dataclass(frozen=True, slots=True)
class FramePath:
    """One way of reading frames for the key model (threads: None for each's own choice, the default)."""

    name: str
    reader: str  # opencv or ffmpeg
    pixels: Pixels = "grey"  # for ffmpeg: grey (the keyboard crop's luma), both (whole frames), bgr (crop)
    decode_threads: int | None = None  # ffmpeg's decoding threads (None: ffmpeg's choice)
    model_threads: int | None = None  # None: onnxruntime's choice (all cores)
    skip_loop_filter: bool = False

    def frames(self, video: Path, geometry: KeyboardGeometry) -> tuple[Iterable[Frame], KeyboardGeometry]:
        if self.reader == "opencv":
            return VideoFileSource(video), geometry
        if self.pixels == "both":
            return CropSource(video, CropBox(0, 0, *geometry.image_size), threads=self.decode_threads,
                              pixels="both"), geometry
        crop = keyboard_crop(geometry, STRIP_SPEC)
        source = CropSource(video, crop, threads=self.decode_threads, pixels=self.pixels,
                            skip_loop_filter=self.skip_loop_filter)
        return source, cropped_geometry(geometry, crop)


NEW = FramePath("ffmpeg, keyboard crop, luma (the new default)", "ffmpeg", "grey")
OLD = FramePath("ffmpeg, keyboard crop, BGR (the old default)", "ffmpeg", "bgr")
PATHS = (OLD,
         FramePath("OpenCV, whole BGR frames (the older path)", "opencv"),
         NEW,
         FramePath("as the new default, model on 1 thread, ffmpeg decoding on 1", "ffmpeg", "grey", 1, 1),
         FramePath("ffmpeg, whole frames, luma and colour (vmb live --video, --preview)", "ffmpeg", "both"),
         FramePath("as the new default, no deblocking (-skip_loop_filter all, other pixels)", "ffmpeg", "grey",
                   skip_loop_filter=True))


@dataclass
class Measured:
    """A frame path's figures, one per round."""

    decode_fps: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # CPU per frame end to end, vmb and ffmpeg together
    notes: list[Note] = field(default_factory=list)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def decode_alone(path: FramePath, video: Path, geometry: KeyboardGeometry) -> float:
    frames, _ = path.frames(video, geometry)
    started = time.perf_counter()
    n = sum(1 for _ in frames)
    return n / (time.perf_counter() - started)


def end_to_end(path: FramePath, video: Path, geometry: KeyboardGeometry) -> tuple[float, float, list[Note]]:
    """Frames/s and CPU ms per frame of decode + rectify + model + decoder, the loop of ``transcribe_video``
    (frames read ahead in a thread, batches of ``BATCH``), and the notes."""
    model = KeyModel.load(threads=path.model_threads)
    started, cpu = time.perf_counter(), _cpu_seconds()
    frames, model_geometry = path.frames(video, geometry)
    loop = EdgeLoop(model_geometry, model, model.card.decoder)
    edges: list[NoteEdge] = []
    pending: list[Frame] = []
    n, last_t = 0, 0.0
    for frame in prefetched(frames):
        pending.append(frame)
        if len(pending) == BATCH:
            edges += loop.push(pending)[1]
            n, last_t, pending = n + len(pending), pending[-1].t, []
    if pending:
        edges += loop.push(pending)[1]
        n, last_t = n + len(pending), pending[-1].t
    edges += loop.close(last_t + 1 / model.card.fps)[1]
    elapsed = time.perf_counter() - started
    return n / elapsed, (_cpu_seconds() - cpu) * 1000 / n, notes_from_edges(edges)


def _looped(video: Path, seconds: float, out: Path) -> Path:
    """The clip played again and again for ``seconds``, without re-encoding."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(video), "-t", f"{seconds}",
                    "-c", "copy", str(out)], check=True, timeout=300)
    return out


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (ffmpeg included)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, total = {pid}, 0
    for child, parent in sorted(parents.items()):
        if parent in tree:
            tree.add(child)
    for member in tree:
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def transcribe_peak_rss(video: Path, calibration: Path, out: Path) -> tuple[float, float]:
    """Peak resident memory (GB, vmb and its ffmpeg together) and frames/s of ``vmb transcribe`` on a file."""
    command = [sys.executable, "-m", "bridge", "transcribe", str(video), "-o", str(out), "--calibration",
               str(calibration), "--method", "keys"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise RuntimeError(f"vmb transcribe failed: {output.strip()}")
    frames = int(output.split(" notes from ")[1].split()[0])
    return peak / 1e9, frames / elapsed


def _same_notes(found: list[Note], reference: list[Note]) -> str:
    if found == reference:
        return "identical"
    onsets = {(n.pitch, round(n.start, 6)) for n in reference}
    matched = sum((n.pitch, round(n.start, 6)) in onsets for n in found)
    return f"{matched} of {len(found)} onsets as its {len(reference)}"


def _measure(video: Path, geometry: KeyboardGeometry) -> dict[str, Measured]:
    measured = {path.name: Measured() for path in PATHS}
    for round_ in range(ROUNDS):  # every path once per round, in turn forwards and backwards: drifting load hits all
        for path in PATHS if round_ % 2 == 0 else PATHS[::-1]:
            figures = measured[path.name]
            figures.decode_fps.append(decode_alone(path, video, geometry))
            fps, cpu_ms, figures.notes = end_to_end(path, video, geometry)
            figures.fps.append(fps)
            figures.cpu_ms.append(cpu_ms)
    return measured


def end_to_end_lines() -> list[str]:
    notes = read_midi(MIDI).notes
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        config = RenderConfig(style="grand", seed=3, size=(1280, 720), fps=30.0, start=10.0, duration=8.0)
        labels = render_to_files(notes, config, clip, None)
        geometry = true_geometry(labels)
        video = _looped(clip, E2E_S, Path(tmp) / "e2e.mp4")
        crop = keyboard_crop(geometry, STRIP_SPEC)
        load_before = os.getloadavg()[0]
        measured = _measure(video, geometry)
        load_after = os.getloadavg()[0]
        calibration = Path(tmp) / "calibration.json"
        geometry.save(calibration)
        long_video = _looped(clip, LONG_S, Path(tmp) / "long.mp4")
        peak_gb, long_fps = transcribe_peak_rss(long_video, calibration, Path(tmp) / "long.mid")
    lines = [f"End to end on {E2E_S:g} s of 1280x720 30 fps H.264 (an 8 s grand-piano render of miditest 5.mid "
             f"looped; keyboard crop {crop.width}x{crop.height}), the loop of `vmb transcribe` (frames read ahead in "
             f"a thread, rectify, model in batches of {BATCH}, streaming decoder); medians of {ROUNDS} rounds over "
             f"all paths in turn; load average {load_before:.1f} before, {load_after:.1f} after, on "
             f"{os.cpu_count()} cores. CPU per frame is vmb's and ffmpeg's together, the least of the rounds (load "
             "only adds to it); 2 cores kept busy would give 2000 / CPU frames/s (what a quiet machine approaches):",
             "", "| frame path | decoding alone, frames/s | end to end, frames/s | x real time | CPU per frame, ms | "
             "2-core ceiling, frames/s | notes vs the new default |", "|---|---|---|---|---|---|---|"]
    reference = measured[NEW.name].notes
    for path in PATHS:
        figures = measured[path.name]
        fps, cpu_ms = median(figures.fps), min(figures.cpu_ms)
        lines.append(f"| {path.name} | {median(figures.decode_fps):.0f} | {fps:.0f} | {fps / 30:.1f}x | "
                     f"{cpu_ms:.2f} | {2000 / cpu_ms:.0f} | {_same_notes(figures.notes, reference)} |")
    ratio = median(measured[NEW.name].fps) / median(measured[OLD.name].fps)
    lines += ["", f"New default over old default end to end: {ratio:.2f}x in this run. `vmb transcribe` on a "
              f"{LONG_S / 60:.3g}-minute 1280x720 30 fps video (the clip looped, the default frame path, whole "
              f"command): peak resident memory {peak_gb:.2f} GB (vmb and ffmpeg together), {long_fps:.0f} "
              "frames/s including start-up."]
    return lines


def main() -> list[str]:
    lines = ["| what | frames/s |", "|---|---|"]
    for threads in (1, 2):
        lines.append(f"| our model alone, 88-key strip, batch {MODEL_BATCH}, {threads} thread(s) | "
                     f"{model_alone(threads):.0f} |")
    for threads in (1, 2):
        speed = video2roll(threads)
        shown = "torch not installed" if speed is None else f"{speed:.0f}"
        lines.append(f"| Audeo Video2Roll (ResNet-18, 5x100x900), random weights, {threads} thread(s) | {shown} |")
    lines += ["", f"Model input: {N_CHANNELS} x {STRIP_SPEC.height} x width strips.", ""]
    lines += end_to_end_lines()
    load = os.getloadavg()[0]
    lines += ["", f"Load average when the run ended: {load:.1f} on {os.cpu_count()} cores (other jobs share the "
              "machine: compare rows of one run, not runs)."]
    return lines
