"""Synthetic video render speed per style at 1280x720 (drawing on one core, then with H.264 encoding)."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import cv2

from bridge.midi import read_midi
from bridge.synth.render import RenderConfig, render_frames, render_to_files

TITLE = "Synthetic video rendering (1280x720, 30 fps, miditest 5.mid)"
MIDI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi" / "miditest" / "5.mid"
STYLES = ("grand", "upright", "digital", "synthesia", "hybrid")
SEEDS = (1, 2, 3)
SECONDS = 6.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> list[str]:
    cv2.setNumThreads(1)
    notes = read_midi(MIDI).notes
    lines = [f"Drawing is timed in CPU seconds of this process (frames per second per core, mean of seeds "
             f"{', '.join(map(str, SEEDS))}, {SECONDS:g} s each, from 10 s into the piece); encoding adds the "
             "CPU seconds of ffmpeg (libx264 veryfast, 4 threads).", "",
             "| style | drawing, frames/s per core | slowest seed | drawing + H.264, frames/s per core |",
             "|---|---|---|---|"]
    for style in STYLES:
        draw, total = [], []
        for seed in SEEDS:
            config = RenderConfig(style=style, seed=seed, start=10.0, duration=SECONDS)
            _, frames, _ = render_frames(notes, config)
            t0 = time.process_time()
            count = sum(1 for _ in frames)
            draw.append(count / (time.process_time() - t0))
            with tempfile.TemporaryDirectory() as tmp:
                t0, c0 = time.process_time(), _children_cpu()
                render_to_files(notes, config, Path(tmp) / "v.mp4", None)
                total.append(count / (time.process_time() - t0 + _children_cpu() - c0))
        lines.append(f"| {style} | {sum(draw) / len(draw):.0f} | {min(draw):.0f} | {sum(total) / len(total):.0f} |")
    return lines
