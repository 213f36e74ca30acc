"""Just enough music theory for Foley: keys and scales, chord symbols, voicings in a register."""

from __future__ import annotations

import re

from bridge.errors import VmbError

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10),
    "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7), "sus4": (0, 5, 7), "5": (0, 7),
}
_ROOT = re.compile(r"^([A-Ga-g])([#b]?)(.*)$")


def _pitch_class(letter: str, accidental: str) -> int:
    return (PITCH_CLASSES[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]) % 12


def parse_key(text: str) -> tuple[int, tuple[int, ...]]:
    """``"D major"``, ``"F# minor"``, ``"A minor-pentatonic"`` to (tonic pitch class, scale intervals)."""
    parts = text.split()
    match = _ROOT.match(parts[0]) if parts else None
    mode = parts[1].lower() if len(parts) > 1 else "major"
    if match is None or match.group(3) or len(parts) > 2 or mode not in SCALES:
        raise VmbError(f"key {text!r} is not understood: write a tonic and a scale, like 'D major' or 'E minor' "
                       f"(scales: {', '.join(SCALES)})")
    return _pitch_class(match.group(1), match.group(2)), SCALES[mode]


def parse_chord(symbol: str) -> tuple[int, tuple[int, ...]]:
    """``"Bm7"`` to (root pitch class, intervals); qualities: major, m, 7, maj7, m7, dim, aug, sus2, sus4, 5."""
    match = _ROOT.match(symbol.strip())
    if match is None or match.group(3) not in CHORD_QUALITIES:
        raise VmbError(f"chord {symbol!r} is not understood: write a root and a quality, like G, Em, D7, Cmaj7, "
                       f"Bm7, F#dim, Asus4")
    return _pitch_class(match.group(1), match.group(2)), CHORD_QUALITIES[match.group(3)]


def scale_pitches(key: str, low: int, high: int) -> list[int]:
    """Every pitch of the key's scale from ``low`` to ``high`` inclusive."""
    tonic, intervals = parse_key(key)
    classes = {(tonic + i) % 12 for i in intervals}
    return [p for p in range(low, high + 1) if p % 12 in classes]


def chord_pitches(symbol: str, low: int, high: int) -> list[int]:
    """Every pitch of the chord from ``low`` to ``high``."""
    root, intervals = parse_chord(symbol)
    classes = {(root + i) % 12 for i in intervals}
    return [p for p in range(low, high + 1) if p % 12 in classes]


def voicing(symbol: str, low: int, high: int, voices: int) -> list[int]:
    """``voices`` chord notes from the lowest root in the register upwards, low to high (a strummed chord)."""
    root, _ = parse_chord(symbol)
    tones = chord_pitches(symbol, low, high)
    bass = next((p for p in tones if p % 12 == root), tones[0] if tones else low)
    return [p for p in tones if p >= bass][:voices] or tones[:voices]


def root_and_fifth(symbol: str, low: int, high: int) -> tuple[int, int]:
    """The chord's lowest root in the register and the fifth above it (or below when it does not fit)."""
    root, _ = parse_chord(symbol)
    bass = next((p for p in range(low, high + 1) if p % 12 == root), low)
    fifth = bass + 7 if bass + 7 <= high else bass - 5
    return bass, fifth
