"""Speed of reading MIDI and of scoring a transcription (vmb eval) on the real performances."""

from __future__ import annotations

import time
from pathlib import Path

from bridge.midi import read_midi
from bridge.scoring import best_shift, score, shift_notes

TITLE = "MIDI reading and scoring"
MIDITEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "miditest"


def main() -> list[str]:
    files = sorted(MIDITEST.glob("*.mid"))
    t0 = time.perf_counter()
    scores = [read_midi(p) for p in files]
    read_s = time.perf_counter() - t0
    notes = [s.notes for s in scores]
    t0 = time.perf_counter()
    for n in notes:
        score(n, shift_notes(n, 0.02))
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in notes:
        best_shift(n, shift_notes(n, 0.07))
    shift_s = time.perf_counter() - t0
    total = sum(len(n) for n in notes)
    return [
        "| what | figure |", "|---|---|",
        f"| read {len(files)} miditest files ({total} notes) | {read_s * 1000:.0f} ms |",
        f"| score all 8 (onset, onset+offset, frame, velocity) | {score_s * 1000:.0f} ms |",
        f"| best-shift search on all 8 | {shift_s * 1000:.0f} ms |",
    ]
