"""Offline rendering speed (x real time on 1 core, in-process) and peak memory for a one-hour file.

Cases: the SoundFont default on dense synthetic chords and on a real POP909 song, the project's test
synth (VST3), and the test synth with pedalboard effects. Needs tests/plugins/build.sh (run here).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bridge.instrument_presets import DEFAULT_PRESET, EffectSpec, InstrumentPreset, Vst3Instrument
from bridge.midi import Track, read_midi
from bridge.render import RenderSettings, end_of, parts_from_score, render_stems
from bridge.types import Note

TITLE = "Offline rendering (vmb render)"
ROOT = Path(__file__).resolve().parent.parent
SONG = ROOT.parent / "shared" / "data" / "midi" / "pop909" / "001.mid"
SYNTH = ROOT / "tests" / "plugins" / "build" / "bin" / "VmbTestSynth.vst3"
SECONDS = 60.0
HOUR = 3600.0


def chords(seconds: float) -> Track:
    """Two-note chords, 8 a second, 0.2 s long: denser than most parts."""
    notes = []
    for i in range(int(seconds * 8)):
        t = i / 8
        notes += [Note(t, t + 0.2, 48 + (i * 5) % 36, 90), Note(t, t + 0.2, 60 + (i * 7) % 24, 80)]
    return Track("bench", tuple(notes))


def _timed(parts: Sequence[Track], presets: Sequence[InstrumentPreset]) -> tuple[float, float]:
    """(wall, CPU) seconds to render ``parts`` in-process with no tail, stems written to 24-bit WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        results = render_stems(parts, Path(tmp), presets, RenderSettings(isolate=False, tail=0.0))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = [r.error for r in results if r.error]
    assert not failed, failed
    return wall, cpu


def _peak_rss_mb(seconds: float) -> float:
    """Peak RSS of a fresh process that renders ``seconds`` of chords with the SoundFont default."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return float(pool.apply(_render_and_measure, (seconds,)))


def _render_and_measure(seconds: float) -> float:
    _timed([chords(seconds)], [DEFAULT_PRESET])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cases() -> list[tuple[str, list[Track], list[InstrumentPreset]]]:
    synth = Vst3Instrument(str(SYNTH))
    effects = (EffectSpec("compressor", parameters={"threshold_db": -20.0}), EffectSpec("reverb"))
    dense = [chords(SECONDS)]
    song = parts_from_score(read_midi(SONG))
    return [
        ("SoundFont default, dense chords", dense, [DEFAULT_PRESET]),
        (f"SoundFont default, POP909 {SONG.stem} ({len(song)} stems)", song, [DEFAULT_PRESET] * len(song)),
        ("test synth (VST3), dense chords", dense, [InstrumentPreset("synth", synth)]),
        ("test synth + compressor + reverb, dense chords", dense, [InstrumentPreset("chain", synth, effects)]),
    ]


def main() -> list[str]:
    subprocess.run(["sh", str(ROOT / "tests/plugins/build.sh")], check=True, capture_output=True)
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        lines = [
            "| case | audio s | wall s | CPU s | x real time (wall) | x real time (CPU) |",
            "|---|---|---|---|---|---|",
        ]
        for name, parts, presets in _cases():
            audio = sum(max(end_of(p) for p in parts) for _ in parts)
            wall, cpu = _timed(parts, presets)
            lines.append(f"| {name} | {audio:.0f} | {wall:.2f} | {cpu:.2f} | {audio / wall:.0f} | {audio / cpu:.0f} |")
        minute, hour = _peak_rss_mb(SECONDS), _peak_rss_mb(HOUR)
        load = os.getloadavg()[1]
    finally:
        os.sched_setaffinity(0, cores)
    return [
        *lines,
        "",
        f"Peak RSS of a process rendering one stem with the SoundFont default: {minute:.0f} MB for {SECONDS:.0f} s"
        f" of audio, {hour:.0f} MB for one hour (blocks of 10 s; the stem is written as it renders).",
        f"Pinned to one core (sched_setaffinity); load average {load:.1f} on {os.cpu_count()} cores during the run."
        " CPU s is this process's CPU time, the fair figure when other work shares the machine."
        " Each stem rendered in a child process (VST3 presets) adds about 0.3-0.5 s to start it.",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
