"""Gesture control: continuous hand features drive MIDI CC, pitch bend and OSC; a pinch plays notes.

A preset (``presets/gestures/*.toml``, format in docs/gestures.md) lists mappings, each from one
feature of one hand through an input range, a dead zone, a curve and One Euro smoothing to an output
range, and note gestures (a pinch closes: note on; it opens: note off). ``GestureMapper(preset)`` is fed
one :class:`bridge.types.Hands` per frame and answers with the messages that changed.

Features: ``height`` (0 bottom of the picture to 1 top), ``x`` (0 left to 1 right), ``openness``
(fingertips' mean distance from the palm centre, in palm lengths), ``pinch`` (thumb tip to index tip, in
palm lengths), ``roll`` (tilt of the knuckle line in the picture, degrees, counter-clockwise positive),
``hands_distance`` (between the palm centres, in picture widths).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge.errors import PresetError, VmbError
from bridge.foley_theory import scale_pitches
from bridge.geometry import parse_pitch_name
from bridge.midi import ControlChange
from bridge.smoothing import OneEuroFilter, OneEuroSettings
from bridge.types import Hands, NoteOff, NoteOn

FEATURES = ("height", "x", "openness", "pinch", "roll", "hands_distance")
TARGETS = ("cc", "pitch_bend", "osc")
CURVES = ("linear", "exp", "log", "s")
HANDS = ("left", "right", "any")
_CURVE_K = 3.0
_PALM = (0, 5, 9, 13, 17)
_TIPS = (4, 8, 12, 16, 20)


@dataclass(frozen=True, slots=True)
class PitchBend:
    t: float
    value: int  # -8192 to 8191, 0 = centre
    channel: int = 0


@dataclass(frozen=True, slots=True)
class OscMessage:
    t: float
    address: str
    args: tuple[float, ...]


ControlMessage = ControlChange | PitchBend | NoteOn | NoteOff | OscMessage


@dataclass(frozen=True, slots=True)
class Mapping:
    """One feature of one hand to one output; ``in_range`` in the feature's units, ``dead_zone`` a share of
    the input range around its middle that maps to the middle of the output (a pitch-bend rest)."""

    feature: str
    target: str
    hand: str = "right"
    control: int = 1
    address: str = ""
    channel: int = 0
    in_range: tuple[float, float] = (0.0, 1.0)
    out_range: tuple[float, float] = (0.0, 127.0)
    curve: str = "linear"
    dead_zone: float = 0.0
    smoothing: tuple[float, float] = (1.0, 0.05)  # One Euro min_cutoff (Hz), beta
    invert: bool = False


@dataclass(frozen=True, slots=True)
class NoteGesture:
    """A pinch (thumb and index tips together) plays a note: below ``on_below`` palm lengths it starts, above
    ``off_above`` it stops. The pitch is fixed, or ``pitch_feature`` picks it across ``register`` in ``key``."""

    hand: str = "right"
    trigger: str = "pinch"
    on_below: float = 0.25
    off_above: float = 0.4
    pitch: int = 60
    pitch_feature: str = ""
    key: str = "C major"
    register: tuple[int, int] = (48, 72)
    velocity: int = 100
    channel: int = 0


@dataclass(frozen=True, slots=True)
class GesturePreset:
    name: str
    mappings: tuple[Mapping, ...] = ()
    notes: tuple[NoteGesture, ...] = field(default=())


def apply_curve(u: float, curve: str) -> float:
    """Shape a 0-1 value: ``exp`` slow then fast, ``log`` fast then slow, ``s`` gentle at both ends."""
    if curve == "exp":
        return (math.exp(_CURVE_K * u) - 1) / (math.exp(_CURVE_K) - 1)
    if curve == "log":
        return math.log1p((math.exp(_CURVE_K) - 1) * u) / _CURVE_K
    if curve == "s":
        return u * u * (3 - 2 * u)
    return u


def scale_value(value: float, mapping: Mapping) -> float:
    """A feature value through range, inversion, dead zone and curve to the output range."""
    lo, hi = mapping.in_range
    u = min(max((value - lo) / (hi - lo), 0.0), 1.0)
    if mapping.invert:
        u = 1.0 - u
    half = mapping.dead_zone / 2
    if abs(u - 0.5) <= half:
        u = 0.5
    elif half > 0:  # the rest of each side stretches to fill its half again
        u = u / (1 - 2 * half) if u < 0.5 else 0.5 + (u - 0.5 - half) / (1 - 2 * half)
    out_lo, out_hi = mapping.out_range
    return out_lo + (out_hi - out_lo) * apply_curve(u, mapping.curve)


def _palm(points: NDArray[np.float32]) -> tuple[NDArray[np.float64], float]:
    centre = points[list(_PALM), :2].astype(np.float64).mean(axis=0)
    length = float(np.linalg.norm(points[9, :2] - points[0, :2]))
    return centre, max(length, 1e-6)


def hand_features(points: NDArray[np.float32], label: str, image_size: tuple[int, int]) -> dict[str, float]:
    """The one-hand features of 21 points (pixels) of the hand labelled ``label``."""
    width, height = image_size
    centre, palm = _palm(points)
    tips = points[list(_TIPS), :2].astype(np.float64)
    knuckles = points[17, :2] - points[5, :2] if label == "Right" else points[5, :2] - points[17, :2]
    return {
        "height": 1.0 - float(centre[1]) / height,
        "x": float(centre[0]) / width,
        "openness": float(np.mean(np.linalg.norm(tips - centre, axis=1))) / palm,
        "pinch": float(np.linalg.norm(points[4, :2] - points[8, :2])) / palm,
        "roll": math.degrees(math.atan2(-float(knuckles[1]), float(knuckles[0]))),
    }


class GestureMapper:
    """Turns each frame's hands into the control messages that changed since the last frame."""

    def __init__(self, preset: GesturePreset, image_size: tuple[int, int] = (1280, 720)) -> None:
        self.preset = preset
        self.image_size = image_size
        self._filters = [OneEuroFilter(OneEuroSettings(m.smoothing[0], m.smoothing[1])) for m in preset.mappings]
        self._last: list[float | None] = [None] * len(preset.mappings)
        self._sounding: list[NoteOn | None] = [None] * len(preset.notes)

    def features(self, hands: Hands) -> dict[str, dict[str, float]]:
        """Features per hand (``left``, ``right``, ``any``); ``hands_distance`` sits with both when two are seen."""
        by_hand = {label.lower(): hand_features(points, label, self.image_size)
                   for points, label in zip(hands.landmarks, hands.handedness, strict=True)}
        if "left" in by_hand and "right" in by_hand:
            left = _palm(hands.landmarks[hands.handedness.index("Left")])[0]
            right = _palm(hands.landmarks[hands.handedness.index("Right")])[0]
            distance = float(np.linalg.norm(right - left)) / self.image_size[0]
            for name in ("left", "right"):
                by_hand[name]["hands_distance"] = distance
        if by_hand:
            by_hand["any"] = by_hand.get("right", by_hand.get("left", {}))
        return by_hand

    def update(self, hands: Hands) -> list[ControlMessage]:
        features = self.features(hands)
        messages: list[ControlMessage] = []
        for i, mapping in enumerate(self.preset.mappings):
            value = features.get(mapping.hand, {}).get(mapping.feature)
            if value is None:
                self._filters[i].reset()
                continue
            smoothed = float(self._filters[i](hands.t, value))
            message = self._message(i, mapping, scale_value(smoothed, mapping), hands.t)
            if message is not None:
                messages.append(message)
        for i, gesture in enumerate(self.preset.notes):
            messages.extend(self._note(i, gesture, features.get(gesture.hand), hands.t))
        return messages

    def _message(self, i: int, mapping: Mapping, value: float, t: float) -> ControlMessage | None:
        if mapping.target == "osc":
            span = abs(mapping.out_range[1] - mapping.out_range[0]) or 1.0
            last = self._last[i]
            if last is not None and abs(value - last) < 1e-3 * span:
                return None
            self._last[i] = value
            return OscMessage(t, mapping.address, (value,))
        lo, hi = (0, 127) if mapping.target == "cc" else (-8192, 8191)
        number = min(max(round(value), lo), hi)
        if self._last[i] == number:
            return None
        self._last[i] = number
        if mapping.target == "cc":
            return ControlChange(t, mapping.control, number, mapping.channel)
        return PitchBend(t, number, mapping.channel)

    def _note(self, i: int, gesture: NoteGesture, features: dict[str, float] | None,
              t: float) -> list[ControlMessage]:
        sounding = self._sounding[i]
        if sounding is not None and (features is None or features["pinch"] > gesture.off_above):
            self._sounding[i] = None
            return [NoteOff(t, sounding.pitch, sounding.channel)]
        if sounding is None and features is not None and features["pinch"] < gesture.on_below:
            note = NoteOn(t, self._pitch(gesture, features), gesture.velocity, gesture.channel)
            self._sounding[i] = note
            return [note]
        return []

    def _pitch(self, gesture: NoteGesture, features: dict[str, float]) -> int:
        if not gesture.pitch_feature:
            return gesture.pitch
        scale = scale_pitches(gesture.key, *gesture.register) or [gesture.pitch]
        share = min(max(features.get(gesture.pitch_feature, 0.5), 0.0), 1.0)
        return scale[min(int(share * len(scale)), len(scale) - 1)]

    def release(self, t: float) -> list[ControlMessage]:
        """Note offs for every sounding note (on stop, or when the hands leave for good)."""
        offs: list[ControlMessage] = [NoteOff(t, n.pitch, n.channel) for n in self._sounding if n is not None]
        self._sounding = [None] * len(self.preset.notes)
        return offs


BUNDLED_DIR = Path(__file__).resolve().parent.parent / "presets" / "gestures"


def _float_pair(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ValueError(f"{value!r} is not a list of two numbers, like [0.2, 0.9]")
    return float(value[0]), float(value[1])


def _pitch(value: Any) -> int:
    return value if isinstance(value, int) else parse_pitch_name(str(value))


def _pitch_pair(value: Any) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ValueError(f"{value!r} is not a list of two pitches, like [\"C3\", \"C5\"]")
    return _pitch(value[0]), _pitch(value[1])


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


_CONVERT: dict[str, Any] = {
    **dict.fromkeys(("feature", "target", "hand", "address", "curve", "trigger", "pitch_feature", "key"), str),
    **dict.fromkeys(("on_below", "off_above", "dead_zone"), float),
    **dict.fromkeys(("control", "channel", "velocity"), int),
    **dict.fromkeys(("in_range", "out_range", "smoothing"), _float_pair),
    "invert": _bool, "pitch": _pitch, "register": _pitch_pair,
}


def _entry(cls: type[Mapping] | type[NoteGesture], table: Any, where: str) -> Any:
    """One [[map]] or [[note]] table as its dataclass; unknown keys and wrong types are rejected."""
    if not isinstance(table, dict):
        raise PresetError(f"{where} must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    try:
        return cls(**{name: _CONVERT[name](value) for name, value in table.items()})
    except (TypeError, ValueError, VmbError) as exc:
        raise PresetError(f"{where}: {exc}; see docs/gestures.md") from exc


def _check_mapping(m: Mapping, where: str) -> None:
    problems = [
        (m.feature not in FEATURES, f"feature {m.feature!r} is unknown: use one of {', '.join(FEATURES)}"),
        (m.target not in TARGETS, f"target {m.target!r} is unknown: use one of {', '.join(TARGETS)}"),
        (m.hand not in HANDS, f"hand {m.hand!r} is unknown: use left, right or any"),
        (m.curve not in CURVES, f"curve {m.curve!r} is unknown: use one of {', '.join(CURVES)}"),
        (m.in_range[0] == m.in_range[1], "in_range needs two different values"),
        (not 0.0 <= m.dead_zone < 1.0, "dead_zone must be in 0-1 (a share of the input range)"),
        (m.target == "osc" and not m.address.startswith("/"), "an osc target needs an address starting with /"),
        (not (0 <= m.control <= 127 and 0 <= m.channel <= 15), "control must be 0-127 and channel 0-15"),
        (not (m.smoothing[0] > 0 and m.smoothing[1] >= 0), "smoothing is [min_cutoff Hz > 0, beta >= 0]"),
    ]
    for bad, message in problems:
        if bad:
            raise PresetError(f"{where}: {message}")


def _check_note(n: NoteGesture, where: str) -> None:
    if n.trigger != "pinch" or n.hand not in HANDS:
        raise PresetError(f"{where}: trigger must be pinch and hand left, right or any")
    if not 0 < n.on_below < n.off_above:
        raise PresetError(f"{where}: needs 0 < on_below < off_above (palm lengths), got {n.on_below}, {n.off_above}")
    if n.pitch_feature and n.pitch_feature not in FEATURES:
        raise PresetError(f"{where}: pitch_feature {n.pitch_feature!r} is unknown: use one of {', '.join(FEATURES)}")
    if not (1 <= n.velocity <= 127 and 0 <= n.channel <= 15):
        raise PresetError(f"{where}: velocity must be 1-127 and channel 0-15")
    try:
        scale_pitches(n.key, 0, 1)
    except VmbError as exc:
        raise PresetError(f"{where}: {exc}") from exc


def parse_gesture_preset(data: dict[str, Any], where: str) -> GesturePreset:
    unknown = sorted(set(data) - {"name", "map", "note"})
    if unknown:
        raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: map, name, note")
    mappings = tuple(_entry(Mapping, t, f"{where} [[map]] {i + 1}") for i, t in enumerate(data.get("map", [])))
    notes = tuple(_entry(NoteGesture, t, f"{where} [[note]] {i + 1}") for i, t in enumerate(data.get("note", [])))
    for i, mapping in enumerate(mappings):
        _check_mapping(mapping, f"{where} [[map]] {i + 1}")
    for i, note in enumerate(notes):
        _check_note(note, f"{where} [[note]] {i + 1}")
    return GesturePreset(str(data.get("name", where)), mappings, notes)


def load_gesture_preset(name_or_path: str | Path) -> GesturePreset:
    """A preset file, or a name from ``presets/gestures/`` (``mixer`` for ``mixer.toml``)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUNDLED_DIR / f"{path.name}.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        names = ", ".join(sorted(p.stem for p in BUNDLED_DIR.glob("*.toml")))
        raise PresetError(f"gesture preset {name_or_path} not found: give a .toml file or one of {names}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"gesture preset {path} is not valid TOML ({exc}): fix the file") from exc
    return parse_gesture_preset(data, path.name)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def preset_to_toml(preset: GesturePreset) -> str:
    """The preset as TOML that :func:`parse_gesture_preset` reads back to an equal preset."""
    lines = [f"name = {_toml_value(preset.name)}"]
    for kind, entries in (("map", preset.mappings), ("note", preset.notes)):
        for entry in entries:
            lines += ["", f"[[{kind}]]"] + [f"{k} = {_toml_value(v)}" for k, v in asdict(entry).items()]
    return "\n".join(lines) + "\n"
