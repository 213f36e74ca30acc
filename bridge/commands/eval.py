"""``vmb eval``: score a transcription against a reference."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.scoring import PRF, Scores, best_shift, load_notes, score, shift_notes

NAME = "eval"
HELP = "score a transcription (MIDI or notes CSV) against a reference with mir_eval"
EXAMPLE = "vmb eval truth.mid transcribed.mid --fps 30 --best-shift --json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", type=Path, help="the true notes: .mid or .csv")
    parser.add_argument("estimate", type=Path, help="the transcribed notes: .mid or .csv")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate for frame F1 (default 30)")
    parser.add_argument("--shift", type=float, default=0.0, help="seconds to add to every estimated note")
    parser.add_argument("--best-shift", action="store_true",
                        help="search the offset (within --max-shift) that best aligns the two, and use it")
    parser.add_argument("--max-shift", type=float, default=1.0, help="search range for --best-shift (seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    reference = load_notes(args.reference)
    estimate = load_notes(args.estimate)
    shift = args.shift
    if args.best_shift:
        shift += best_shift(reference, shift_notes(estimate, shift), max_shift=args.max_shift)
    result = score(reference, estimate, fps=args.fps, shift=shift)
    print(json.dumps(result.to_json()) if args.json else _table(result))
    return 0


def _row(label: str, prf: PRF) -> str:
    return f"{label:<28} {prf.precision:9.3f} {prf.recall:9.3f} {prf.f1:9.3f}"


def _table(s: Scores) -> str:
    lines = [
        f"reference notes {s.n_reference}, estimated notes {s.n_estimate}, shift {s.shift * 1000:+.0f} ms",
        f"{'':<28} {'precision':>9} {'recall':>9} {'F1':>9}",
        _row("onset (50 ms)", s.onset_50ms),
        _row("onset (100 ms)", s.onset_100ms),
        _row("onset+offset (50 ms, 20%)", s.onset_offset_50ms),
        _row(f"frame ({s.frame_fps:g} fps)", s.frame),
        "velocity error (matched)    " + ("n/a" if s.velocity_mae is None else f"{s.velocity_mae:.1f} MIDI units"),
    ]
    return "\n".join(lines)
