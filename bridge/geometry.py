"""Piano keyboard geometry on a canonical plane, shared by the renderer, calibration and the model.

The canonical keyboard plane is measured in millimetres: ``x`` runs from the left edge of the
lowest (white) key to the right, ``y`` from the back edge of the visible key tops (at the
fallboard or key slip) towards the player, so the front edge of the white keys is at
``WHITE_KEY_LENGTH_MM``. Black keys start at ``y = 0`` and end at ``BLACK_KEY_LENGTH_MM``.
A calibration homography maps image pixels to this plane.

Black keys sit on 12 equal slots per octave (an octave of 7 white keys divided in 12), the
model DOMAIN.md recommends; calibration may refine from the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError

WHITE_KEY_WIDTH_MM = 23.5
WHITE_KEY_LENGTH_MM = 150.0
BLACK_KEY_LENGTH_MM = 95.0
OCTAVE_WIDTH_MM = 7 * WHITE_KEY_WIDTH_MM
SLOT_WIDTH_MM = OCTAVE_WIDTH_MM / 12
BLACK_KEY_WIDTH_MM = SLOT_WIDTH_MM

LOWEST_PIANO_PITCH = 21  # A0
HIGHEST_PIANO_PITCH = 108  # C8
N_PIANO_KEYS = 88

BLACK_PITCH_CLASSES = frozenset({1, 3, 6, 8, 10})
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# White-key index of each pitch class inside an octave starting at C (black keys: the white key left of them).
_WHITE_INDEX_IN_OCTAVE = (0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5, 6)

# Common keyboard sizes: key count -> (lowest pitch, highest pitch).
STANDARD_SIZES: dict[int, tuple[int, int]] = {
    88: (21, 108),  # A0-C8
    76: (28, 103),  # E1-G7
    73: (28, 100),  # E1-E7
    61: (36, 96),  # C2-C7
    49: (36, 84),  # C2-C6
    37: (48, 84),  # C3-C6
    25: (48, 72),  # C3-C5
}

Polygon = NDArray[np.float64]


def is_black(pitch: int) -> bool:
    """True for the five black keys of each octave."""
    return pitch % 12 in BLACK_PITCH_CLASSES


def pitch_name(pitch: int) -> str:
    """Scientific pitch name with MIDI 60 = C4, e.g. ``21 -> 'A0'``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_name(name: str) -> int:
    """Inverse of :func:`pitch_name`; accepts sharps (``C#4``), flats (``Db4``) and MIDI numbers."""
    text = name.strip()
    if text.lstrip("-").isdigit():
        pitch = int(text)
    else:
        letter = text[:1].upper()
        rest = text[1:]
        accidental = 0
        while rest[:1] in ("#", "b"):
            accidental += 1 if rest[0] == "#" else -1
            rest = rest[1:]
        if letter not in "CDEFGAB" or not letter or not rest.lstrip("-").isdigit():
            raise VmbError(f"cannot read the key name {name!r}: use a name like A0, C4, F#3 or Bb2")
        pitch = NOTE_NAMES.index(letter) + accidental + 12 * (int(rest) + 1)
    if not 0 <= pitch <= 127:
        raise VmbError(f"key {name!r} is outside the MIDI range 0-127: use a name between C-1 and G9")
    return pitch


def white_index(pitch: int) -> int:
    """Number of white keys strictly left of this key's left edge, counted from C-1 (MIDI 0)."""
    return (pitch // 12) * 7 + _WHITE_INDEX_IN_OCTAVE[pitch % 12]


def key_x_range_mm(pitch: int, lowest_pitch: int) -> tuple[float, float]:
    """Left and right x (mm) of a key's top surface, relative to the left edge of ``lowest_pitch``."""
    origin = white_index(lowest_pitch) * WHITE_KEY_WIDTH_MM
    if is_black(pitch):
        left = (pitch // 12) * OCTAVE_WIDTH_MM + (pitch % 12) * SLOT_WIDTH_MM
        return left - origin, left + BLACK_KEY_WIDTH_MM - origin
    left = white_index(pitch) * WHITE_KEY_WIDTH_MM
    return left - origin, left + WHITE_KEY_WIDTH_MM - origin


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The keys of one keyboard (``n_keys`` consecutive pitches from ``lowest_pitch``) on the canonical plane."""

    lowest_pitch: int
    n_keys: int

    def __post_init__(self) -> None:
        if self.n_keys < 1 or not 0 <= self.lowest_pitch <= 127 - self.n_keys + 1:
            raise VmbError(
                f"a keyboard of {self.n_keys} keys from MIDI {self.lowest_pitch} does not fit in MIDI 0-127"
            )
        if is_black(self.lowest_pitch) or is_black(self.highest_pitch):
            raise VmbError(
                f"a keyboard must start and end on white keys; {pitch_name(self.lowest_pitch)}"
                f"-{pitch_name(self.highest_pitch)} does not: check --lowest-key and --keys"
            )

    @classmethod
    def standard(cls, n_keys: int = N_PIANO_KEYS) -> KeyLayout:
        if n_keys not in STANDARD_SIZES:
            sizes = ", ".join(str(n) for n in sorted(STANDARD_SIZES))
            raise VmbError(f"no standard keyboard has {n_keys} keys: use one of {sizes} or give --lowest-key")
        low, high = STANDARD_SIZES[n_keys]
        return cls(low, high - low + 1)

    @property
    def highest_pitch(self) -> int:
        return self.lowest_pitch + self.n_keys - 1

    @property
    def pitches(self) -> range:
        return range(self.lowest_pitch, self.lowest_pitch + self.n_keys)

    @property
    def n_white(self) -> int:
        return sum(1 for p in self.pitches if not is_black(p))

    @property
    def width_mm(self) -> float:
        return self.n_white * WHITE_KEY_WIDTH_MM

    def x_range_mm(self, pitch: int) -> tuple[float, float]:
        return key_x_range_mm(pitch, self.lowest_pitch)

    def centre_mm(self, pitch: int) -> tuple[float, float]:
        """Centre of the key's visible top surface (white keys: of their front part, below the black keys)."""
        left, right = self.x_range_mm(pitch)
        if is_black(pitch):
            return (left + right) / 2, BLACK_KEY_LENGTH_MM / 2
        return (left + right) / 2, (BLACK_KEY_LENGTH_MM + WHITE_KEY_LENGTH_MM) / 2

    def polygon_mm(self, pitch: int) -> Polygon:
        """Outline of the key's visible top surface, clockwise from the back-left corner, shape (k, 2)."""
        left, right = self.x_range_mm(pitch)
        if is_black(pitch):
            return np.array(
                [[left, 0.0], [right, 0.0], [right, BLACK_KEY_LENGTH_MM], [left, BLACK_KEY_LENGTH_MM]]
            )
        back_left, back_right = left, right
        for neighbour in (pitch - 1, pitch + 1):
            if neighbour in self.pitches and is_black(neighbour):
                n_left, n_right = self.x_range_mm(neighbour)
                if neighbour < pitch:
                    back_left = max(back_left, n_right)
                else:
                    back_right = min(back_right, n_left)
        b, f = BLACK_KEY_LENGTH_MM, WHITE_KEY_LENGTH_MM
        points = [[back_left, 0.0], [back_right, 0.0], [back_right, b], [right, b], [right, f],
                  [left, f], [left, b], [back_left, b]]
        return _drop_repeated(np.array(points))


def _drop_repeated(points: Polygon) -> Polygon:
    keep = [0] + [i for i in range(1, len(points)) if not np.allclose(points[i], points[i - 1])]
    kept = points[keep]
    if len(kept) > 1 and np.allclose(kept[0], kept[-1]):
        kept = kept[:-1]
    return kept


def apply_homography(homography: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map points of shape (n, 2) through a 3x3 homography."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ones = np.ones((len(pts), 1))
    mapped = np.hstack([pts, ones]) @ np.asarray(homography, dtype=np.float64).T
    return mapped[:, :2] / mapped[:, 2:3]
