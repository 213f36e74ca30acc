"""Sharded synthetic training data: short clips of MIDI performances rendered by ``bridge.synth``.

Each shard is one clip: ``NAME.mp4`` (H.264), ``NAME.npz`` (labels, docs/synth.md), ``NAME.mid`` (the
ground truth of the clip, times from the clip's first frame) and ``NAME.json`` (how it was drawn). Every
choice of a shard (song, start, tempo, style, size, fps, render seed) comes from ``(seed, shard index)``,
so a build is reproducible and an interrupted build resumes where it stopped (finished shards are kept).

Split of songs: a file whose name is a number (pop909: ``001.mid`` .. ``909.mid``) is in the validation
split when the number is 851 or more, in the training split otherwise; any other file goes to validation
when ``crc32(name) % 10 == 0``.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bridge.errors import InputFileError, VmbError
from bridge.midi import Track, write_midi
from bridge.synth import RenderConfig, render_to_files
from bridge.synth.notes_io import read_notes
from bridge.types import Note

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
FIRST_VALIDATION_SONG = 851
STYLE_WEIGHTS = {"grand": 0.3, "upright": 0.2, "digital": 0.25, "hybrid": 0.15, "synthesia": 0.1}
SIZES = ((640, 360), (960, 540), (1280, 720))
SIZE_WEIGHTS = (0.5, 0.3, 0.2)
FPS_CHOICES = (30.0, 25.0, 24.0)
FPS_WEIGHTS = (0.6, 0.25, 0.15)
TEMPO_RANGE = (0.75, 1.35)  # time-stretch factor: below 1 plays faster
MIDI_SUFFIXES = (".mid", ".midi")


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Everything that decides one shard."""

    name: str
    midi: str
    start: float
    duration: float
    tempo: float
    style: str
    size: tuple[int, int]
    fps: float
    render_seed: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def song_split(path: Path) -> str:
    """``train`` or ``val`` for one MIDI file (see the module docstring)."""
    stem = path.stem
    if stem.isdigit():
        return "val" if int(stem) >= FIRST_VALIDATION_SONG else "train"
    return "val" if zlib.crc32(path.name.encode()) % 10 == 0 else "train"


def split_songs(midi_dir: Path, split: str) -> list[Path]:
    if split not in SPLITS:
        raise VmbError(f"unknown split {split!r}: use train or val")
    if not midi_dir.is_dir():
        raise InputFileError(f"MIDI folder {midi_dir} does not exist: give a folder of .mid files")
    songs = sorted(p for p in midi_dir.iterdir() if p.suffix.lower() in MIDI_SUFFIXES)
    chosen = [p for p in songs if song_split(p) == split]
    if not chosen:
        raise InputFileError(f"{midi_dir} has no MIDI files in the {split} split: check --midi and --split")
    return chosen


def stretch(notes: Sequence[Note], factor: float) -> list[Note]:
    return [replace(n, start=n.start * factor, end=n.end * factor) for n in notes]


def clip_notes(notes: Sequence[Note], start: float, duration: float) -> list[Note]:
    """Notes sounding in ``[start, start + duration)``, cut to it and timed from ``start``."""
    out = []
    for n in notes:
        s, e = max(n.start, start) - start, min(n.end, start + duration) - start
        if e > s:
            out.append(replace(n, start=s, end=e))
    return out


def plan_shards(songs: Sequence[Path], n_shards: int, clip_seconds: float, seed: int, split: str,
                song_length: Callable[[Path], float]) -> list[ShardSpec]:
    """Draw every shard's song, clip, tempo, style, size and fps from ``(seed, index)``."""
    styles = list(STYLE_WEIGHTS)
    style_p = np.array(list(STYLE_WEIGHTS.values()))
    specs = []
    for index in range(n_shards):
        rng = np.random.default_rng([seed, index, zlib.crc32(split.encode())])
        song = songs[int(rng.integers(len(songs)))]
        tempo = float(rng.uniform(*TEMPO_RANGE))
        length = song_length(song) * tempo
        start = float(rng.uniform(0.0, max(length - clip_seconds, 0.0)))
        specs.append(ShardSpec(
            name=f"{split}_{seed:03d}_{index:05d}",
            midi=str(song),
            start=round(start, 3),
            duration=clip_seconds,
            tempo=round(tempo, 4),
            style=styles[int(rng.choice(len(styles), p=style_p / style_p.sum()))],
            size=SIZES[int(rng.choice(len(SIZES), p=SIZE_WEIGHTS))],
            fps=FPS_CHOICES[int(rng.choice(len(FPS_CHOICES), p=FPS_WEIGHTS))],
            render_seed=int(rng.integers(0, 2**31 - 1)),
        ))
    return specs


def render_shard(spec: ShardSpec, out_dir: Path) -> Path:
    """Render one shard (skipped when its files are already complete); returns the labels path."""
    base = out_dir / spec.name
    labels_path, meta_path = base.with_suffix(".npz"), base.with_suffix(".json")
    if meta_path.exists() and labels_path.exists() and base.with_suffix(".mp4").exists():
        return labels_path
    import cv2

    cv2.setNumThreads(1)
    notes, sustain = read_notes(Path(spec.midi))
    notes = [n for n in stretch(notes, spec.tempo) if 21 <= n.pitch <= 108]
    sustain = [(t * spec.tempo, down) for t, down in sustain]
    clip = clip_notes(notes, spec.start, spec.duration)
    if not clip:  # a silent stretch of the song: render from its first note instead
        spec = replace(spec, start=round(min(n.start for n in notes), 3))
        clip = clip_notes(notes, spec.start, spec.duration)
    config = RenderConfig(style=spec.style, seed=spec.render_seed, size=spec.size, fps=spec.fps,
                          start=spec.start, duration=spec.duration)
    tmp_video, tmp_labels = base.with_suffix(".part.mp4"), base.with_suffix(".part.npz")
    render_to_files(notes, config, tmp_video, tmp_labels, sustain)
    write_midi(base.with_suffix(".mid"), [Track("piano", tuple(sorted(clip)), 0, 0)])
    tmp_video.replace(base.with_suffix(".mp4"))
    tmp_labels.replace(labels_path)
    meta_path.write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    return labels_path


def _song_length(path: Path) -> float:
    notes, _ = read_notes(path)
    return max((n.end for n in notes), default=0.0)


def build(midi_dir: Path, out_dir: Path, hours: float, split: str, seed: int, workers: int = 1,
          clip_seconds: float = 20.0, progress: Callable[[int, int], None] | None = None) -> list[ShardSpec]:
    """Render ``hours`` of clips from the ``split`` songs of ``midi_dir`` into ``out_dir``; writes manifest.json."""
    if hours <= 0 or clip_seconds <= 0:
        raise VmbError("--hours and the clip length must be positive")
    if workers < 1:
        raise VmbError(f"--workers must be at least 1, got {workers}")
    songs = split_songs(midi_dir, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_shards = max(1, math.ceil(hours * 3600 / clip_seconds))
    specs = plan_shards(songs, n_shards, clip_seconds, seed, split, _song_length)
    done = 0
    if workers == 1:
        for spec in specs:
            render_shard(spec, out_dir)
            done += 1
            if progress:
                progress(done, len(specs))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(render_shard, specs, [out_dir] * len(specs)):
                done += 1
                if progress:
                    progress(done, len(specs))
    final = [_read_spec(out_dir / f"{s.name}.json") for s in specs]
    manifest = {"split": split, "seed": seed, "hours": hours, "clip_seconds": clip_seconds,
                "midi_dir": str(midi_dir), "shards": [s.to_json() for s in final]}
    (out_dir / f"manifest_{split}_{seed:03d}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return final


def _read_spec(path: Path) -> ShardSpec:
    """The spec a shard was rendered with (its start may have moved to the song's first note)."""
    data = json.loads(path.read_text())
    return ShardSpec(str(data["name"]), str(data["midi"]), float(data["start"]), float(data["duration"]),
                     float(data["tempo"]), str(data["style"]), (int(data["size"][0]), int(data["size"][1])),
                     float(data["fps"]), int(data["render_seed"]))


def list_shards(data_dir: Path) -> list[Path]:
    """Base paths (without suffix) of the complete shards in a folder."""
    return sorted(p.with_suffix("") for p in data_dir.glob("*.json")
                  if not p.name.startswith("manifest") and p.with_suffix(".npz").exists())
