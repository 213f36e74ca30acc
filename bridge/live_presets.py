"""Live presets in TOML: how notes leave the bridge (``presets/live/``) and what a DAW hears (``presets/daw/``).

Both load into frozen dataclasses; unknown keys are rejected with a message naming them. A preset is
chosen by file path (``--preset FILE``) or by name from the bundled folder (``--daw reaper``, OSC
``/vmb/preset two-hands``); names are plain words, so an OSC client cannot reach files elsewhere.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import PresetError

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DAW_EVENTS = ("note_on", "note_off", "cc", "pitch_bend", "hand", "status", "transport_start", "transport_stop")


@dataclass(frozen=True, slots=True)
class LivePreset:
    """Notes per hand on separate channels, split at ``split_pitch`` (the lowest pitch of the right hand)."""

    name: str = "default"
    split_pitch: int = 60
    left_channel: int = 0
    right_channel: int = 1
    transpose: int = 0

    def __post_init__(self) -> None:
        for label, channel in (("left_channel", self.left_channel), ("right_channel", self.right_channel)):
            if not 0 <= channel <= 15:
                raise PresetError(f"{label} {channel} is outside 0-15 (MIDI channels 1-16 are written 0-15)")
        if not 0 <= self.split_pitch <= 127:
            raise PresetError(f"split_pitch {self.split_pitch} is outside MIDI 0-127")
        if not -48 <= self.transpose <= 48:
            raise PresetError(f"transpose {self.transpose} is outside -48..48 semitones")


@dataclass(frozen=True, slots=True)
class DawPreset:
    """Where OSC goes and how /vmb events translate to what a DAW listens to.

    ``messages`` maps an event (one of DAW_EVENTS) to an address template and argument templates:
    ``"{pitch}"`` takes the event's value, anything else is sent as written. Events without an entry
    go out under the native ``/vmb/...`` address space when ``native`` is true, else not at all.
    """

    name: str
    description: str = ""
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    native: bool = True
    channel_base: int = 0
    midi_port: str = "vmb"
    messages: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.osc_port <= 65535:
            raise PresetError(f"osc port {self.osc_port} is outside 1-65535")
        for event, template in self.messages.items():
            if event not in DAW_EVENTS:
                raise PresetError(f"unknown DAW event {event!r}; known: {', '.join(DAW_EVENTS)}")
            if not template or not template[0].startswith("/"):
                raise PresetError(f"the {event} message must start with an OSC address like \"/track/1\"")


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise PresetError(f"preset {path} does not exist: check the path or use a name from presets/") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"preset {path} is not valid TOML ({exc}): fix the line it names") from exc


def _typed(where: str, table: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise PresetError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    return value


def bundled_path(kind: str, name: str) -> Path:
    """``presets/<kind>/<name>.toml``; only plain names, so nothing outside that folder can be named."""
    if not NAME_PATTERN.fullmatch(name):
        raise PresetError(f"preset name {name!r} is not a plain name: use letters, digits, - and _ only")
    path = PRESETS_DIR / kind / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in (PRESETS_DIR / kind).glob("*.toml"))
        raise PresetError(f"no {kind} preset named {name!r}: choose one of {', '.join(known) or 'none'}")
    return path


def load_live_preset(path: Path | str) -> LivePreset:
    path = Path(path)
    data = _read_toml(path)
    where = str(path)
    _check_keys(where, data, {"name", "split_pitch", "left_channel", "right_channel", "transpose"})
    return LivePreset(
        name=_typed(where, data, "name", str, path.stem),
        split_pitch=_typed(where, data, "split_pitch", int, 60),
        left_channel=_typed(where, data, "left_channel", int, 0),
        right_channel=_typed(where, data, "right_channel", int, 1),
        transpose=_typed(where, data, "transpose", int, 0),
    )


def load_daw_preset(path: Path | str) -> DawPreset:
    path = Path(path)
    data = _read_toml(path)
    where = str(path)
    _check_keys(where, data, {"name", "description", "osc", "midi", "messages"})
    osc = data.get("osc", {})
    midi = data.get("midi", {})
    messages = data.get("messages", {})
    if not all(isinstance(t, dict) for t in (osc, midi, messages)):
        raise PresetError(f"{where}: osc, midi and messages must be tables ([osc], [midi], [messages])")
    _check_keys(f"{where} [osc]", osc, {"host", "port", "native", "channel_base"})
    _check_keys(f"{where} [midi]", midi, {"port"})
    parsed: dict[str, tuple[str, ...]] = {}
    for event, template in messages.items():
        if not isinstance(template, list) or not all(isinstance(part, str | int | float) for part in template):
            raise PresetError(f"{where} [messages] {event} must be a list like [\"/address\", \"{{pitch}}\"]")
        parsed[event] = tuple(str(part) for part in template)
    return DawPreset(
        name=_typed(where, data, "name", str, path.stem),
        description=_typed(where, data, "description", str, ""),
        osc_host=_typed(where, osc, "host", str, "127.0.0.1"),
        osc_port=_typed(where, osc, "port", int, 9000),
        native=_typed(where, osc, "native", bool, True),
        channel_base=_typed(where, osc, "channel_base", int, 0),
        midi_port=_typed(where, midi, "port", str, "vmb"),
        messages=parsed,
    )
