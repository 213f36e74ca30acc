"""``vmb convert``: notes between MIDI files and notes CSV."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from bridge.errors import InputFileError
from bridge.midi import Track, read_midi, tracks_by_channel, write_midi
from bridge.notes_csv import write_notes_csv
from bridge.scoring import load_notes

NAME = "convert"
HELP = "convert notes between a MIDI file and a notes CSV (onset,offset,pitch,velocity,channel)"
EXAMPLE = "vmb convert performance.mid -o notes.csv"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help=".mid or .csv to read")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".mid or .csv to write")
    parser.add_argument("--shift", type=float, default=0.0, help="seconds to add to every note")
    parser.add_argument("--tempo", type=float, default=120.0, help="tempo written into a MIDI output (BPM)")


def run(args: argparse.Namespace) -> int:
    notes = load_notes(args.source)
    if args.shift:
        notes = [replace(n, start=n.start + args.shift, end=n.end + args.shift) for n in notes
                 if n.start + args.shift >= 0]
    suffix = args.output.suffix.lower()
    if suffix == ".csv":
        write_notes_csv(args.output, notes)
    elif suffix in (".mid", ".midi"):
        programs = {t.channel: t.program for t in _tracks(args.source) if t.program is not None}
        write_midi(args.output, tracks_by_channel(notes, programs=programs), tempo_bpm=args.tempo)
    else:
        raise InputFileError(f"cannot write {args.output.name}: give an output ending in .mid or .csv")
    log.info("wrote %d notes to %s", len(notes), args.output)
    print(f"{len(notes)} notes -> {args.output}")
    return 0


def _tracks(source: Path) -> tuple[Track, ...]:
    return read_midi(source).tracks if source.suffix.lower() in (".mid", ".midi") else ()
