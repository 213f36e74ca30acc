"""Offline rendering speed (x real time on 1 core, in-process) and peak memory for a one-hour file.

Cases: the SoundFont default on dense synthetic chords and on a real POP909 song, the project's test
synth (VST3), and the test synth with pedalboard effects. Then what each FluidSynth choice costs, measured
in the same run as CPU-time ratios to the default. Needs tests/plugins/build.sh (run here).
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

from bridge.instrument_presets import DEFAULT_PRESET, EffectSpec, InstrumentPreset, SoundFontInstrument, Vst3Instrument
from bridge.midi import Track, read_midi
from bridge.render import RenderSettings, end_of, make_engine, parts_from_score, render_stems
from bridge.render_engines import EffectChain, Engine, SoundFontEngine
from bridge.types import Note

TITLE = "Offline rendering (vmb render)"
ROOT = Path(__file__).resolve().parent.parent
SONG = ROOT.parent / "shared" / "data" / "midi" / "pop909" / "001.mid"
SYNTH = ROOT / "tests" / "plugins" / "build" / "bin" / "VmbTestSynth.vst3"
SECONDS = 60.0
RATE = 48000
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
    # ru_maxrss of a spawned child starts at its parent's RSS (Linux keeps the high-water mark across fork and
    # exec): reset the child's own mark first where the kernel allows it, and read it back from /proc
    clear_refs, status = Path("/proc/self/clear_refs"), Path("/proc/self/status")
    try:
        clear_refs.write_text("5")
    except OSError:
        status = Path("/nonexistent")
    _timed([chords(seconds)], [DEFAULT_PRESET])
    if status.is_file():
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
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


def _variants() -> list[tuple[str, InstrumentPreset, bool]]:
    """(name, preset, skip silence) for the SoundFont default and each alternative way to drive FluidSynth."""
    dry = SoundFontInstrument(reverb=False)
    freeverb = EffectSpec("reverb", parameters={"room_size": 0.2, "damping": 0.0, "width": 0.5, "wet_level": 0.1})
    return [
        ("default: FluidSynth reverb, 4th-order interpolation, silence skipped", DEFAULT_PRESET, True),
        ("silence rendered (FluidSynth called for every sample, as before)", DEFAULT_PRESET, False),
        ("no reverb (dry stem)", InstrumentPreset("dry", dry), True),
        ("no FluidSynth reverb, pedalboard Reverb on the stem", InstrumentPreset("freeverb", dry, (freeverb,)), True),
        ("linear interpolation (duller highs)", InstrumentPreset("linear", SoundFontInstrument(interpolation=1)), True),
        ("7th-order interpolation", InstrumentPreset("7th", SoundFontInstrument(interpolation=7)), True),
    ]


def _ablation(cases: list[tuple[str, list[Track]]]) -> list[str]:
    """CPU time of each variant on the same parts: the variants render each block in turn, so a change in the
    machine's load during the run falls on all of them alike."""
    variants = _variants()
    cpu = [[0.0] * len(cases) for _ in variants]
    for column, (_, parts) in enumerate(cases):
        total = round(max(end_of(p) for p in parts) * RATE)
        for part in parts:
            players = [_player(part, preset, skip) for _, preset, skip in variants]
            for start in range(0, total, RATE):
                for row, (engine, chain) in enumerate(players):
                    began = time.process_time()
                    chain.process(engine.render(start / RATE, min(RATE, total - start)))
                    cpu[row][column] += time.process_time() - began
    lines = [
        "| FluidSynth driven with | " + " | ".join(f"{name}: CPU s | ratio" for name, _ in cases) + " |",
        "|---|" + "---|---|" * len(cases),
    ]
    for (label, _, _), row_cpu in zip(variants, cpu, strict=True):
        cells = [f"{seconds:.2f} | {default / seconds:.2f}" for default, seconds in zip(cpu[0], row_cpu, strict=True)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _player(part: Track, preset: InstrumentPreset, skip_silence: bool) -> tuple[Engine, EffectChain]:
    engine = make_engine(part, preset, RATE)
    if isinstance(engine, SoundFontEngine) and not skip_silence:
        engine.quiet_level = 0.0  # never quiet: every sample rendered
    return engine, EffectChain(preset.effects, RATE)


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
        song = parts_from_score(read_midi(SONG))
        ablation = _ablation([("dense chords", [chords(SECONDS)]), (f"POP909 {SONG.stem}", song)])
        minute, hour = _peak_rss_mb(SECONDS), _peak_rss_mb(HOUR)
        load = os.getloadavg()[1]
    finally:
        os.sched_setaffinity(0, cores)
    return [
        *lines,
        "",
        "What each way of driving FluidSynth costs (CPU s of the instrument and its effects, blocks of 1 s, the"
        " variants in turn on each block; ratio: the default's CPU time over this one's, above 1 is faster):",
        "",
        *ablation,
        "",
        f"Peak RSS of a process rendering one stem with the SoundFont default: {minute:.0f} MB for {SECONDS:.0f} s"
        f" of audio, {hour:.0f} MB for one hour (blocks of 10 s; the stem is written as it renders).",
        f"Pinned to one core (sched_setaffinity); load average {load:.1f} on {os.cpu_count()} cores during the run."
        " CPU s is this process's CPU time, the fair figure when other work shares the machine."
        " Each stem rendered in a child process (VST3 presets) adds about 0.3-0.5 s to start it.",
    ]


if __name__ == "__main__":
    print("\n".join(main()))
