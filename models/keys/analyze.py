"""Error analysis of the key model: ``python -m models.keys.analyze [--model ONNX] [--decoder JSON]``.

Caches the model's activations over the validation clips and the benchmark set (``out/keys/analysis``),
then breaks the decoded notes' errors down: misses and false notes, timing, black/white keys, keyboard
ends, notes under a hand, short, repeated and chord notes, per style.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge import dataset
from bridge.decoding import DecoderSettings
from bridge.geometry import is_black
from bridge.midi import read_midi
from bridge.model import KeyModel
from bridge.scoring import Scores
from bridge.types import Activations, Note
from models.keys.evaluate import OUT, REPO, clip_activations, clip_score, decoded, summary

log = logging.getLogger("models.keys.analyze")
CACHE = OUT / "analysis"


@dataclass(frozen=True)
class Clip:
    name: str
    style: str
    activations: list[Activations]
    truth: list[Note]
    fps: float
    labels: dict[str, NDArray[np.generic]]


BENCHMARK_SET = REPO / "out" / "benchmark-set"  # `make benchmark-set`: 20 s clips, 25 vfr / 30 / 60 fps, 360p-720p


def clip_bases(clip_set: str) -> list[Path]:
    """``evaluate``: the validation clips and the evaluation's benchmark; ``benchmark-set``: `make benchmark-set`."""
    if clip_set == "benchmark-set":
        return sorted(p.with_suffix("") for p in BENCHMARK_SET.glob("*.mp4"))
    return dataset.list_shards(OUT / "data" / "val") + sorted(
        p.with_suffix("") for p in (OUT / "bench").glob("bench_*.mp4"))


def style_of(base: Path) -> str:
    if base.name.startswith("bench_"):
        return base.name.rsplit("_", 1)[1]
    return base.name.split("-")[1] if "-" in base.name else "val"


def cache_activations(model: KeyModel, folder: Path, clip_set: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for base in clip_bases(clip_set):
        target = folder / f"{base.name}.npz"
        if target.exists():
            continue
        activations = clip_activations(base, model)
        np.savez_compressed(target, t=np.array([a.t for a in activations]),
                            onset=np.stack([a.onset for a in activations]),
                            frame=np.stack([a.frame for a in activations]),
                            velocity=np.stack([a.velocity for a in activations]))
        log.info("cached %s", target.name)


def load_clips(folder: Path, clip_set: str = "evaluate") -> list[Clip]:
    clips = []
    for base in clip_bases(clip_set):
        with np.load(folder / f"{base.name}.npz") as cached:
            activations = [Activations(float(t), o, f, v) for t, o, f, v in
                           zip(cached["t"], cached["onset"], cached["frame"], cached["velocity"], strict=True)]
        with np.load(base.with_suffix(".npz")) as data:
            labels = {k: data[k] for k in data.files}
        clips.append(Clip(base.name, style_of(base), activations, read_midi(base.with_suffix(".mid")).notes,
                          float(labels["fps"]), labels))
    return clips


def match(truth: Sequence[Note], estimate: Sequence[Note], tolerance: float = 0.05,
          ) -> tuple[list[tuple[Note, Note]], list[Note], list[Note]]:
    """Greedy onset matching by pitch and nearest start: (pairs, missed truth notes, false estimated notes)."""
    free = sorted(estimate, key=lambda n: n.start)
    pairs, missed = [], []
    for note in sorted(truth, key=lambda n: n.start):
        candidates = [e for e in free if e.pitch == note.pitch and abs(e.start - note.start) <= tolerance]
        if candidates:
            best = min(candidates, key=lambda e: abs(e.start - note.start))
            free.remove(best)
            pairs.append((note, best))
        else:
            missed.append(note)
    return pairs, missed, free


def miss_cause(note: Note, clip: Clip, onset_threshold: float) -> str:
    """Why a truth note may have been missed, the first that applies."""
    times = np.array([a.t for a in clip.activations])
    if note.start < 1.5 / clip.fps:
        return "sounding_at_clip_start"
    if note.start > times[-1]:
        return "starts_after_last_frame"
    earlier = [n.end for n in clip.truth if n.pitch == note.pitch and n.start < note.start]
    gap = note.start - max(earlier) if earlier else np.inf
    if gap < 0:
        return "same_pitch_still_sounding"  # doubled in another part of the MIDI: the key never moves
    if gap < 1 / clip.fps:
        return "restrike_gap_under_1_frame"
    frame = int(np.argmin(np.abs(times - note.start)))
    peak = max(float(a.onset[note.pitch - 21]) for a in clip.activations[max(frame - 2, 0):frame + 3])
    return "weak_onset" if peak < onset_threshold else "other"


def false_cause(note: Note, clip: Clip) -> str:
    """What a false note looks like: one frame long, an onset on a key the truth holds down, or other."""
    frame = min(round(note.start * clip.fps), len(clip.labels["key_state"]) - 1)
    if note.end - note.start <= 1.01 / clip.fps:
        return "one_frame_blip"
    if bool(clip.labels["key_state"][frame, note.pitch - 21]):
        return "onset_on_held_key"
    return "other"


def note_traits(note: Note, clip: Clip) -> list[str]:
    """Traits of a truth note, to compare the recall of groups of notes."""
    traits = ["black" if is_black(note.pitch) else "white"]
    lowest, count = int(clip.labels["lowest_pitch"]), int(clip.labels["key_count"])
    if note.pitch - lowest < 5 or lowest + count - 1 - note.pitch < 5:
        traits.append("within_5_keys_of_an_end")
    if note.end - note.start < 0.1:
        traits.append("shorter_than_100ms")
    if sum(1 for n in clip.truth if abs(n.start - note.start) < 0.02) >= 3:
        traits.append("chord_of_3_or_more")
    return traits


def breakdown(clips: Sequence[Clip], settings: DecoderSettings) -> dict[str, object]:
    """Per style: counts of matched, missed and false notes at 50 ms, their likely causes, timing errors."""
    report: dict[str, object] = {}
    for style in sorted({c.style for c in clips}):
        totals: Counter[str] = Counter()
        misses: Counter[str] = Counter()
        falses: Counter[str] = Counter()
        missed_traits: Counter[str] = Counter()
        all_traits: Counter[str] = Counter()
        offsets = []
        for clip in (c for c in clips if c.style == style):
            estimate = decoded(clip.activations, settings, clip.activations[-1].t + 1 / clip.fps,
                               settings.onset_required)
            _, missed, false = match(clip.truth, estimate)
            near_pairs, near_missed, _ = match(clip.truth, estimate, tolerance=0.15)
            totals.update(truth=len(clip.truth), estimate=len(estimate), missed=len(missed), false=len(false),
                          missed_even_at_150ms=len(near_missed))
            offsets += [(e.start - t.start) * clip.fps for t, e in near_pairs]
            misses.update(miss_cause(n, clip, settings.onset_threshold) for n in missed)
            falses.update(false_cause(n, clip) for n in false)
            for note in clip.truth:
                all_traits.update(note_traits(note, clip))
                if note in missed:
                    missed_traits.update(note_traits(note, clip))
        report[style] = {**totals, "missed_by_cause": dict(misses), "false_by_cause": dict(falses),
                         "missed_of_trait": {t: f"{missed_traits[t]}/{all_traits[t]}" for t in sorted(all_traits)},
                         "onset_error_in_frames": dict(sorted(Counter(np.round(offsets).astype(int).tolist()).items()))}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX weights (default: the committed ones)")
    parser.add_argument("--cache", type=Path, default=CACHE / "current", help="folder of cached activations")
    parser.add_argument("--clips", choices=("evaluate", "benchmark-set"), default="evaluate",
                        help="the evaluation's validation and benchmark clips, or out/benchmark-set")
    parser.add_argument("--decoder", help="DecoderSettings fields as JSON, compared with the card's decoder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = KeyModel.load(args.model, threads=2) if args.model else KeyModel.load(threads=2)
    cache_activations(model, args.cache, args.clips)
    clips = load_clips(args.cache, args.clips)
    decoders = {"card": model.card.decoder}
    if args.decoder:
        decoders["given"] = DecoderSettings(**json.loads(args.decoder))
    print(json.dumps({name: {"decoder": str(settings), "onset_f1_50ms": onset_f1(clips, settings),
                             **breakdown(clips, settings)} for name, settings in decoders.items()}, indent=1))


def onset_f1(clips: Sequence[Clip], settings: DecoderSettings) -> dict[str, float]:
    """Mean onset F1 at 50 ms per style (``bridge.scoring``, as the evaluation computes it)."""
    by_style: dict[str, list[Scores]] = {}
    for clip in clips:
        by_style.setdefault(clip.style, []).append(
            clip_score(clip.activations, clip.truth, settings, clip.fps, settings.onset_required))
    return {style: round(float(summary(scores)["onset_f1_50ms"]), 4) for style, scores in sorted(by_style.items())}


if __name__ == "__main__":
    main()
