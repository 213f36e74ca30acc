"""``vmb render``: MIDI to one audio stem per track (or channel) through a SoundFont or VST3 presets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from bridge.errors import PresetError
from bridge.instrument_presets import DEFAULT_PRESET, InstrumentPreset, load_preset
from bridge.midi import Track, read_midi
from bridge.render import (
    BIT_DEPTHS,
    FORMATS,
    SPLITS,
    RenderSettings,
    StemResult,
    end_of,
    mix_stems,
    parts_from_score,
    render_stems,
)
from bridge.render_restyle import restyle

NAME = "render"
HELP = "render a MIDI file to audio stems (one per track or channel) with a SoundFont or VST3 instrument presets"
EXAMPLE = "vmb render song.mid -o stems/ --track-preset Piano=presets/instruments/piano-hall.toml --mix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("midi", type=Path, help="the MIDI file to render")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the stems")
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        metavar="FILE",
        help="instrument preset (TOML or a name in presets/instruments/) for every part; "
        "repeat to give one per part in order",
    )
    parser.add_argument(
        "--track-preset",
        action="append",
        default=[],
        metavar="PART=FILE",
        help="preset for the part with this name (or 1-based number)",
    )
    parser.add_argument(
        "--restyle",
        metavar="NAMES",
        help="comma-separated GM instrument names or presets for the pitched parts in order, e.g. violin,cello",
    )
    parser.add_argument("--split", choices=SPLITS, default="track", help="one stem per MIDI track or per channel")
    parser.add_argument("--sample-rate", type=int, default=48000)
    parser.add_argument("--format", choices=FORMATS, default="wav")
    parser.add_argument("--bit-depth", choices=sorted(BIT_DEPTHS), default="24")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds after the last note (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a stem may take before it is stopped")
    parser.add_argument("--mix", action="store_true", help="also write mix.<format>, the sum of the stems")


def _choose(parts: list[Track], args: argparse.Namespace) -> list[InstrumentPreset]:
    chosen = [DEFAULT_PRESET] * len(parts)
    if args.preset:
        presets = [load_preset(p) for p in args.preset]
        chosen = [presets[min(i, len(presets) - 1)] for i in range(len(parts))]
    if args.restyle:
        chosen = restyle(parts, args.restyle.split(","), chosen)
    for item in args.track_preset:
        key, sep, file = item.partition("=")
        if not sep:
            raise PresetError(f"--track-preset {item!r}: write PART=FILE, e.g. Piano=piano-hall.toml")
        hits = [i for i, p in enumerate(parts) if p.name == key or str(i + 1) == key]
        if not hits:
            raise PresetError(f"no part {key!r}; parts: {', '.join(p.name for p in parts)}")
        for i in hits:
            chosen[i] = load_preset(file)
    return chosen


def _render(parts: list[Track], presets: list[InstrumentPreset], args: argparse.Namespace,
            settings: RenderSettings) -> list[StemResult]:
    seconds = max(end_of(p) for p in parts) + settings.tail
    # seconds of audio rendered (so the rate reads as x real time); only on a terminal, after the first second
    with tqdm(total=round(seconds * len(parts)), unit="s", file=sys.stderr, disable=None, delay=1.0) as bar:
        done = [0.0] * len(parts)

        def advance(index: int, fraction: float) -> None:
            bar.set_description(parts[index].name[:24])
            done[index] = fraction * seconds
            bar.update(round(sum(done)) - bar.n)

        return render_stems(parts, args.out, presets, settings, advance)


def run(args: argparse.Namespace) -> int:
    parts = parts_from_score(read_midi(args.midi), args.split)
    if not parts:
        print(f"{args.midi} has no notes: nothing to render", file=sys.stderr)
        return 1
    settings = RenderSettings(
        sample_rate=args.sample_rate,
        audio_format=args.format,
        bit_depth=args.bit_depth,
        tail=args.tail,
        timeout=args.timeout,
    )
    results = _render(parts, _choose(parts, args), args, settings)
    for result in results:
        if result.path is not None:
            print(
                f"{result.path}  ({result.part}, {result.preset},"
                f" peak {result.peak_db:.1f} dBFS, rendered in {result.seconds:.1f} s)"
            )
        else:
            print(f"FAILED {result.part} ({result.preset}): {result.error}", file=sys.stderr)
    written = [r.path for r in results if r.path is not None]
    if args.mix and written:
        mix = args.out / f"mix.{args.format}"
        peak = mix_stems(written, mix, settings)
        print(f"{mix}  (mix of {len(written)} stems, peak {peak:.1f} dBFS)")
    return 0 if len(written) == len(results) else 1
