"""``vmb foley``: music from motion; a player's movements in a video become an instrument's MIDI part."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.errors import InputFileError
from bridge.foley import foley
from bridge.foley_presets import all_keypoints, bundled_instruments, load_foley_preset
from bridge.landmarks import LandmarkTracks, extract_landmarks_from_video
from bridge.midi import read_midi, write_midi
from bridge.segments import default_workers

NAME = "foley"
HELP = "turn a player's motion in a video (bowing, strumming, plucking, striking, tapping) into a MIDI part"
EXAMPLE = "vmb foley cellist.mp4 --instrument cello -o cello.mid --key 'D minor' --tempo-from-motion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file, or a tracks file (.npz) from vmb landmarks")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write (.mid)")
    parser.add_argument("--instrument", default="piano",
                        help=f"bundled preset: {', '.join(bundled_instruments())} (default piano)")
    parser.add_argument("--preset", type=Path, help="a preset file (.toml, see docs/foley.md) instead of --instrument")
    parser.add_argument("--key", help="key and scale of the notes, like 'D major' or 'E minor' (default: preset's)")
    parser.add_argument("--melody", type=Path, help="play this MIDI melody, re-timed onto the motion onsets")
    parser.add_argument("--tempo-from-motion", action="store_true",
                        help="set the file's tempo from the motion, so a DAW's grid follows the player")
    parser.add_argument("--start", type=float, default=0.0, help="first second of the video (default 0)")
    parser.add_argument("--duration", type=float, help="seconds of video to read (default: to the end)")
    parser.add_argument("--mirrored", action="store_true", help="the video is mirrored (a selfie camera)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pitch choices (default 0)")
    parser.add_argument("--tracks", type=Path, help="also save the landmark tracks to this .npz file")


def _tracks(args: argparse.Namespace, pose: bool) -> LandmarkTracks:
    if args.video.suffix.lower() == ".npz":
        end = None if args.duration is None else args.start + args.duration
        return LandmarkTracks.load(args.video).between(args.start, end)
    tracks = extract_landmarks_from_video(args.video, args.start, args.duration, default_workers(), pose=pose,
                                          mirrored=args.mirrored)
    if args.tracks is not None:
        tracks.save(args.tracks)
    return tracks


def run(args: argparse.Namespace) -> int:
    preset = load_foley_preset(args.preset if args.preset is not None else args.instrument)
    melody = None
    if args.melody is not None:
        melody = read_midi(args.melody).notes
        if not melody:
            raise InputFileError(f"{args.melody} has no notes: give a MIDI melody with at least one note")
    pose = any(spec.startswith("pose:") for spec in all_keypoints(preset))
    result = foley(_tracks(args, pose), preset, melody, args.key, args.tempo_from_motion, args.seed)
    write_midi(args.output, [result.track], tempo_bpm=result.tempo_bpm)
    if result.problem is not None:
        print(f"vmb foley: warning: {result.problem}; wrote an empty MIDI file {args.output}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {len(result.track.notes)} {preset.name} notes from {len(result.events)} "
          f"{preset.motion.gesture} events, program {preset.program}, tempo {result.tempo_bpm:g} BPM")
    return 0
