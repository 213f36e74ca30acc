"""Core value types: frozen, validated, times in float seconds, pitches as MIDI numbers.

Conventions (see docs/conventions.md): pitch 21 (A0) to 108 (C8) on a piano, velocity 1-127,
channel 0-15 (shown to users as 1-16), a piano roll frame ``i`` covers ``[i/fps, (i+1)/fps)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge.errors import CalibrationError, VmbError
from bridge.geometry import N_PIANO_KEYS, KeyLayout, apply_homography, is_black

FloatArray = NDArray[np.float32]


def _check_pitch(pitch: int) -> None:
    if not 0 <= pitch <= 127:
        raise VmbError(f"pitch {pitch} is outside MIDI 0-127")


def _check_channel(channel: int) -> None:
    if not 0 <= channel <= 15:
        raise VmbError(f"channel {channel} is outside 0-15 (MIDI channels 1-16)")


def _check_velocity(velocity: int) -> None:
    if not 1 <= velocity <= 127:
        raise VmbError(f"velocity {velocity} is outside 1-127")


def _check_shape(name: str, array: NDArray[Any], shape: tuple[int | None, ...]) -> None:
    pairs = zip(array.shape, shape, strict=False)
    ok = array.ndim == len(shape) and all(want is None or got == want for got, want in pairs)
    if not ok:
        wanted = "x".join("n" if s is None else str(s) for s in shape)
        raise VmbError(f"{name} must have shape {wanted}, got {'x'.join(map(str, array.shape))}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame: its index in the source, its own timestamp, BGR pixels (h, w, 3) uint8."""

    index: int
    t: float
    image: NDArray[np.uint8]

    def __post_init__(self) -> None:
        _check_shape("Frame.image", self.image, (None, None, 3))
        if self.image.dtype != np.uint8:
            raise VmbError(f"Frame.image must be uint8, got {self.image.dtype}")


@dataclass(frozen=True, slots=True, order=True)
class Note:
    """A sounding note: ``start <= t < end`` in seconds."""

    start: float
    end: float
    pitch: int
    velocity: int = 80
    channel: int = 0

    def __post_init__(self) -> None:
        _check_pitch(self.pitch)
        _check_velocity(self.velocity)
        _check_channel(self.channel)
        if not (np.isfinite(self.start) and np.isfinite(self.end)) or self.start < 0:
            raise VmbError(f"note {self.pitch} has a bad time: start {self.start}, end {self.end}")
        if self.end <= self.start:
            raise VmbError(f"note {self.pitch} ends ({self.end:.3f}s) before it starts ({self.start:.3f}s)")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class NoteOn:
    t: float
    pitch: int
    velocity: int
    channel: int = 0

    def __post_init__(self) -> None:
        _check_pitch(self.pitch)
        _check_velocity(self.velocity)
        _check_channel(self.channel)


@dataclass(frozen=True, slots=True)
class NoteOff:
    t: float
    pitch: int
    channel: int = 0

    def __post_init__(self) -> None:
        _check_pitch(self.pitch)
        _check_channel(self.channel)


NoteEdge = NoteOn | NoteOff


def notes_to_edges(notes: Iterable[Note]) -> list[NoteEdge]:
    """Note edges in time order; at equal times note offs come first so a re-strike stays a re-strike."""
    edges: list[tuple[float, int, NoteEdge]] = []
    for note in notes:
        edges.append((note.start, 1, NoteOn(note.start, note.pitch, note.velocity, note.channel)))
        edges.append((note.end, 0, NoteOff(note.end, note.pitch, note.channel)))
    edges.sort(key=lambda item: (item[0], item[1]))
    return [edge for _, _, edge in edges]


@dataclass(frozen=True, slots=True)
class PianoRoll:
    """Per-frame key state: ``velocity[n_frames, n_keys]`` (0 = up) and ``onset[n_frames, n_keys]``.

    The onset plane lets the roll hold a re-struck note (two notes of one pitch that touch).
    """

    velocity: NDArray[np.uint8]
    onset: NDArray[np.bool_]
    fps: float
    lowest_pitch: int = 21

    def __post_init__(self) -> None:
        if self.velocity.ndim != 2:
            raise VmbError(f"PianoRoll.velocity must have shape n_frames x n_keys, got {self.velocity.shape}")
        _check_shape("PianoRoll.onset", self.onset, self.velocity.shape)
        if not self.fps > 0:
            raise VmbError(f"PianoRoll.fps must be positive, got {self.fps}")
        _check_pitch(self.lowest_pitch)
        _check_pitch(self.lowest_pitch + self.n_keys - 1)

    @property
    def n_frames(self) -> int:
        return int(self.velocity.shape[0])

    @property
    def n_keys(self) -> int:
        return int(self.velocity.shape[1])

    @property
    def active(self) -> NDArray[np.bool_]:
        return self.velocity > 0

    @classmethod
    def from_notes(
        cls,
        notes: Iterable[Note],
        fps: float,
        lowest_pitch: int = 21,
        n_keys: int = N_PIANO_KEYS,
        n_frames: int | None = None,
    ) -> PianoRoll:
        """Rasterize notes: a note covers frames ``round(start*fps)`` to ``round(end*fps) - 1`` (at least one).

        Notes outside the key range are dropped; overlapping notes of one pitch merge, the later onset kept.
        """
        note_list = [n for n in notes if lowest_pitch <= n.pitch < lowest_pitch + n_keys]
        spans = [(n, *_frame_span(n, fps)) for n in note_list]
        if n_frames is None:
            n_frames = max((stop for _, _, stop in spans), default=0)
        velocity = np.zeros((n_frames, n_keys), dtype=np.uint8)
        onset = np.zeros((n_frames, n_keys), dtype=bool)
        for note, first, stop in sorted(spans, key=lambda s: s[1]):
            key = note.pitch - lowest_pitch
            if first >= n_frames:
                continue
            velocity[first:stop, key] = note.velocity
            onset[first, key] = True
        return cls(velocity, onset, fps, lowest_pitch)

    def to_notes(self, channel: int = 0) -> list[Note]:
        """Notes from the roll: a note starts at an onset or rising edge, ends at a falling edge or the next onset."""
        notes: list[Note] = []
        active = self.active
        for key in range(self.n_keys):
            starts = np.flatnonzero(active[:, key] & (self.onset[:, key] | ~_shift_down(active[:, key])))
            for i, first in enumerate(starts):
                limit = starts[i + 1] if i + 1 < len(starts) else self.n_frames
                run_end = first + 1
                while run_end < limit and active[run_end, key]:
                    run_end += 1
                notes.append(
                    Note(first / self.fps, run_end / self.fps, self.lowest_pitch + key,
                         int(self.velocity[first, key]), channel)
                )
        return sorted(notes)


def _frame_span(note: Note, fps: float) -> tuple[int, int]:
    first = round(note.start * fps)
    stop = max(first + 1, round(note.end * fps))
    return first, stop


def _shift_down(column: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``column`` delayed by one frame (False before the first frame)."""
    shifted = np.zeros_like(column)
    shifted[1:] = column[:-1]
    return shifted


@dataclass(frozen=True, slots=True)
class Activations:
    """Key model output for one frame: probabilities of onset and key-down, and velocity (0-1), per key."""

    t: float
    onset: FloatArray
    frame: FloatArray
    velocity: FloatArray

    def __post_init__(self) -> None:
        n = len(self.onset)
        for name in ("onset", "frame", "velocity"):
            _check_shape(f"Activations.{name}", getattr(self, name), (n,))


@dataclass(frozen=True, slots=True)
class Hands:
    """Hand landmarks in one frame: ``landmarks[n_hands, 21, 3]`` in pixels (z relative), handedness labels."""

    t: float
    landmarks: FloatArray
    handedness: tuple[str, ...]
    score: FloatArray

    def __post_init__(self) -> None:
        _check_shape("Hands.landmarks", self.landmarks, (None, 21, 3))
        n = self.landmarks.shape[0]
        _check_shape("Hands.score", self.score, (n,))
        if len(self.handedness) != n or any(h not in ("Left", "Right") for h in self.handedness):
            raise VmbError(f"Hands.handedness must hold {n} labels 'Left' or 'Right', got {self.handedness}")


@dataclass(frozen=True, slots=True)
class KeyPolygon:
    pitch: int
    black: bool
    polygon: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KeyboardGeometry:
    """A calibrated keyboard in an image: the homography maps image pixels to the canonical plane (mm).

    Its JSON form (``version`` 1) is documented in docs/calibration.md.
    """

    image_size: tuple[int, int]
    lowest_pitch: int
    n_keys: int
    homography: NDArray[np.float64]
    confidence: float = 1.0
    assumptions: tuple[str, ...] = ()
    keys: tuple[KeyPolygon, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_shape("KeyboardGeometry.homography", self.homography, (3, 3))
        if abs(np.linalg.det(self.homography)) < 1e-12:
            raise CalibrationError("the calibration homography is singular: recalibrate or give --corners")
        KeyLayout(self.lowest_pitch, self.n_keys)
        if not 0.0 <= self.confidence <= 1.0:
            raise CalibrationError(f"calibration confidence must be in 0-1, got {self.confidence}")

    @property
    def layout(self) -> KeyLayout:
        return KeyLayout(self.lowest_pitch, self.n_keys)

    @classmethod
    def from_homography(cls, image_size: tuple[int, int], lowest_pitch: int, n_keys: int,
                        homography: NDArray[np.float64], confidence: float = 1.0,
                        assumptions: Sequence[str] = ()) -> KeyboardGeometry:
        """Build the geometry with every key polygon projected from the canonical layout into the image."""
        layout = KeyLayout(lowest_pitch, n_keys)
        to_image = np.linalg.inv(homography)
        keys = tuple(
            KeyPolygon(p, is_black(p), apply_homography(to_image, layout.polygon_mm(p)))
            for p in layout.pitches
        )
        return cls(image_size, lowest_pitch, n_keys, np.asarray(homography, dtype=np.float64),
                   confidence, tuple(assumptions), keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "image_size": list(self.image_size),
            "lowest_pitch": self.lowest_pitch,
            "n_keys": self.n_keys,
            "homography": self.homography.tolist(),
            "keys": [
                {"pitch": k.pitch, "black": k.black, "polygon": np.round(k.polygon, 2).tolist()}
                for k in self.keys
            ],
            "confidence": self.confidence,
            "assumptions": list(self.assumptions),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyboardGeometry:
        try:
            if data.get("version") != 1:
                raise CalibrationError(
                    f"calibration version {data.get('version')!r} is not supported: recalibrate with vmb calibrate"
                )
            keys = tuple(
                KeyPolygon(int(k["pitch"]), bool(k["black"]), np.asarray(k["polygon"], dtype=np.float64))
                for k in data.get("keys", [])
            )
            width, height = data["image_size"]
            return cls((int(width), int(height)), int(data["lowest_pitch"]), int(data["n_keys"]),
                       np.asarray(data["homography"], dtype=np.float64), float(data.get("confidence", 1.0)),
                       tuple(str(a) for a in data.get("assumptions", [])), keys)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(
                f"the calibration file is malformed ({exc!s}): recalibrate with vmb calibrate"
            ) from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> KeyboardGeometry:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise CalibrationError(f"calibration file {path} does not exist: run vmb calibrate first") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"calibration file {path} is not JSON: recalibrate with vmb calibrate") from exc
        if not isinstance(data, dict):
            raise CalibrationError(f"calibration file {path} is not a JSON object: recalibrate with vmb calibrate")
        return cls.from_json(data)
