"""Synthetic video render speed per style at 1280x720 on one core (drawing only, then with H.264 encoding)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2

from bridge.midi import read_midi
from bridge.synth.render import RenderConfig, render_frames, render_to_files

TITLE = "Synthetic video rendering (1280x720, 30 fps, miditest 5.mid)"
MIDI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "miditest" / "5.mid"
STYLES = ("grand", "upright", "digital", "synthesia", "hybrid")
SECONDS = 10.0


def main() -> list[str]:
    cv2.setNumThreads(1)
    notes = read_midi(MIDI).notes
    lines = ["| style | drawing, frames/s on 1 core | drawing + H.264 encoding, frames/s (2 cores) |", "|---|---|---|"]
    for style in STYLES:
        config = RenderConfig(style=style, seed=1, start=10.0, duration=SECONDS)
        _, frames, _ = render_frames(notes, config)
        t0 = time.perf_counter()
        count = sum(1 for _ in frames)
        draw_fps = count / (time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            render_to_files(notes, config, Path(tmp) / "v.mp4", None)
            encode_fps = count / (time.perf_counter() - t0)
        lines.append(f"| {style} | {draw_fps:.0f} | {encode_fps:.0f} |")
    return lines
