"""Finding and loading VST3 plugins through pedalboard (the only module that calls ``load_plugin``).

Loading an unknown plugin can crash the process; callers that must survive run this in a child
process (:mod:`bridge.render_isolation`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.errors import PluginError
from bridge.render_isolation import ChildTask, run_isolated

log = logging.getLogger(__name__)

# Host-internal parameters that DPF plugins (all of zam-plugins) expose under these exact names. pedalboard
# probes every parameter 1001 times when it builds its parameter list; a program selector with one program
# ("Current Program" of ZamVerb) falls back to setting the value 2002 times, and each set makes ZamVerb
# reload and resample its impulse response (~0.5 s), so loading took about 16 minutes. They are not sound
# parameters (the sample rate and block size come from the host; programs from state or .vstpreset files).
DPF_INTERNAL_PARAMETERS = re.compile(r"(Current Program|Buffer Size|Sample Rate)$")
FLUSH_SECONDS = 0.01


def standard_vst3_dirs() -> list[Path]:
    """The folders where VST3 plugins are installed on this platform, plus ``$VST3_PATH``."""
    extra = [Path(p) for p in os.environ.get("VST3_PATH", "").split(os.pathsep) if p]
    home = Path.home()
    if sys.platform == "darwin":
        dirs = [home / "Library/Audio/Plug-Ins/VST3", Path("/Library/Audio/Plug-Ins/VST3")]
    elif sys.platform == "win32":
        common = Path(os.environ.get("COMMONPROGRAMFILES", r"C:\Program Files\Common Files"))
        dirs = [common / "VST3"]
    else:
        dirs = [home / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3")]
    return extra + dirs


def find_vst3(dirs: list[Path] | None = None) -> list[Path]:
    """Every ``*.vst3`` bundle in ``dirs`` (default: the standard folders), sorted, without duplicates."""
    found: dict[Path, None] = {}
    for folder in dirs if dirs is not None else standard_vst3_dirs():
        if folder.is_dir():
            for bundle in sorted(folder.rglob("*.vst3")):
                found.setdefault(bundle.resolve(), None)
    return sorted(found, key=lambda p: p.name.lower())


def missing_plugin_message(path: str) -> str:
    names = ", ".join(p.name for p in find_vst3()) or "none (install some, e.g. apt-get install zam-plugins)"
    return f"VST3 plugin {path} not found; give the path to a .vst3 bundle. Installed: {names}"


def _skip_dpf_internal_parameters() -> None:
    from pedalboard import _pedalboard

    # a private set of pedalboard (0.7 to 0.9 at least); without it ZamVerb is just slow to load
    ignored: set[re.Pattern[str]] | None = getattr(_pedalboard, "PARAMETER_NAME_REGEXES_TO_IGNORE", None)
    if ignored is None:
        log.debug("this pedalboard has no PARAMETER_NAME_REGEXES_TO_IGNORE; DPF internal parameters stay listed")
    elif DPF_INTERNAL_PARAMETERS not in ignored:
        ignored.add(DPF_INTERNAL_PARAMETERS)


def load_vst3(path: str, plugin_name: str | None = None) -> Any:
    """Load a VST3 bundle with pedalboard; a missing path lists the plugins that were found."""
    from pedalboard import load_plugin  # type: ignore[attr-defined]

    if not Path(path).exists():
        raise PluginError(missing_plugin_message(path))
    _skip_dpf_internal_parameters()
    try:
        return load_plugin(path, plugin_name=plugin_name)
    except (ImportError, ValueError, RuntimeError) as exc:
        raise PluginError(
            f"VST3 plugin {path} could not be loaded ({exc}); check it is a 64-bit VST3 for this platform"
            " and, for a bundle with several plugins, give plugin_name"
        ) from exc


def set_parameters(plugin: Any, parameters: dict[str, float | str | bool], where: str) -> None:
    """Set parameters by pedalboard's names; an unknown name lists the valid ones."""
    valid = dict(plugin.parameters)
    for name, value in parameters.items():
        if name not in valid:
            raise PluginError(f"{where}: no parameter {name!r}; valid names: {', '.join(sorted(valid))}")
        try:
            setattr(plugin, name, value)
        except (ValueError, TypeError) as exc:
            raise PluginError(f"{where}: parameter {name} = {value!r} rejected ({exc})") from exc


def flush_parameters(plugin: Any, sample_rate: int = 48000) -> None:
    """Process one short silent block: a VST3 processor receives parameter changes only with audio.

    Without this, ``raw_state`` read right after setting a parameter still holds the old value.
    """
    if plugin.is_instrument:
        plugin([], duration=FLUSH_SECONDS, sample_rate=sample_rate, num_channels=2, reset=False)
    else:
        plugin.process(np.zeros((2, round(FLUSH_SECONDS * sample_rate)), np.float32), sample_rate, reset=False)


@dataclass(frozen=True, slots=True)
class ParameterInfo:
    name: str
    minimum: float | None
    maximum: float | None
    default: str
    unit: str


@dataclass(frozen=True, slots=True)
class PluginInfo:
    path: str
    name: str
    is_instrument: bool
    parameters: tuple[ParameterInfo, ...]


def _parameter_info(name: str, param: Any) -> ParameterInfo:
    raw_lo: Any = getattr(param, "min_value", None)
    raw_hi: Any = getattr(param, "max_value", None)
    numeric = isinstance(raw_lo, int | float) and isinstance(raw_hi, int | float)
    lo, hi = (float(raw_lo), float(raw_hi)) if numeric else (None, None)
    unit = str(getattr(param, "label", "") or "").strip()
    return ParameterInfo(name=name, minimum=lo, maximum=hi, default=str(param.string_value), unit=unit)


def describe(path: str, plugin_name: str | None = None) -> PluginInfo:
    """Name, kind and parameters (with ranges where numeric) of one plugin."""
    plugin = load_vst3(path, plugin_name)
    params = tuple(_parameter_info(name, param) for name, param in plugin.parameters.items())
    return PluginInfo(path=path, name=str(plugin.name), is_instrument=bool(plugin.is_instrument), parameters=params)


def _describe_task(path: str, plugin_name: str | None, _progress: Callable[[float], None]) -> PluginInfo:
    return describe(path, plugin_name)


def describe_isolated(path: str, plugin_name: str | None = None, timeout: float = 60.0) -> PluginInfo:
    """:func:`describe` in a child process, so a plugin that crashes or hangs while loading fails alone."""
    task = ChildTask(
        _describe_task, (path, plugin_name), Path(path).name, "loading",
        "the plugin is faulty: remove it from the folder or use another",
    )
    info = run_isolated(task, timeout)
    assert isinstance(info, PluginInfo)
    return info


def save_state(path: str, out: Path, plugin_name: str | None = None, parameters: dict[str, Any] | None = None) -> int:
    """Write a plugin's state (after setting ``parameters``) to ``out``; returns the byte count.

    ``out`` ending in ``.vstpreset`` gets a VST3 preset file, anything else pedalboard's ``raw_state``.
    """
    plugin = load_vst3(path, plugin_name)
    set_parameters(plugin, parameters or {}, path)
    flush_parameters(plugin)
    data = bytes(plugin.preset_data if out.suffix.lower() == ".vstpreset" else plugin.raw_state)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise PluginError(f"cannot write {out} ({exc}); choose a writable path") from exc
    log.info("wrote %d bytes of state of %s to %s", len(data), path, out)
    return len(data)
