"""The live bridge: per-frame latency, frame-time-to-send latency, CPU at 30 fps, JACK port to port, long runs.

``python -m benchmarks.run_all bench_live`` (a few minutes; most of it renders the 720p clip) writes the
section of docs/benchmarks.md; ``python -m benchmarks.bench_live --hours 1`` runs the one-hour looped check
(memory and hanging notes) on its own and prints its figures. Wall-clock figures depend on what else runs:
every row names the load average it was measured under; the per-stage figures are CPU time, which does not.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bridge.errors import VmbError
from bridge.ffmpeg_source import whole_frames
from bridge.journal import Journal
from bridge.live import LiveRunner, Sink, VideoEdgeSource
from bridge.midi import read_midi
from bridge.midi_ports import JackMidiIn, JackMidiOut, MidiSink
from bridge.osc import OscSink
from bridge.sources import GreyFrame, Pacer, ReplaySource, Step, paced, prefetched
from bridge.types import KeyboardGeometry, Note, NoteEdge, notes_to_edges

TITLE = "Live bridge (vmb live)"
SONG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "pop909" / "851.mid"
FPS = 30.0


class FrameSteps:
    """A camera stand-in: one step per frame at 30 fps (paced), carrying the song's edges of that frame."""

    def __init__(self, notes: list[Note], seconds: float, pacer: Pacer) -> None:
        self.edges = notes_to_edges([n for n in notes if n.end < seconds])
        self.seconds = seconds
        self.pacer = pacer

    def steps(self, start: float, halt: threading.Event) -> Iterator[Step]:
        self.pacer.reset(start)
        i = 0
        for index in range(int(self.seconds * FPS)):
            t = index / FPS
            if not self.pacer.wait_until(t, halt):
                return
            arrived = time.monotonic()
            batch: list[NoteEdge] = []
            while i < len(self.edges) and self.edges[i].t < t + 1 / FPS:
                batch.append(self.edges[i])
                i += 1
            yield Step(t, batch, arrived)

    def recalibrate(self) -> str:
        raise VmbError("nothing to recalibrate")


class JackServer:
    def __init__(self) -> None:
        self.name = f"vmbbench{os.getpid()}"
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        self.process = subprocess.Popen(["jackd", "-n", self.name, "-d", "dummy", "-r", "48000", "-p", "256"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while subprocess.run(["jack_lsp"], capture_output=True, timeout=30).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("jackd did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def percentiles(values: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.asarray(values) * 1000, [50, 95, 99])
    return f"{p50:.2f} / {p95:.2f} / {p99:.2f} ms"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sinks(jack: bool, folder: Path) -> tuple[list[Sink], OscSink, Journal]:
    out: list[Sink] = [MidiSink(JackMidiOut("vmb-bench"))] if jack else []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return out, OscSink("127.0.0.1", port), Journal(folder)


def replay_at_30fps(notes: list[Note], seconds: float, jack: bool, folder: Path) -> list[str]:
    pacer = Pacer()
    midi, osc, journal = sinks(jack, folder)
    runner = LiveRunner(FrameSteps(notes, seconds, pacer), midi, osc=osc, journal=journal, pacer=pacer)
    to_send: list[float] = []
    runner.observers.append(lambda step, sent: to_send.append(sent - (pacer_origin(pacer) + step.t)))
    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    runner.run()
    cpu, wall = _cpu_seconds() - cpu0, time.monotonic() - wall0
    return [f"| replay, 30 fps, {seconds:.0f} s of POP909 851 ({runner.stats.edges_out} edges): processing per "
            f"frame, p50 / p95 / p99 | {percentiles(list(runner.stats.latencies))} |",
            f"| replay: frame time to MIDI send, p50 / p95 / p99 | {percentiles(to_send)} |",
            f"| replay: CPU at 30 fps (MIDI{' on JACK' if jack else ' off'}, OSC, journal) | "
            f"{100 * cpu / wall:.1f}% of one core |"]


def pacer_origin(pacer: Pacer) -> float:
    position = pacer.position()
    return time.monotonic() - position if position is not None else time.monotonic()


def render_clip(seconds: float, folder: Path) -> tuple[Path, KeyboardGeometry]:
    """A synthesized 720p clip of the song's first ``seconds`` and its ground-truth calibration."""
    from bridge.synth.render import RenderConfig, render_to_files, true_geometry

    notes = [n for n in read_midi(SONG).notes if n.end < seconds]
    video, labels_path = folder / "clip.mp4", folder / "clip.npz"
    render_to_files(notes, RenderConfig(size=(1280, 720), fps=FPS, duration=seconds), video, labels_path)
    labels = np.load(labels_path)
    geometry = true_geometry(labels)
    return video, geometry


def stage_costs(video: Path, geometry: KeyboardGeometry) -> list[str]:
    """Where a frame's time goes: CPU time of this thread per stage (load-independent, unlike wall time).

    The stages are timed apart (rectify, features, model run) and then together, as live runs them
    (``KeyTranscriber.push``: they plus reading the keys out of the model's columns).
    """
    from bridge import features
    from bridge.decoding import StreamingDecoder
    from bridge.model import KeyModel, KeyTranscriber
    from bridge.pipeline import PER_FRAME_THREADS

    model = KeyModel.load(None, PER_FRAME_THREADS)
    transcriber, stream = KeyTranscriber(geometry, model), features.FeatureStream()
    decoder = StreamingDecoder(88, model.card.decoder)
    names = ("video decoding (this thread's share)", "rectify and grey", "features", "model run (ONNX)",
             "whole key model step", "decoder")
    costs: list[list[float]] = [[] for _ in names]
    clock = time.thread_time
    frames = iter(whole_frames(video))  # as vmb live --video reads it
    while True:
        marks = [clock()]
        frame = next(frames, None)
        if frame is None:
            break
        marks.append(clock())
        gray = (features.grey_to_float(transcriber.rectifier(frame.grey)) if isinstance(frame, GreyFrame)
                else features.to_gray(transcriber.rectifier(frame.image)))
        marks.append(clock())
        ready = stream.push(gray, frame.t)
        marks.append(clock())
        if ready:
            model.run(np.stack([inputs for _, inputs in ready]))
        marks.append(clock())
        activations = transcriber.push(frame)
        marks.append(clock())
        for act in activations:
            decoder.push(act)
        marks.append(clock())
        for values, (begin, end) in zip(costs, itertools.pairwise(marks), strict=True):
            values.append(end - begin)
    return [f"| CPU per 720p frame: {name}, p50 / p95 / p99 | {percentiles(values)} |"
            for name, values in zip(names, costs, strict=True)]


def _cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the ffmpeg that decoded the video)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def model_at_30fps(seconds: float, folder: Path, jack: bool) -> list[str]:
    """The real key model on a synthesized 720p clip, decoded ahead in a thread and paced at 30 fps, as
    ``vmb live --video --realtime`` runs it; skipped without a model."""
    try:
        from bridge.model import KeyModel

        KeyModel.load()
    except (ImportError, VmbError) as exc:
        return [f"| key model at 720p | not measured: {exc} |"]
    video, geometry = render_clip(seconds, folder)
    lines = stage_costs(video, geometry)
    pacer = Pacer()
    from bridge.calibration import calibrate_images

    # As vmb live runs it: the drift monitor watches every fifth frame (recalibrating only if the keyboard moved).
    source = VideoEdgeSource(lambda start, halt: paced(prefetched(whole_frames(video, start=start), depth=4),
                                                       pacer, halt), geometry,
                             calibrate=lambda images: calibrate_images(images, source="the latest frames"))
    midi: list[Sink] = [MidiSink(JackMidiOut("vmb-bench-keys"))] if jack else []
    runner = LiveRunner(source, midi, pacer=pacer)
    to_send: list[float] = []
    note_to_send: list[float] = []  # from the time of the frame a note starts or ends in (one frame of look-ahead)

    def observe(step: Step, sent: float) -> None:
        origin = pacer_origin(pacer)
        to_send.append(sent - (origin + step.t))
        note_to_send.extend(sent - (origin + edge.t) for edge in step.edges)

    runner.observers.append(observe)
    load = os.getloadavg()[0]
    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    runner.run()
    cpu, wall = _cpu_seconds() - cpu0, time.monotonic() - wall0
    where = f"load {load:.1f} to {os.getloadavg()[0]:.1f}; MIDI {'to a JACK port' if jack else 'off'}"
    return [*lines,
            f"| key model, 720p at 30 fps ({where}): processing per frame (arrival to MIDI sent), "
            f"p50 / p95 / p99 | {percentiles(list(runner.stats.latencies))} |",
            f"| key model ({where}): frame timestamp to MIDI send, p50 / p95 / p99 | {percentiles(to_send)} |",
            f"| key model ({where}): note time to MIDI send ({len(note_to_send)} edges; includes the one frame "
            f"the model looks ahead), p50 / p95 / p99 | {percentiles(note_to_send or [float('nan')])} |",
            f"| key model ({where}): CPU at 30 fps, video decoding included | {100 * cpu / wall:.1f}% of one core |"]


def jack_port_to_port(count: int = 300) -> list[str]:
    receiver = JackMidiIn("vmb-bench-in")
    sender = JackMidiOut("vmb-bench-out", connect=["vmb-bench-in:vmb-bench-in"])
    time.sleep(0.5)
    sent_at: list[float] = []
    arrivals: list[float] = []
    for i in range(count):
        sent_at.append(time.monotonic())
        sender.send(bytes((0x90, 60 + i % 12, 100)))
        for _ in range(10):  # read often, as MTC following does: the input dates messages from its quickest reads
            time.sleep(0.001)
            arrivals += [t for t, _ in receiver.receive()]
    deadline = time.monotonic() + 10.0  # a loaded machine delivers late, not never
    while len(arrivals) < count and time.monotonic() < deadline:
        arrivals += [t for t, _ in receiver.receive()]
        time.sleep(0.01)
    sender.close()
    receiver.close()
    if len(arrivals) != count:
        return [f"| JACK port to port | {len(arrivals)} of {count} messages arrived |"]
    return [f"| JACK port to port (period 256 at 48 kHz = 5.3 ms), p50 / p95 / p99 | "
            f"{percentiles([a - s for a, s in zip(arrivals, sent_at, strict=True)])} |"]


class CountingPort:
    """Checks every note on has its note off, as the port sees it; keeps nothing else."""

    name = "count"
    connected = True
    generation = 1

    def __init__(self) -> None:
        self.sounding: set[tuple[int, int]] = set()
        self.note_ons = 0
        self.orphan_offs = 0

    def send(self, message: bytes) -> bool:
        key = (message[0] & 0x0F, message[1])
        if message[0] & 0xF0 == 0x90:
            self.note_ons += 1
            self.sounding.add(key)
        elif message[0] & 0xF0 == 0x80:
            if key not in self.sounding:
                self.orphan_offs += 1
            self.sounding.discard(key)
        return True

    def poll(self, quiet: bool = True) -> None:
        return None

    def close(self) -> None:
        return None


def looped_run(seconds: float, folder: Path) -> list[str]:
    """The first 10 s of the song looped in realtime for ``seconds``: memory, hanging notes, orphan note offs."""
    notes = [n for n in read_midi(SONG).notes if n.end < 10.0]
    port = CountingPort()
    pacer = Pacer()
    runner = LiveRunner(ReplaySource(notes, pacer, loop=True), [MidiSink(port)], journal=Journal(folder),
                        pacer=pacer)
    samples: list[float] = []

    def watch() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(rss_mb())
            time.sleep(min(60.0, seconds / 20))
        runner.quit()

    threading.Thread(target=watch, daemon=True).start()
    runner.run()
    samples.append(rss_mb())
    half = len(samples) // 2
    growth = float(np.mean(samples[half:]) - np.mean(samples[1:half])) if half > 1 else float("nan")
    return [f"| looped replay (10 s of POP909 851 again and again), {seconds / 60:.1f} min: note ons, hanging notes, "
            f"orphan note offs | "
            f"{port.note_ons}, {len(port.sounding)}, {port.orphan_offs} |",
            f"| looped replay: resident memory first sample / last / growth 2nd half vs 1st | "
            f"{samples[0]:.0f} MB / {samples[-1]:.0f} MB / {growth:+.1f} MB |"]


def main(hours: float | None = None) -> list[str]:
    notes = read_midi(SONG).notes
    jack = shutil.which("jackd") is not None
    server = JackServer() if jack else None
    load = os.getloadavg()[0]
    lines = ["| what | figure |", "|---|---|",
             f"| machine load (1-min load average at the start; other work shares the cores) | {load:.1f} |"]
    try:
        with tempfile.TemporaryDirectory() as folder:
            lines += replay_at_30fps(notes, 20.0, jack, Path(folder))
            lines += model_at_30fps(10.0, Path(folder), jack)
            lines += jack_port_to_port() if jack else ["| JACK port to port | not measured: jackd missing |"]
            lines += looped_run(hours * 3600 if hours else 30.0, Path(folder))
    finally:
        if server is not None:
            server.stop()
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, help="length of the looped run (realtime)")
    arguments = parser.parse_args()
    print("\n".join(main(arguments.hours)))
    sys.exit(0)
