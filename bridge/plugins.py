"""Finding and loading VST3 plugins through pedalboard (the only module that calls ``load_plugin``).

Loading an unknown plugin can crash the process; callers that must survive run this in a child
process (see :mod:`bridge.render`).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import PluginError

log = logging.getLogger(__name__)


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


def load_vst3(path: str, plugin_name: str | None = None) -> Any:
    """Load a VST3 bundle with pedalboard; a missing path lists the plugins that were found."""
    from pedalboard import load_plugin  # type: ignore[attr-defined]

    if not Path(path).exists():
        raise PluginError(missing_plugin_message(path))
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


def describe(path: str, plugin_name: str | None = None) -> PluginInfo:
    """Name, kind and parameters (with ranges where numeric) of one plugin."""
    plugin = load_vst3(path, plugin_name)
    params = []
    for name, param in plugin.parameters.items():
        raw_lo: Any = getattr(param, "min_value", None)
        raw_hi: Any = getattr(param, "max_value", None)
        numeric = isinstance(raw_lo, int | float) and isinstance(raw_hi, int | float)
        lo, hi = (float(raw_lo), float(raw_hi)) if numeric else (None, None)
        params.append(
            ParameterInfo(
                name=name,
                minimum=lo,
                maximum=hi,
                default=str(param.string_value),
                unit=str(getattr(param, "label", "") or ""),
            )
        )
    return PluginInfo(
        path=path, name=str(plugin.name), is_instrument=bool(plugin.is_instrument), parameters=tuple(params)
    )


def save_state(path: str, out: Path, plugin_name: str | None = None, parameters: dict[str, Any] | None = None) -> int:
    """Write a plugin's raw state (after setting ``parameters``) to ``out``; returns the byte count."""
    plugin = load_vst3(path, plugin_name)
    set_parameters(plugin, parameters or {}, path)
    data = bytes(plugin.raw_state)
    out.write_bytes(data)
    log.info("wrote %d bytes of state of %s to %s", len(data), path, out)
    return len(data)


def _describe_child(path: str, plugin_name: str | None, conn: Any) -> None:
    try:
        conn.send(("ok", describe(path, plugin_name)))
    except PluginError as exc:
        conn.send(("error", str(exc)))
    finally:
        conn.close()


def describe_isolated(path: str, plugin_name: str | None = None, timeout: float = 30.0) -> PluginInfo:
    """:func:`describe` in a child process, so a plugin that crashes or hangs while loading fails alone."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_describe_child, args=(path, plugin_name, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise PluginError(f"{path} did not load within {timeout:.0f} s (or crashed while loading); skip it")
        try:
            kind, value = parent.recv()
        except EOFError as exc:
            raise PluginError(f"{path} crashed while loading; the plugin is faulty") from exc
    finally:
        if process.is_alive():
            process.join(2)
        if process.is_alive():
            process.kill()
        process.join(2)
        parent.close()
    if kind == "error":
        raise PluginError(str(value))
    assert isinstance(value, PluginInfo)
    return value
