"""``vmb render``: MIDI to one audio stem per track through a SoundFont or VST3 presets."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bridge.errors import PresetError
from bridge.instrument_presets import DEFAULT_PRESET, InstrumentPreset, SoundFontInstrument, load_preset
from bridge.render import BIT_DEPTHS, FORMATS, RenderSettings, RenderTrack, mix_stems, render_stems, tracks_from_score

NAME = "render"
HELP = "render a MIDI file to audio stems (one per track) with a SoundFont or VST3 instrument presets"
EXAMPLE = "vmb render song.mid -o stems/ --track-preset Piano=presets/instruments/piano-hall.toml --mix"

# playable range (lowest, highest MIDI pitch) of instruments named in --restyle; others: 36-96
RANGES = {
    "violin": (55, 103),
    "viola": (48, 91),
    "cello": (36, 76),
    "contrabass": (28, 67),
    "flute": (60, 96),
    "piccolo": (74, 108),
    "clarinet": (50, 94),
    "oboe": (58, 91),
    "bassoon": (34, 75),
    "trumpet": (54, 86),
    "trombone": (40, 72),
    "tuba": (28, 58),
    "french horn": (34, 77),
    "acoustic bass": (28, 67),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("midi", type=Path, help="the MIDI file to render")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the stems")
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        metavar="FILE",
        help="instrument preset (TOML or a name in presets/instruments/) for every track; "
        "repeat to give one per track in order",
    )
    parser.add_argument(
        "--track-preset",
        action="append",
        default=[],
        metavar="TRACK=FILE",
        help="preset for the track with this name (or 1-based number)",
    )
    parser.add_argument(
        "--restyle",
        metavar="NAMES",
        help="comma-separated GM instrument names or presets, one per track, e.g. violin,cello",
    )
    parser.add_argument("--sample-rate", type=int, default=48000)
    parser.add_argument("--format", choices=FORMATS, default="wav")
    parser.add_argument("--bit-depth", choices=sorted(BIT_DEPTHS), default="24")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds after the last note (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a stem may take before it is stopped")
    parser.add_argument("--mix", action="store_true", help="also write mix.<format>, the sum of the stems")


def _gm_program(name: str) -> int:
    import pretty_midi

    wanted = name.strip().lower()
    names = [pretty_midi.program_to_instrument_name(p).lower() for p in range(128)]
    for exact in (True, False):
        for program, gm in enumerate(names):
            if (gm == wanted) if exact else (wanted in gm):
                return program
    raise PresetError(f"{name!r} is neither a preset nor a General MIDI instrument name (e.g. violin, cello, flute)")


def _restyled(track: RenderTrack, name: str) -> InstrumentPreset:
    if Path(name).suffix == ".toml" or Path(name).exists():
        return load_preset(name)
    program = _gm_program(name)
    low, high = next((r for key, r in RANGES.items() if key in name.lower()), (36, 96))
    median = statistics.median(n.pitch for n in track.notes)
    shift = 0
    while median + shift < low and shift < 48:
        shift += 12
    while median + shift > high and shift > -48:
        shift -= 12
    return InstrumentPreset(
        name=name.strip().replace(" ", "-"), instrument=SoundFontInstrument(program=program), transpose=shift
    )


def _choose(tracks: list[RenderTrack], args: argparse.Namespace) -> list[InstrumentPreset]:
    chosen = [DEFAULT_PRESET] * len(tracks)
    if args.preset:
        presets = [load_preset(p) for p in args.preset]
        chosen = [presets[min(i, len(presets) - 1)] for i in range(len(tracks))]
    if args.restyle:
        names = [n for n in args.restyle.split(",") if n.strip()]
        chosen = [_restyled(track, names[min(i, len(names) - 1)]) for i, track in enumerate(tracks)]
    for item in args.track_preset:
        key, sep, file = item.partition("=")
        if not sep:
            raise PresetError(f"--track-preset {item!r}: write TRACK=FILE, e.g. Piano=piano-hall.toml")
        hits = [i for i, t in enumerate(tracks) if t.name == key or str(i + 1) == key]
        if not hits:
            raise PresetError(f"no track {key!r}; tracks: {', '.join(t.name for t in tracks)}")
        for i in hits:
            chosen[i] = load_preset(file)
    return chosen


def _progress(name: str, fraction: float) -> None:
    filled = int(fraction * 30)
    sys.stderr.write(f"\r{name[:20]:<20} [{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}%")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from bridge.midi import read_midi

    tracks = tracks_from_score(read_midi(args.midi))
    if not tracks:
        print(f"{args.midi} has no notes: nothing to render", file=sys.stderr)
        return 1
    settings = RenderSettings(
        sample_rate=args.sample_rate,
        audio_format=args.format,
        bit_depth=args.bit_depth,
        tail=args.tail,
        timeout=args.timeout,
    )
    results = render_stems(
        tracks, args.out, _choose(tracks, args), settings, _progress if sys.stderr.isatty() else None
    )
    for result in results:
        if result.path is not None:
            print(
                f"{result.path}  ({result.track}, {result.preset},"
                f" peak {result.peak_db:.1f} dBFS, rendered in {result.seconds:.1f} s)"
            )
        else:
            print(f"FAILED {result.track} ({result.preset}): {result.error}", file=sys.stderr)
    written = [r.path for r in results if r.path is not None]
    if args.mix and written:
        mix = args.out / f"mix.{args.format}"
        peak = mix_stems(written, mix, settings)
        print(f"{mix}  (mix of {len(written)} stems, peak {peak:.1f} dBFS)")
    return 0 if len(written) == len(results) else 1
