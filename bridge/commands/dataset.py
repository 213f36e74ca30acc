"""``vmb dataset build``: sharded synthetic training data (videos, labels, ground-truth MIDI) in parallel."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bridge import dataset
from bridge.errors import VmbError

NAME = "dataset"
HELP = "build sharded synthetic training data (video + labels + MIDI per clip) from a folder of MIDI files"
EXAMPLE = "vmb dataset build --midi ../shared/data/midi/pop909 --out out/data/train --hours 0.5 --split train --seed 1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    build = actions.add_parser("build", help="render clips of the split's songs into shards")
    build.add_argument("--midi", type=Path, required=True, help="folder of MIDI files (pop909: 001-850 train)")
    build.add_argument("--out", type=Path, required=True, help="folder to write the shards into (resumable)")
    build.add_argument("--hours", type=float, required=True, help="hours of video to render")
    build.add_argument("--split", choices=dataset.SPLITS, default="train", help="song split (default train)")
    build.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    build.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                       help="parallel render processes (default: the number of cores)")
    build.add_argument("--clip-seconds", type=float, default=20.0, help="length of each clip (default 20)")


def _progress(done: int, total: int) -> None:
    print(f"\rrendered {done}/{total} shards", end="" if done < total else "\n", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.action != "build":
        raise VmbError("give an action: vmb dataset build --midi DIR --out DIR --hours H")
    specs = dataset.build(args.midi, args.out, args.hours, args.split, args.seed, args.workers,
                          args.clip_seconds, _progress)
    seconds = sum(s.duration for s in specs)
    print(f"wrote {len(specs)} shards ({seconds / 3600:.2f} h) of the {args.split} split into {args.out}")
    return 0
