"""Instrument presets in TOML: an instrument (a VST3 plugin or a SoundFont) and an effect chain.

See ``docs/rendering.md`` for the format. Unknown keys are rejected with a message naming them;
relative paths are resolved against the preset file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import PresetError

SOUNDFONT_DEFAULT = "default"
INTERPOLATIONS = (0, 1, 4, 7)  # FluidSynth's interpolation orders: none, linear, 4th (its default), 7th


@dataclass(frozen=True, slots=True)
class SoundFontInstrument:
    """A General MIDI SoundFont played by FluidSynth; ``program=None`` takes the MIDI track's program.

    ``reverb=False`` gives a dry stem (and saves about a third of the time); ``interpolation`` is FluidSynth's
    sample interpolation order: 4 (its default), 7 (finer), 1 (linear: faster, audibly duller highs) or 0.
    """

    soundfont: str = SOUNDFONT_DEFAULT
    program: int | None = None
    bank: int = 0
    gain: float = 0.5
    reverb: bool = True
    interpolation: int = 4


@dataclass(frozen=True, slots=True)
class Vst3Instrument:
    """A VST3 instrument plugin with optional raw state, ``.vstpreset`` and parameter values."""

    path: str
    plugin_name: str | None = None
    state: str | None = None
    vstpreset: str | None = None
    parameters: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EffectSpec:
    """One effect: a pedalboard built-in by class name (``kind = "reverb"``) or ``kind = "vst3"``."""

    kind: str
    path: str | None = None
    plugin_name: str | None = None
    parameters: dict[str, float | str | bool] = field(default_factory=dict)


Instrument = SoundFontInstrument | Vst3Instrument


@dataclass(frozen=True, slots=True)
class InstrumentPreset:
    name: str
    instrument: Instrument
    effects: tuple[EffectSpec, ...] = ()
    transpose: int = 0


DEFAULT_PRESET = InstrumentPreset(name="soundfont", instrument=SoundFontInstrument())


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _resolve(base: Path, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PresetError(f"{where} must be a non-empty path string")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def _parameters(table: Any, where: str) -> dict[str, float | str | bool]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise PresetError(f"{where} must be a table of name = value")
    out: dict[str, float | str | bool] = {}
    for key, value in table.items():
        if isinstance(value, bool | str):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = float(value)
        else:
            raise PresetError(f"{where}.{key} must be a number, string or boolean, got {type(value).__name__}")
    return out


def _int(table: dict[str, Any], key: str, where: str, lo: int, hi: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise PresetError(f"{where}.{key} must be an integer {lo}-{hi}, got {value!r}")
    return value


def _instrument(table: Any, base: Path, where: str) -> Instrument:
    if not isinstance(table, dict):
        raise PresetError(f'{where}: add an [instrument] table with kind = "vst3" or "soundfont"')
    kind = table.get("kind")
    if kind == "soundfont":
        _check_keys(where, table, {"kind", "soundfont", "program", "bank", "gain", "reverb", "interpolation"})
        soundfont = table.get("soundfont", SOUNDFONT_DEFAULT)
        if soundfont != SOUNDFONT_DEFAULT:
            soundfont = _resolve(base, soundfont, f"{where}.soundfont")
        gain = table.get("gain", 0.5)
        if not isinstance(gain, int | float) or not 0 < gain <= 10:
            raise PresetError(f"{where}.gain must be a number in (0, 10], got {gain!r}")
        reverb = table.get("reverb", True)
        if not isinstance(reverb, bool):
            raise PresetError(f"{where}.reverb must be true or false, got {reverb!r}")
        interpolation = table.get("interpolation", 4)
        if interpolation not in INTERPOLATIONS or isinstance(interpolation, bool):
            raise PresetError(f"{where}.interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        return SoundFontInstrument(
            soundfont=soundfont,
            program=_int(table, "program", where, 0, 127),
            bank=_int(table, "bank", where, 0, 16383) or 0,
            gain=float(gain),
            reverb=reverb,
            interpolation=interpolation,
        )
    if kind == "vst3":
        _check_keys(where, table, {"kind", "path", "plugin_name", "state", "vstpreset", "parameters"})
        if "path" not in table:
            raise PresetError(f'{where}: kind = "vst3" needs path = "/path/to/Plugin.vst3"')
        return Vst3Instrument(
            path=_resolve(base, table["path"], f"{where}.path"),
            plugin_name=table.get("plugin_name"),
            state=_resolve(base, table["state"], f"{where}.state") if "state" in table else None,
            vstpreset=_resolve(base, table["vstpreset"], f"{where}.vstpreset") if "vstpreset" in table else None,
            parameters=_parameters(table.get("parameters"), f"{where}.parameters"),
        )
    raise PresetError(f'{where}.kind must be "vst3" or "soundfont", got {kind!r}')


def _effect(table: Any, base: Path, where: str) -> EffectSpec:
    if not isinstance(table, dict) or not isinstance(table.get("kind"), str):
        raise PresetError(f'{where}: each [[effects]] needs kind = "reverb" (a pedalboard effect) or "vst3"')
    kind = table["kind"]
    if kind == "vst3":
        _check_keys(where, table, {"kind", "path", "plugin_name", "parameters"})
        if "path" not in table:
            raise PresetError(f'{where}: kind = "vst3" needs path = "/path/to/Effect.vst3"')
        return EffectSpec(
            kind="vst3",
            path=_resolve(base, table["path"], f"{where}.path"),
            plugin_name=table.get("plugin_name"),
            parameters=_parameters(table.get("parameters"), f"{where}.parameters"),
        )
    params = {k: v for k, v in table.items() if k != "kind"}
    return EffectSpec(kind=kind, parameters=_parameters(params, where))


def parse_preset(data: dict[str, Any], name: str, base: Path) -> InstrumentPreset:
    """Turn a parsed TOML table into a preset; ``base`` resolves relative paths."""
    _check_keys(name, data, {"instrument", "effects", "transpose"})
    effects = data.get("effects", [])
    if not isinstance(effects, list):
        raise PresetError(f"{name}: effects must be an array of tables ([[effects]])")
    transpose = data.get("transpose", 0)
    if not isinstance(transpose, int) or not -48 <= transpose <= 48:
        raise PresetError(f"{name}: transpose must be semitones -48..48, got {transpose!r}")
    return InstrumentPreset(
        name=name,
        instrument=_instrument(data.get("instrument"), base, f"{name} [instrument]"),
        effects=tuple(_effect(e, base, f"{name} [[effects]] #{i + 1}") for i, e in enumerate(effects)),
        transpose=transpose,
    )


BUNDLED = Path(__file__).resolve().parent.parent / "presets" / "instruments"


def find_preset(path: str | Path) -> Path | None:
    """The preset file for a path or a bundled name (``"gm-piano"`` for ``presets/instruments/gm-piano.toml``)."""
    file = Path(path)
    if file.is_file():
        return file
    bundled = BUNDLED / f"{file.name}.toml"
    return bundled if not file.suffix and bundled.is_file() else None


def load_preset(path: str | Path) -> InstrumentPreset:
    """Load a preset file, or a name from ``presets/instruments/`` (``"sine"`` for ``sine.toml``)."""
    file = find_preset(path)
    if file is None and Path(path).suffix.lower() == ".vst3":
        raise PresetError(
            f'{path} is a plugin, not a preset: write a .toml with [instrument] kind = "vst3" and path = "{path}"'
        )
    if file is None:
        raise PresetError(f"preset {path} not found: give a .toml file or a name from presets/instruments/")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{file}: not valid TOML ({exc}); fix the syntax") from exc
    return parse_preset(data, file.stem, file.parent)
