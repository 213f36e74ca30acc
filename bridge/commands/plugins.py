"""``vmb plugins``: list installed VST3 plugins and their parameters; save a plugin's raw state."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.errors import PluginError
from bridge.plugins import describe_isolated, find_vst3, save_state, standard_vst3_dirs

NAME = "plugins"
HELP = "list installed VST3 plugins (instruments and effects) with their parameters, or save a plugin's state"
EXAMPLE = "vmb plugins --path /usr/lib/vst3  |  vmb plugins save-state Synth.vst3 -o synth.state --set gain=0.8"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "save-state"), default="list")
    parser.add_argument("plugin", nargs="?", help="save-state: the .vst3 bundle")
    parser.add_argument("--path", action="append", type=Path, help="folder to search instead of the standard ones")
    parser.add_argument("--timeout", type=float, default=30.0, help="list: seconds a plugin may take to load")
    parser.add_argument("--names-only", action="store_true", help="list: do not load plugins to show parameters")
    parser.add_argument("--plugin-name", help="for bundles with several plugins")
    parser.add_argument("-o", "--out", type=Path, help="save-state: file to write")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="save-state: parameter values")


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    if args.action == "save-state":
        if not args.plugin or not args.out:
            raise PluginError(
                "save-state needs a plugin and -o FILE, e.g. vmb plugins save-state Synth.vst3 -o s.state"
            )
        parameters = {k: _value(v) for k, _, v in (item.partition("=") for item in args.set)}
        size = save_state(args.plugin, args.out, args.plugin_name, parameters)
        print(f"wrote {size} bytes of state to {args.out}")
        return 0
    dirs = args.path or standard_vst3_dirs()
    bundles = find_vst3(dirs)
    if not bundles:
        print(f"no VST3 plugins in {', '.join(map(str, dirs))}")
        return 0
    for bundle in bundles:
        if args.names_only:
            print(bundle)
            continue
        try:
            info = describe_isolated(str(bundle), args.plugin_name, args.timeout)
        except PluginError as exc:
            print(f"{bundle}: {exc}")
            continue
        print(f"{bundle}  {info.name}  [{'instrument' if info.is_instrument else 'effect'}]")
        for p in info.parameters:
            span = f"{p.minimum:g}..{p.maximum:g}" if p.minimum is not None and p.maximum is not None else "choice"
            print(f"    {p.name:<28} {span:<16} default {p.default} {p.unit}".rstrip())
    return 0
