"""Foley instrument presets in TOML (``presets/foley/NAME.toml``; format in docs/foley.md).

Unknown keys are rejected with a message naming them, so a typo never passes silently.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import PresetError, VmbError
from bridge.geometry import parse_pitch_name
from bridge.motion import GESTURES, MotionSettings

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "presets" / "foley"
PITCH_MODES = ("melody", "chord", "root", "drums", "position")


@dataclass(frozen=True, slots=True)
class DrumPart:
    """Strikes of the first keypoint with data play ``note``; the strongest ``accent_share`` play ``accent_note``."""

    keypoints: tuple[str, ...]
    note: int
    accent_note: int | None = None
    accent_share: float = 0.0


@dataclass(frozen=True, slots=True)
class FoleyPreset:
    name: str
    program: int
    motion: MotionSettings
    keypoints: tuple[str, ...]
    combine_keypoints: bool = False
    channel: int = 0
    key: str = "C major"
    register: tuple[int, int] = (48, 84)
    pitch_mode: str = "melody"
    note_length: float | None = None  # seconds; None = until the next note (legato)
    max_note_s: float = 2.0
    velocity: tuple[int, int] = (40, 115)
    progression: tuple[str, ...] = ()
    events_per_chord: int = 4
    voices: int = 4
    strum_spread: float = 0.012
    drums: tuple[DrumPart, ...] = field(default=())


_TOP_KEYS = {"name", "program", "channel", "key", "register", "pitch_mode", "note_length", "max_note_s", "velocity",
             "motion", "chords", "drum"}
_MOTION_KEYS = {"gesture", "keypoints", "combine", "axis", "direction", "min_excursion", "min_interval", "min_speed"}
_CHORD_KEYS = {"progression", "events_per_chord", "voices", "strum_spread"}
_DRUM_KEYS = {"keypoints", "note", "accent_note", "accent_share"}


def _check_keys(where: str, table: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PresetError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return table


def _pitch(value: Any, where: str) -> int:
    if isinstance(value, int) and 0 <= value <= 127:
        return value
    if isinstance(value, str):
        try:
            return parse_pitch_name(value)
        except (VmbError, ValueError) as exc:
            raise PresetError(f"{where}: {value!r} is not a pitch name like C4 or F#2") from exc
    raise PresetError(f"{where}: {value!r} is not a MIDI number 0-127 or a pitch name like C4")


def _pair(value: Any, where: str, lo: int, hi: int) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2):
        raise PresetError(f"{where} must be a list of two values, like [40, 115]")
    first, second = (_pitch(v, where) if where.endswith("register") else v for v in value)
    if not (isinstance(first, int) and isinstance(second, int) and lo <= first < second <= hi):
        raise PresetError(f"{where} must hold two increasing values in {lo}-{hi}, got {value}")
    return first, second


def _motion(table: Any, where: str) -> tuple[MotionSettings, tuple[str, ...], bool]:
    table = _check_keys(where, table, _MOTION_KEYS)
    keypoints = tuple(str(k) for k in table.get("keypoints", []))
    if "gesture" not in table:
        raise PresetError(f"{where} needs a gesture ({', '.join(GESTURES)})")
    try:
        settings = MotionSettings(table["gesture"], str(table.get("axis", "principal")), int(table.get("direction", 1)),
                                  float(table.get("min_excursion", 0.15)), float(table.get("min_interval", 0.08)),
                                  float(table.get("min_speed", 0.0)))
    except (VmbError, TypeError, ValueError) as exc:
        raise PresetError(f"{where}: {exc}") from exc
    return settings, keypoints, bool(table.get("combine", False))


def _drum(table: Any, where: str) -> DrumPart:
    table = _check_keys(where, table, _DRUM_KEYS)
    keypoints = tuple(str(k) for k in table.get("keypoints", []))
    if not keypoints or "note" not in table:
        raise PresetError(f"{where} needs keypoints and a note")
    accent = table.get("accent_note")
    share = float(table.get("accent_share", 0.0))
    if not 0.0 <= share <= 1.0:
        raise PresetError(f"{where}.accent_share must be in 0-1, got {share}")
    return DrumPart(keypoints, _pitch(table["note"], where), None if accent is None else _pitch(accent, where), share)


def parse_foley_preset(data: dict[str, Any], where: str) -> FoleyPreset:
    data = _check_keys(where, data, _TOP_KEYS)
    motion, keypoints, combine = _motion(data.get("motion"), f"{where} [motion]")
    chords = _check_keys(f"{where} [chords]", data.get("chords", {}), _CHORD_KEYS)
    pitch_mode = str(data.get("pitch_mode", "melody"))
    if pitch_mode not in PITCH_MODES:
        raise PresetError(f"{where}: pitch_mode {pitch_mode!r} is unknown: use one of {', '.join(PITCH_MODES)}")
    drums = tuple(_drum(t, f"{where} [[drum]] {i + 1}") for i, t in enumerate(data.get("drum", [])))
    if pitch_mode == "drums" and not drums:
        raise PresetError(f"{where}: pitch_mode drums needs at least one [[drum]] table")
    if pitch_mode != "drums" and not keypoints:
        raise PresetError(f"{where} [motion] needs a keypoints list, like [\"hand:right:wrist\"]")
    program, channel = int(data.get("program", 0)), int(data.get("channel", 9 if pitch_mode == "drums" else 0))
    if not (0 <= program <= 127 and 0 <= channel <= 15):
        raise PresetError(f"{where}: program must be 0-127 and channel 0-15 (MIDI channels 1-16)")
    length = data.get("note_length", "legato")
    return FoleyPreset(
        name=str(data.get("name", where)), program=program, motion=motion, keypoints=keypoints,
        combine_keypoints=combine, channel=channel,
        key=str(data.get("key", "C major")),
        register=_pair(data.get("register", [48, 84]), f"{where} register", 0, 127),
        pitch_mode=pitch_mode, note_length=None if length == "legato" else float(length),
        max_note_s=float(data.get("max_note_s", 2.0)), velocity=_pair(data.get("velocity", [40, 115]),
                                                                      f"{where} velocity", 1, 127),
        progression=tuple(str(c) for c in chords.get("progression", [])),
        events_per_chord=int(chords.get("events_per_chord", 4)), voices=int(chords.get("voices", 4)),
        strum_spread=float(chords.get("strum_spread", 0.012)), drums=drums,
    )


def all_keypoints(preset: FoleyPreset) -> tuple[str, ...]:
    """Every keypoint spec the preset may read (its own and its drum parts')."""
    return preset.keypoints + tuple(k for part in preset.drums for k in part.keypoints)


def bundled_instruments() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.toml"))


def load_foley_preset(name_or_path: str | Path) -> FoleyPreset:
    """A preset file, or an instrument name from ``presets/foley/`` (``violin`` for ``violin.toml``)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUNDLED_DIR / f"{path.name}.toml"
        if not path.is_file():
            raise PresetError(f"instrument {name_or_path!r} is unknown: use one of {', '.join(bundled_instruments())} "
                              f"or give --preset FILE.toml")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise PresetError(f"preset {path} does not exist: check the path") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"preset {path} is not valid TOML ({exc}): fix the file") from exc
    return parse_foley_preset(data, path.name)
