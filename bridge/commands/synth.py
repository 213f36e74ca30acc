"""``vmb synth``: render a MIDI performance into a synthetic piano video with exact labels."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bridge.errors import InputFileError, VmbError
from bridge.geometry import STANDARD_SIZES
from bridge.synth import STYLE_NAMES, RenderConfig, render_to_files
from bridge.synth.notes_io import read_notes
from bridge.synth.style import NOTE_NAME_LOOKS, SCORE_LINES, THEMES

NAME = "synth"
HELP = "render a MIDI file into a synthetic piano-playing video (H.264 mp4) with per-frame labels (.npz)"
EXAMPLE = "vmb synth song.mid -o song.mp4 --labels song.npz --style grand --seed 3 --duration 20 --size 1280x720"

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 1280x720") from exc
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("midi", type=Path, help="MIDI file to perform")
    parser.add_argument("-o", "--output", type=Path, required=True, help="video file to write (.mp4)")
    parser.add_argument("--labels", type=Path, help="labels file to write (.npz, see docs/synth.md)")
    parser.add_argument("--style", choices=STYLE_NAMES, default="grand", help="look of the video (default grand)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same video (default 0)")
    parser.add_argument("--start", type=float, default=0.0, help="first second of the MIDI to render (default 0)")
    parser.add_argument("--duration", type=float, help="seconds to render (default: to the last note)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    parser.add_argument("--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--keys", type=int, help="keyboard size (88, 76, 61, 49); default: chosen by the style")
    parser.add_argument("--vfr", action="store_true",
                        help="variable frame rate: jittered frame times with drops, kept in the container and labels")
    parser.add_argument("--hands-from-channels", action="store_true",
                        help="MIDI channel 1 plays the left hand, the others the right (default: a fingering model)")
    parser.add_argument("--note-names", choices=NOTE_NAME_LOOKS,
                        help="write note names in the falling bars (synthesia and hybrid styles): leading moves each "
                        "with its bar's front, held keeps it above the keys while the note sounds (default: none)")
    parser.add_argument("--theme", choices=THEMES, default="dark",
                        help="the background behind the falling bars (synthesia and hybrid styles): dark, or light "
                        "(a white to pale grey page, the bars darker than it); default dark")
    parser.add_argument("--bar-corners", type=float, default=0.0, metavar="RADIUS",
                        help="round the falling bars' corners (synthesia and hybrid styles): the radius as a share of "
                        "a bar's width, 0 to 0.5 (default 0: square)")
    parser.add_argument("--score-lines", choices=SCORE_LINES,
                        help="lines behind the falling bars (synthesia and hybrid styles): a line across the keyboard "
                        "at each measure (every 2 s) falling with the bars, still lines at each C and F, or both "
                        "(default: none)")
    parser.add_argument("--midi-out", type=Path,
                        help="ground-truth MIDI of the clip (times from its first frame); default: VIDEO.mid "
                        "(VIDEO.truth.mid when VIDEO.mid is the input)")


def run(args: argparse.Namespace) -> int:
    if not args.midi.is_file():
        raise InputFileError(f"MIDI file {args.midi} does not exist: check the path")
    notes, sustain = read_notes(args.midi)
    if not notes:
        raise VmbError(f"{args.midi} has no notes: give a MIDI file with at least one note")
    if args.keys is not None and args.keys not in STANDARD_SIZES:
        raise VmbError(f"--keys {args.keys} is not a keyboard size: use one of {', '.join(map(str, STANDARD_SIZES))}")
    config = RenderConfig(style=args.style, seed=args.seed, size=args.size, fps=args.fps, start=args.start,
                          duration=args.duration, n_keys=args.keys, vfr=args.vfr,
                          hands_from_channels=args.hands_from_channels, note_names=args.note_names or "",
                          score_lines=args.score_lines or "", theme=args.theme,
                          bar_corners=args.bar_corners)
    midi_out = args.midi_out or args.output.with_suffix(".mid")
    if midi_out.resolve() == args.midi.resolve():
        if args.midi_out is not None:
            raise VmbError(f"--midi-out would overwrite the input {args.midi}: give another path")
        midi_out = args.output.with_suffix(".truth.mid")  # never overwrite the performance we read
    labels = render_to_files(notes, config, args.output, args.labels, sustain, midi_path=midi_out)
    n_frames = len(labels["frame_times"])
    extra = f", {args.labels}" if args.labels else ""
    rate = "variable frame rate" if args.vfr else f"{args.fps:g} fps"
    print(f"wrote {args.output} ({n_frames} frames at {rate}){extra} and {midi_out}")
    return 0
