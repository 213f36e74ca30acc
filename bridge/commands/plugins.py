"""``vmb plugins``: list installed VST3 plugins and their parameters; save a plugin's state."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.errors import PluginError
from bridge.plugins import PluginInfo, describe_isolated, find_vst3, save_state, standard_vst3_dirs
from bridge.render_isolation import ChildTask, Progress, run_isolated

NAME = "plugins"
HELP = "list installed VST3 plugins (instruments and effects) with their parameters, or save a plugin's state"
EXAMPLE = "vmb plugins --path /usr/lib/vst3  |  vmb plugins save-state Synth.vst3 -o synth.state --set gain=0.8"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "save-state"), default="list")
    parser.add_argument("plugin", nargs="?", help="save-state: the .vst3 bundle")
    parser.add_argument("--path", action="append", type=Path, help="folder to search instead of the standard ones")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a plugin may take to load (default 60)")
    parser.add_argument("--names-only", action="store_true", help="list: do not load plugins to show parameters")
    parser.add_argument("--plugin-name", help="for bundles with several plugins")
    parser.add_argument("-o", "--out", type=Path, help="save-state: file to write (.vstpreset: a VST3 preset)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="save-state: parameter values")


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _save_task(plugin: str, out: Path, plugin_name: str | None, parameters: dict[str, Any], _: Progress) -> int:
    return save_state(plugin, out, plugin_name, parameters)


def _save(args: argparse.Namespace) -> int:
    if not args.plugin or not args.out:
        raise PluginError("save-state needs a plugin and -o FILE, e.g. vmb plugins save-state Synth.vst3 -o s.state")
    parameters: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise PluginError(f"--set {item!r}: write NAME=VALUE, e.g. --set gain=0.8")
        parameters[key.strip()] = _value(value.strip())
    task = ChildTask(_save_task, (args.plugin, args.out, args.plugin_name, parameters), Path(args.plugin).name,
                     "saving its state", "the plugin or its parameters are faulty")
    size = run_isolated(task, args.timeout)
    print(f"wrote {size} bytes of {'preset' if args.out.suffix == '.vstpreset' else 'state'} to {args.out}")
    return 0


def _print_info(bundle: Path, info: PluginInfo) -> None:
    print(f"{bundle}  {info.name}  [{'instrument' if info.is_instrument else 'effect'}]")
    for p in info.parameters:
        span = f"{p.minimum:g}..{p.maximum:g}" if p.minimum is not None and p.maximum is not None else "choice"
        print(f"    {p.name:<28} {span:<16} default {p.default} {p.unit}".rstrip())


def run(args: argparse.Namespace) -> int:
    if args.action == "save-state":
        return _save(args)
    dirs = args.path or standard_vst3_dirs()
    bundles = find_vst3(dirs)
    if not bundles:
        print(f"no VST3 plugins in {', '.join(map(str, dirs))}")
        return 0
    failed: list[str] = []
    for bundle in bundles:
        if args.names_only:
            print(bundle)
            continue
        try:
            info = describe_isolated(str(bundle), args.plugin_name, args.timeout)
        except PluginError as exc:
            print(f"{bundle}  FAILED: {exc}")
            failed.append(bundle.name)
            continue
        _print_info(bundle, info)
    if failed:
        print(f"{len(failed)} of {len(bundles)} plugins failed to load: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
