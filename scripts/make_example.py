"""Regenerate examples/: the Minuet in G major (BWV Anh. 114, Petzold, 1725; public domain), played.

The notes are written out below, bar by bar (first 16 bars, both hands), then humanized with a fixed
seed (timing, velocity and phrase shaping) and rendered as a grand piano with hands at 1280x720 30 fps:
``examples/minuet.mp4`` (H.264), ``examples/minuet.npz`` (labels, docs/synth.md) and
``examples/minuet.mid`` (the ground truth: left hand on channel 0, right hand on channel 1).
Deterministic: running it again gives the same files. Usage: ``.venv/bin/python scripts/make_example.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bridge.geometry import parse_pitch_name
from bridge.synth import RenderConfig, render_to_files, sample_style
from bridge.types import Note

OUT = Path(__file__).resolve().parents[1] / "examples"
BEAT_S = 0.42
LEAD_IN_S = 0.6
SEED = 1725

# (pitch, beats) per bar; three beats a bar
RIGHT = [
    [("D5", 1), ("G4", .5), ("A4", .5), ("B4", .5), ("C5", .5)], [("D5", 1), ("G4", 1), ("G4", 1)],
    [("E5", 1), ("C5", .5), ("D5", .5), ("E5", .5), ("F#5", .5)], [("G5", 1), ("G4", 1), ("G4", 1)],
    [("C5", 1), ("D5", .5), ("C5", .5), ("B4", .5), ("A4", .5)], [("B4", 1), ("C5", .5), ("B4", .5), ("A4", .5),
                                                                  ("G4", .5)],
    [("F#4", 1), ("G4", .5), ("A4", .5), ("B4", .5), ("G4", .5)], [("A4", 3)],
    [("D5", 1), ("G4", .5), ("A4", .5), ("B4", .5), ("C5", .5)], [("D5", 1), ("G4", 1), ("G4", 1)],
    [("E5", 1), ("C5", .5), ("D5", .5), ("E5", .5), ("F#5", .5)], [("G5", 1), ("G4", 1), ("G4", 1)],
    [("C5", 1), ("D5", .5), ("C5", .5), ("B4", .5), ("A4", .5)], [("B4", 1), ("C5", .5), ("B4", .5), ("A4", .5),
                                                                  ("G4", .5)],
    [("A4", 1), ("B4", .5), ("A4", .5), ("G4", .5), ("F#4", .5)], [("G4", 3)],
]
LEFT = [
    [("G3", 2), ("A3", 1)], [("B3", 3)], [("C4", 3)], [("B3", 3)], [("A3", 3)], [("G3", 3)],
    [("D4", 1), ("B3", 1), ("G3", 1)], [("D4", 1), ("D3", .5), ("C4", .5), ("B3", .5), ("A3", .5)],
    [("B3", 2), ("A3", 1)], [("G3", 1), ("B3", 1), ("G3", 1)], [("C4", 3)],
    [("B3", 1), ("C4", .5), ("B3", .5), ("A3", .5), ("G3", .5)], [("A3", 2), ("F#3", 1)], [("G3", 2), ("B3", 1)],
    [("C4", 1), ("D4", 1), ("D3", 1)], [("G3", 2), ("G2", 1)],
]


def _part(bars: list[list[tuple[str, float]]], channel: int, loudness: int, rng: np.random.Generator) -> list[Note]:
    notes = []
    for index, bar in enumerate(bars):
        beat = 3.0 * index
        phrase = 1.0 + 0.12 * np.sin(np.pi * (index % 4 + beat % 3 / 3) / 4)  # swell over each 4-bar phrase
        for name, beats in bar:
            start = LEAD_IN_S + beat * BEAT_S + float(rng.normal(0.0, 0.012))
            length = beats * BEAT_S * (0.93 if beats < 3 else 0.98) + float(rng.normal(0.0, 0.01))
            accent = 1.1 if beat % 3 == 0 else 1.0  # the downbeat
            velocity = int(np.clip(loudness * phrase * accent + rng.normal(0.0, 4.0), 30, 120))
            notes.append(Note(round(max(start, 0.0), 4), round(start + length, 4), parse_pitch_name(name), velocity,
                              channel))
            beat += beats
    return notes


def performance() -> list[Note]:
    rng = np.random.default_rng(SEED)
    return sorted(_part(LEFT, 0, 58, rng) + _part(RIGHT, 1, 74, rng))


def _style_seed() -> int:
    """The first grand whose camera shows the whole keyboard large and a little tilted, with the player's lap."""
    return next(s for s in range(1000) if 0.85 <= (p := sample_style("grand", s)).fill <= 1.0
                and 8.0 <= p.tilt_deg <= 22.0 and p.lap and p.blur_sigma < 1.0 and p.noise_sigma < 1.5)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    notes = performance()
    duration = max(n.end for n in notes) + 0.6
    config = RenderConfig(style="grand", seed=_style_seed(), size=(1280, 720), fps=30.0, duration=round(duration, 2),
                          max_bitrate_kbps=900, crf=24, hands_from_channels=True)
    render_to_files(notes, config, OUT / "minuet.mp4", OUT / "minuet.npz", midi_path=OUT / "minuet.mid")
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in sorted(OUT.glob("minuet.*")))
    print(f"wrote {len(notes)} notes, {duration:.1f} s, style seed {config.seed}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
