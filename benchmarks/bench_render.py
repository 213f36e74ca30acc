"""Render speed (x real time, in-process, 1 core) for the SoundFont default, the test synth and an effect chain.

Run: taskset -c 0 .venv/bin/python benchmarks/bench_render.py [--seconds 60] [--out benchmarks/render.json]
Needs tests/plugins/build.sh to have run. Writes JSON to --out and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bridge.instrument_presets import DEFAULT_PRESET, EffectSpec, InstrumentPreset, Vst3Instrument
from bridge.render import RenderSettings, RenderTrack, render_stems
from bridge.types import Note

ROOT = Path(__file__).resolve().parent.parent


def _track(seconds: float) -> RenderTrack:
    notes = []
    for i in range(int(seconds * 8)):  # 8 notes a second, two-note chords
        t = i / 8
        notes += [Note(t, t + 0.2, 48 + (i * 5) % 36, 90), Note(t, t + 0.2, 60 + (i * 7) % 24, 80)]
    return RenderTrack("bench", tuple(notes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "render.json")
    args = parser.parse_args()
    subprocess.run(["sh", str(ROOT / "tests/plugins/build.sh")], check=True, capture_output=True)
    synth = Vst3Instrument(str(ROOT / "tests/plugins/build/bin/VmbTestSynth.vst3"))
    cases = {
        "soundfont default": DEFAULT_PRESET,
        "test synth": InstrumentPreset("synth", synth),
        "test synth + compressor + reverb": InstrumentPreset(
            "chain", synth, (EffectSpec("compressor", parameters={"threshold_db": -20.0}), EffectSpec("reverb"))
        ),
    }
    track = _track(args.seconds)
    results = {}
    for name, preset in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            [res] = render_stems([track], Path(tmp), [preset], RenderSettings(isolate=False, tail=0.0))
            elapsed = time.perf_counter() - began
        assert res.error is None, res.error
        results[name] = {
            "audio_s": args.seconds,
            "wall_s": round(elapsed, 3),
            "x_realtime": round(args.seconds / elapsed, 1),
        }
    results["peak_rss_mb"] = {"value": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.out.write_text(json.dumps(results, indent=2))
    print("| case | audio s | wall s | x real time |\n|---|---|---|---|")
    for name, row in results.items():
        if "x_realtime" in row:
            print(f"| {name} | {row['audio_s']:.0f} | {row['wall_s']:.2f} | {row['x_realtime']:.0f} |")
    print(f"peak RSS {results['peak_rss_mb']['value']:.0f} MB")


if __name__ == "__main__":
    main()
