"""``vmb transcribe``: a silent piano video to MIDI (and notes CSV, raw roll, preview video, audio)."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from bridge.errors import InputFileError, VmbError
from bridge.falling_segments import MIN_SEGMENT_S, default_falling_workers
from bridge.falling_source import FRAMES
from bridge.midi import tracks_by_channel, write_midi
from bridge.notes_csv import write_notes_csv
from bridge.pipeline import HandChannels, RollRecorder
from bridge.sources import probe
from bridge.transcribe import (
    METHODS,
    READERS,
    TranscribeOptions,
    choose_method,
    load_or_calibrate,
    transcribe_video,
)
from bridge.types import Note

NAME = "transcribe"
HELP = "transcribe a silent piano video (real keys or a falling-notes tutorial) into MIDI"
EXAMPLE = "vmb transcribe performance.mp4 -o performance.mid --notes notes.csv --preview check.mp4"

log = logging.getLogger(__name__)
HAND_NAMES = {0: "left hand", 1: "right hand"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file (mp4, mov, mkv, ...)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write (.mid)")
    parser.add_argument("--calibration", type=Path, help="calibration from vmb calibrate (default: find the keys)")
    parser.add_argument("--notes", type=Path, help="also write the notes as CSV")
    parser.add_argument("--roll", type=Path, help="also write the model's per-frame activations (.npz)")
    parser.add_argument("--preview", type=Path, help="also write a preview video: lit keys and a scrolling roll")
    parser.add_argument("--render", type=Path, help="also render the MIDI to audio (.wav) with the default instrument")
    parser.add_argument("--start", type=float, default=0.0, help="first second of the video to transcribe")
    parser.add_argument("--duration", type=float, help="seconds to transcribe (default: to the end)")
    parser.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores)")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="keys (real keyboard), falling (Synthesia-style bars) or auto (default)")
    parser.add_argument("--quantize", metavar="GRID", help="snap notes to the estimated beat grid, e.g. 1/16")
    parser.add_argument("--quantize-strength", type=float, default=1.0, help="0 (none) to 1 (full, default)")
    parser.add_argument("--split-pitch", type=int, default=60,
                        help="notes below this MIDI pitch go to the left hand's track (default 60, middle C)")
    parser.add_argument("--model", type=Path, help="key model (.onnx with its card.json beside it)")
    parser.add_argument("--reader", choices=READERS, default="auto",
                        help="frame reading for the keys method: ffmpeg (the luma of only the keyboard, fast; whole "
                             "frames with --preview), opencv (whole BGR frames), auto (default: ffmpeg when installed; "
                             "vmb live --video reads the same way, so both give the same notes)")
    parser.add_argument("--frames", choices=FRAMES, default="auto",
                        help="frames the falling method decodes: all, reference (those other frames are predicted "
                             "from: about half, exact), ip (I and P only: about a third, fastest, may miss the fastest "
                             "repeats and time note ends more coarsely in hybrid videos), auto (default: ip for 1080p "
                             "and up at 45 fps and more with B frames, 10x real time at 1080p60; else all)")
    parser.add_argument("--workers", type=int, default=default_falling_workers(),
                        help=f"falling method: processes reading time segments side by side (default "
                             f"{default_falling_workers()}, one per two cores: each keeps about two busy; videos "
                             f"shorter than {2 * MIN_SEGMENT_S:.0f} s use one)")


def run(args: argparse.Namespace) -> int:
    if not args.video.is_file():
        raise InputFileError(f"video {args.video} does not exist: check the path")
    if not 0.0 <= args.quantize_strength <= 1.0:
        raise VmbError("--quantize-strength must be between 0 and 1")
    options = TranscribeOptions(start=args.start, duration=args.duration, method=args.method, threads=args.threads,
                                model_path=args.model, reader=args.reader, frames=args.frames, workers=args.workers,
                                hands=HandChannels(split_pitch=args.split_pitch))
    calibrated = load_or_calibrate(args.video, args.calibration, options)
    geometry = calibrated.geometry
    # the frames calibration read often settle the method: no second reading (then they can go)
    options = replace(options, method=choose_method(args.video, geometry, options, calibrated.sample_frames))
    del calibrated
    roll = RollRecorder() if args.roll else None
    info = probe(args.video)
    total = _expected_frames(info.fps, info.duration, args.start, args.duration)
    with tqdm(total=total, unit="frame", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:

        def advance(frames_done: int) -> None:
            bar.update(frames_done - bar.n)

        result = transcribe_video(args.video, geometry, options, progress=advance, preview=args.preview, roll=roll)
    if result.truncated:
        print(f"warning: {args.video} stopped decoding early (truncated or corrupt); "
              f"transcribed the {result.n_frames} frames that decoded", file=sys.stderr)
    names = _part_names(result.part_colours) if result.method == "falling" else HAND_NAMES
    _write_outputs(args, result.notes, names, roll)
    if result.part_colours:
        print("parts by bar colour: " + ", ".join(f"channel {ch + 1} = {name}" for ch, name in names.items()))
    print(f"wrote {args.output}: {len(result.notes)} notes from {result.n_frames} frames "
          f"({result.method} method, keys {geometry.lowest_pitch}-{geometry.lowest_pitch + geometry.n_keys - 1})")
    return 0


def _expected_frames(fps: float, length: float, start: float, duration: float | None) -> int | None:
    if fps <= 0 or length <= 0:
        return None
    end = length if duration is None else min(length, start + duration)
    return max(0, round((end - start) * fps))


def _part_names(colours: tuple[tuple[int, int, int], ...]) -> dict[int, str]:
    from bridge.falling import part_colour_names

    return {i: f"part {i + 1} {name}" for i, name in enumerate(part_colour_names(list(colours)))}


def _write_outputs(args: argparse.Namespace, notes: list[Note], names: dict[int, str],
                   roll: RollRecorder | None) -> None:
    from bridge.tempo import estimate_tempo, quantize

    tempo = estimate_tempo(notes)
    performance = notes
    if args.quantize:
        notes = quantize(performance, tempo, args.quantize, args.quantize_strength)
        unquantized = args.output.with_suffix(".performance.mid")
        write_midi(unquantized, tracks_by_channel(performance, names), tempo.bpm)
        print(f"wrote {unquantized} (the unquantized performance)")
    write_midi(args.output, tracks_by_channel(notes, names), tempo.bpm)
    if args.notes:
        write_notes_csv(args.notes, notes)
    if roll is not None:
        roll.save(args.roll)
    if args.render:
        _render(args.output, args.render)


def _render(midi: Path, out: Path) -> None:
    from bridge.render import render_midi_mix

    peak = render_midi_mix(midi, out)
    print(f"wrote {out} (default instrument, peak {peak:.1f} dBFS)")
