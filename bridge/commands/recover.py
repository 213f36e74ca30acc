"""``vmb recover DIR``: MIDI files from the journals a crashed or killed ``vmb live --record DIR`` left."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.journal import recover

NAME = "recover"
HELP = "make the MIDI file of every unfinished take in a vmb live --record folder (after a crash or kill)"
EXAMPLE = "vmb recover takes/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="the folder given to vmb live --record")


def run(args: argparse.Namespace) -> int:
    made = recover(args.folder)
    for path in made:
        print(f"recovered {path}")
    if not made:
        print(f"nothing to recover in {args.folder}: every take has its MIDI file")
    return 0
