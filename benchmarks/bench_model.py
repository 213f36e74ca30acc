"""Speed of the key model: the ONNX model alone, end to end on 720p video, and Audeo's Video2Roll for reference."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bridge.decoding import StreamingDecoder
from bridge.features import N_CHANNELS, STRIP_SPEC
from bridge.geometry import KeyLayout
from bridge.midi import read_midi
from bridge.model import KeyModel, KeyTranscriber
from bridge.sources import VideoFileSource, prefetched
from bridge.synth import RenderConfig, render_to_files
from bridge.types import Activations, Frame, KeyboardGeometry

TITLE = "Key model (ONNX Runtime, CPU)"
REPO = Path(__file__).resolve().parents[1]
MIDI = REPO.parent / "shared" / "data" / "midi" / "miditest" / "5.mid"
BATCH = 32


def _frames_per_second(run: Callable[[], None], frames_per_call: int, seconds: float = 3.0) -> float:
    run()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run()
        calls += 1
    return calls * frames_per_call / (time.perf_counter() - started)


def model_alone(threads: int) -> float:
    model = KeyModel.load(threads=threads)
    width = round(KeyLayout.standard(88).n_white * STRIP_SPEC.px_per_white_key)
    batch = np.random.default_rng(0).normal(0, 1, (BATCH, N_CHANNELS, STRIP_SPEC.height, width)).astype(np.float32)
    return _frames_per_second(lambda: model.run(batch), BATCH)


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


def end_to_end(video: Path, labels: dict[str, np.ndarray], threads: int) -> tuple[float, float, int]:
    """Frames/s of decode + rectify + model + decoder over the video, and of decoding the video alone."""
    started = time.perf_counter()
    n = sum(1 for _ in VideoFileSource(video))
    decode_only = n / (time.perf_counter() - started)
    model = KeyModel.load(threads=threads)
    size = (int(labels["size"][0]), int(labels["size"][1]))
    geometry = KeyboardGeometry.from_homography(size, int(labels["lowest_pitch"]), int(labels["key_count"]),
                                                labels["image_to_plane"])
    transcriber = KeyTranscriber(geometry, model)
    decoder = StreamingDecoder(settings=model.card.decoder)
    notes = 0

    def consume(activations: list[Activations]) -> int:
        return sum(len(decoder.push(a)) for a in activations)

    started = time.perf_counter()
    pending: list[Frame] = []
    for frame in prefetched(VideoFileSource(video)):  # as vmb transcribe reads it
        pending.append(frame)
        if len(pending) == BATCH:
            notes += consume(transcriber.push_many(pending))
            pending = []
    notes += consume(transcriber.push_many(pending) + transcriber.flush())
    return n / (time.perf_counter() - started), decode_only, notes


def main() -> list[str]:
    lines = ["| what | frames/s |", "|---|---|"]
    for threads in (1, 2):
        lines.append(f"| our model alone, 88-key strip, batch {BATCH}, {threads} thread(s) | "
                     f"{model_alone(threads):.0f} |")
    for threads in (1, 2):
        speed = video2roll(threads)
        shown = "torch not installed" if speed is None else f"{speed:.0f}"
        lines.append(f"| Audeo Video2Roll (ResNet-18, 5x100x900), random weights, {threads} thread(s) | {shown} |")
    notes = read_midi(MIDI).notes
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        config = RenderConfig(style="grand", seed=3, size=(1280, 720), fps=30.0, start=10.0, duration=8.0)
        labels = render_to_files(notes, config, video, None)
        total, decode_only, edges = end_to_end(video, labels, threads=2)
    load = os.getloadavg()[0]
    lines += [f"| end to end, 1280x720 30 fps H.264 (decode, rectify, model, decoder), 2 threads | {total:.0f} "
              f"({total / 30:.1f}x real time) |",
              f"| of which decoding the video alone | {decode_only:.0f} |", "",
              f"Model input: {N_CHANNELS} x {STRIP_SPEC.height} x width strips; {edges} note edges in the 8 s clip. "
              f"Load average when the run ended: {load:.1f} on {os.cpu_count()} cores (other jobs share the "
              "machine: compare rows of one run, not runs)."]
    return lines
