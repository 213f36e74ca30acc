"""Restyle: the same performance played by other instruments (General MIDI programs or presets).

Each pitched part is moved by whole octaves so that its median pitch lies in the new instrument's
playable range; drum parts keep their instrument.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from bridge.errors import PresetError
from bridge.instrument_presets import InstrumentPreset, SoundFontInstrument, find_preset, load_preset
from bridge.midi import DRUM_CHANNEL, Track

# playable range (lowest, highest MIDI pitch) by a word in the instrument's name; the first match wins
RANGES = (
    ("piccolo", (74, 108)),
    ("contrabass", (28, 67)),
    ("violin", (55, 103)),
    ("viola", (48, 91)),
    ("cello", (36, 76)),
    ("flute", (60, 96)),
    ("clarinet", (50, 94)),
    ("oboe", (58, 91)),
    ("bassoon", (34, 75)),
    ("trumpet", (54, 86)),
    ("trombone", (40, 72)),
    ("tuba", (28, 58)),
    ("horn", (34, 77)),
    ("sax", (44, 81)),
    ("bass", (28, 67)),
    ("guitar", (40, 88)),
    ("choir", (48, 81)),
    ("voice", (48, 81)),
    ("piano", (21, 108)),
)
DEFAULT_RANGE = (36, 96)


def gm_program(name: str) -> int | None:
    """The General MIDI program named ``name``: an exact name, else the first that contains it."""
    import pretty_midi

    wanted = name.strip().lower()
    names = [pretty_midi.program_to_instrument_name(p).lower() for p in range(128)]
    exact = [p for p, gm in enumerate(names) if gm == wanted]
    partial = [p for p, gm in enumerate(names) if wanted and wanted in gm]
    found = exact or partial
    return found[0] if found else None


def playable_range(name: str) -> tuple[int, int]:
    lowered = name.lower()
    return next((span for word, span in RANGES if word in lowered), DEFAULT_RANGE)


def octave_shift(part: Track, span: tuple[int, int]) -> int:
    """Whole octaves that bring the part's median pitch into ``span`` (0 when it is already inside); the drum
    channel of a part that spans channels does not count (it is not transposed)."""
    pitched = [n.pitch for n in part.notes if not (part.channel_programs and n.channel == DRUM_CHANNEL)]
    if not pitched:
        return 0
    median = statistics.median(pitched)
    low, high = span
    shift = 0
    while median + shift < low and shift < 48:
        shift += 12
    while median + shift > high and shift > -48:
        shift -= 12
    return shift


def _preset_for(name: str) -> tuple[InstrumentPreset, str]:
    """A preset for ``name`` and the instrument name that decides its range."""
    if find_preset(name) is not None:
        preset = load_preset(name)
        instrument = preset.instrument
        if isinstance(instrument, SoundFontInstrument) and instrument.program is not None:
            import pretty_midi

            return preset, f"{preset.name} {pretty_midi.program_to_instrument_name(instrument.program)}"
        return preset, preset.name
    program = gm_program(name)
    if program is None:
        raise PresetError(
            f"{name!r} is neither a preset nor a General MIDI instrument name (e.g. violin, cello, flute)"
        )
    import pretty_midi

    preset = InstrumentPreset(name=name.strip().replace(" ", "-"), instrument=SoundFontInstrument(program=program))
    return preset, str(pretty_midi.program_to_instrument_name(program))


def restyle(
    parts: Sequence[Track], names: Sequence[str], current: Sequence[InstrumentPreset]
) -> list[InstrumentPreset]:
    """Presets that play the pitched ``parts`` with ``names`` in order (the last name repeats), transposed by
    octaves into each instrument's range; drum parts keep ``current``."""
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        raise PresetError("--restyle needs instrument names, e.g. --restyle violin,cello")
    chosen = list(current)
    pitched = [i for i, part in enumerate(parts) if not part.is_drum]
    for order, index in enumerate(pitched):
        preset, instrument = _preset_for(wanted[min(order, len(wanted) - 1)])
        shift = octave_shift(parts[index], playable_range(instrument))
        chosen[index] = replace(preset, transpose=preset.transpose + shift)
    return chosen
