"""Piano fusion: do fingertips over the keyboard raise the key model's onset F1 or remove false notes?

On the benchmark set (``out/benchmark-set``, styles grand, upright, digital and hybrid; the first
``SECONDS`` of each clip, true calibration) the key model's activations are decoded with the model card's
decoder settings three ways in the same run: plain; with onsets re-weighted by the evidence of the
renderer's own fingertips (the upper bound: perfect hands); and by the evidence of mediapipe's fingertips
found in the pixels. ``python -m benchmarks.bench_fusion [SECONDS]``; the model's activations and mediapipe's
tracks are cached in ``out/fusion-cache`` (keyed by clip, seconds and model), so a second run only decodes.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.benchmark_set import BenchmarkItem, benchmark_items
from bridge.decoding import DecoderSettings, StreamingDecoder, notes_from_edges
from bridge.fusion import FingertipEvidence, FusionSettings, weighted_onsets
from bridge.landmarks import LandmarkDetector
from bridge.midi import read_midi
from bridge.model import KeyModel, KeyTranscriber
from bridge.scoring import match_onsets
from bridge.sources import VideoFileSource, prefetched
from bridge.synth.render import true_geometry
from bridge.types import Activations, Frame, KeyboardGeometry, Note

TITLE = "Piano fusion (fingertips as onset evidence)"
REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "out" / "fusion-cache"
STYLES = ("grand", "upright", "digital", "hybrid")
SECONDS = 10.0
BATCH = 32
VARIANTS: tuple[tuple[str, FusionSettings], ...] = (
    ("gate (reach 15 mm)", FusionSettings(reach_mm=15.0, floor=0.0, gain=1.0)),
    ("gate (reach 30 mm)", FusionSettings(reach_mm=30.0, floor=0.0, gain=1.0)),
    ("soft (floor 0.3)", FusionSettings(reach_mm=15.0, floor=0.3, gain=1.0)),
    ("soft + lift (floor 0.3, gain 1.5)", FusionSettings(reach_mm=15.0, floor=0.3, gain=1.5)),
    ("lift only (floor 1, gain 1.25)", FusionSettings(reach_mm=15.0, floor=1.0, gain=1.25)),
)


@dataclass(frozen=True, slots=True)
class Clip:
    """What one clip gives: the model's activations, the hands of both sources, the truth and the frame rate."""

    item: BenchmarkItem
    times: NDArray[np.float64]
    onset: NDArray[np.float32]
    frame: NDArray[np.float32]
    velocity: NDArray[np.float32]
    found_hands: NDArray[np.float32]  # mediapipe (n, 2, 21, 3), NaN where missing
    true_hands: NDArray[np.float32]  # renderer labels (n, 2, 21, 3), NaN outside the picture
    key_down: NDArray[np.bool_]  # renderer labels (n, 88)
    geometry: KeyboardGeometry
    truth: list[Note]
    fps: float
    mediapipe_cpu_ms: float


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _run_clip(item: BenchmarkItem, geometry: KeyboardGeometry, model: KeyModel, seconds: float) -> dict[str, NDArray]:
    """One pass over the clip's frames: the key model (batched) and mediapipe (every frame)."""
    transcriber = KeyTranscriber(geometry, model)
    activations: list[Activations] = []
    hands: list[NDArray[np.float32]] = []
    detector_cpu = 0.0
    pending: list[Frame] = []
    with LandmarkDetector(smoothing=None) as detector:
        for frame in prefetched(VideoFileSource(item.video, 0.0, seconds)):
            began = _cpu()
            hands.append(detector.process(frame).hands)
            detector_cpu += _cpu() - began
            pending.append(frame)
            if len(pending) == BATCH:
                activations += transcriber.push_many(pending)
                pending = []
    activations += transcriber.push_many(pending) + transcriber.flush()
    return {"t": np.array([a.t for a in activations]), "onset": np.stack([a.onset for a in activations]),
            "frame": np.stack([a.frame for a in activations]), "velocity": np.stack([a.velocity for a in activations]),
            "found_hands": np.stack(hands), "mediapipe_cpu_ms": np.float64(1000 * detector_cpu / max(len(hands), 1))}


def load_clip(item: BenchmarkItem, model: KeyModel, seconds: float) -> Clip:
    with np.load(item.labels) as data:
        labels = {k: data[k] for k in data.files}
    geometry = true_geometry(labels)
    cache = CACHE / f"{item.name}-{seconds:g}s-{model.card.sha256[:12]}.npz"
    if cache.exists():
        with np.load(cache) as data:
            run = {k: data[k] for k in data.files}
    else:
        run = _run_clip(item, geometry, model, seconds)
        CACHE.mkdir(parents=True, exist_ok=True)
        part = cache.with_suffix(".part.npz")
        np.savez_compressed(part, **run)
        part.replace(cache)  # complete or absent: another run may be reading the cache
    keep = labels["frame_times"] < seconds - 1e-6
    true_hands = labels["hand_landmarks"][keep].copy()
    true_hands[..., :2][true_hands[..., 3] <= 0] = np.nan
    truth = [dataclasses.replace(n, end=min(n.end, seconds)) for n in read_midi(item.midi).notes if n.start < seconds]
    return Clip(item, run["t"], run["onset"], run["frame"], run["velocity"], run["found_hands"],
                true_hands[..., :3], labels["key_state"][keep], geometry, truth, item.setup.fps,
                float(run["mediapipe_cpu_ms"]))


@dataclass
class Tally:
    reference: int = 0
    estimated: int = 0
    matched_50ms: int = 0
    matched_100ms: int = 0

    def add(self, truth: Sequence[Note], notes: Sequence[Note]) -> None:
        self.reference += len(truth)
        self.estimated += len(notes)
        self.matched_50ms += len(match_onsets(truth, notes, 0.05))
        self.matched_100ms += len(match_onsets(truth, notes, 0.10))

    def f1(self, matched: int) -> float:
        return 2 * matched / (self.reference + self.estimated) if self.reference + self.estimated else 1.0

    def row(self, label: str) -> str:
        precision = self.matched_50ms / self.estimated if self.estimated else 1.0
        recall = self.matched_50ms / self.reference if self.reference else 1.0
        return (f"| {label} | {self.f1(self.matched_50ms):.3f} | {precision:.3f} | {recall:.3f} | "
                f"{self.estimated - self.matched_50ms} | {self.reference - self.matched_50ms} | "
                f"{self.f1(self.matched_100ms):.3f} |")


def decode(clip: Clip, onset: NDArray[np.float32], settings: DecoderSettings) -> list[Note]:
    decoder = StreamingDecoder(88, settings)
    edges = []
    for i, t in enumerate(clip.times):
        edges += decoder.push(Activations(float(t), onset[i], clip.frame[i], clip.velocity[i]))
    end = float(clip.times[-1]) + 1 / clip.fps if len(clip.times) else 0.0
    return notes_from_edges(edges + decoder.close(end))


def fused_onsets(clip: Clip, hands: NDArray[np.float32], settings: FusionSettings) -> NDArray[np.float32]:
    """The clip's onsets re-weighted by the evidence of ``hands`` (one row of hands per labelled frame)."""
    n = min(len(hands), len(clip.times))
    evidence = FingertipEvidence(clip.times[:n], hands[:n], clip.geometry, settings).evidence
    fused = clip.onset.copy()
    fused[:n] = weighted_onsets(clip.onset[:n], evidence, settings)
    return fused


def evaluate(clips: Sequence[Clip], decoder: DecoderSettings) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}

    def tally(label: str) -> Tally:
        return tallies.setdefault(label, Tally())

    for clip in clips:
        tally("plain key model").add(clip.truth, decode(clip, clip.onset, decoder))
        for source, hands in (("renderer's fingertips", clip.true_hands), ("mediapipe fingertips", clip.found_hands)):
            for name, settings in VARIANTS:
                notes = decode(clip, fused_onsets(clip, hands, settings), decoder)
                tally(f"{source}: {name}").add(clip.truth, notes)
    return tallies


def fingers_on_keys(clips: Sequence[Clip]) -> tuple[float, float]:
    """Keys per frame with the renderer's fingertip on them, and the share of those that are down."""
    on_keys, down = 0, 0
    frames = 0
    for clip in clips:
        n = min(len(clip.times), len(clip.true_hands), len(clip.key_down))
        settings = FusionSettings(hold_s=0.0)
        evidence = FingertipEvidence(clip.times[:n], clip.true_hands[:n], clip.geometry, settings).evidence
        on = np.nan_to_num(evidence) > 0.9
        on_keys += int(on.sum())
        down += int((on & clip.key_down[:n]).sum())
        frames += n
    return on_keys / max(frames, 1), down / max(on_keys, 1)


HEADER = ["| onsets | onset F1 50 ms | precision | recall | false notes | missed | onset F1 100 ms |",
          "|---|---|---|---|---|---|---|"]


def main(seconds: float = SECONDS) -> list[str]:
    started = time.perf_counter()
    load = os.getloadavg()[0]
    model = KeyModel.load(threads=2)
    items = [item for item in benchmark_items() if item.style in STYLES]
    clips = [load_clip(item, model, seconds) for item in items]
    decoder = model.card.decoder
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average {load:.1f} "
             f"at the start); {time.strftime('%Y-%m-%d', time.gmtime())}; `python -m benchmarks.run_all bench_fusion`. "
             f"{len(clips)} clips of the benchmark set ({', '.join(STYLES)}), the first {seconds:g} s of each, true "
             f"calibration, decoder from the model card ({decoder}). Counts are summed over the clips; F1 from the "
             "sums. Evidence: fingertips within `reach` mm of the key (Gaussian), held 0.1 s either side.", ""]
    lines += ["All four styles:", "", *HEADER]
    lines += [tally.row(label) for label, tally in evaluate(clips, decoder).items()]
    gate = dict(VARIANTS)["gate (reach 15 mm)"]
    lines += ["", "Per style (gate, reach 15 mm):", "",
              "| style | hands found by mediapipe (share of hand-frames) | plain F1 | renderer's tips F1 | "
              "mediapipe tips F1 | false notes plain / renderer / mediapipe |", "|---|---|---|---|---|---|"]
    for style in STYLES:
        chosen = [c for c in clips if c.item.style == style]
        found = float(np.mean([np.isfinite(c.found_hands[:, :, 0, 0]).mean() for c in chosen]))
        tallies = {"plain": Tally(), "true": Tally(), "found": Tally()}
        for clip in chosen:
            tallies["plain"].add(clip.truth, decode(clip, clip.onset, decoder))
            tallies["true"].add(clip.truth, decode(clip, fused_onsets(clip, clip.true_hands, gate), decoder))
            tallies["found"].add(clip.truth, decode(clip, fused_onsets(clip, clip.found_hands, gate), decoder))
        f1s = " | ".join(f"{t.f1(t.matched_50ms):.3f}" for t in tallies.values())
        false = " / ".join(str(t.estimated - t.matched_50ms) for t in tallies.values())
        lines.append(f"| {style} | {found:.0%} | {f1s} | {false} |")
    on_key, down = fingers_on_keys(clips)
    lines += ["", f"With the renderer's exact fingertips, a fingertip lies on (evidence above 0.9) {on_key:.1f} keys "
              f"per frame, and only {down:.0%} of those keys are down: every pressed key has a finger on it,"
              " but resting fingers cover several more, so the evidence can rule keys out but hardly in."]
    cpu_ms = float(np.mean([c.mediapipe_cpu_ms for c in clips]))
    lines += ["", f"mediapipe (full hand model, frames shrunk to 640 px wide) cost {cpu_ms:.0f} CPU ms per frame on "
              f"these clips when they were first run; the whole benchmark took {time.perf_counter() - started:.0f} s "
              "(cached activations and tracks are reused: delete out/fusion-cache to measure again)."]
    return lines


if __name__ == "__main__":
    print("\n".join(main(float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS)))
