"""``vmb calibrate``: find the keyboard and every key in a video or image; write the calibration JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.calibration import calibrate_images, draw_preview, read_sample_frames
from bridge.errors import InputFileError, VmbError
from bridge.geometry import parse_pitch_name, pitch_name

NAME = "calibrate"
HELP = "find the keyboard and every key in a video or image and write the calibration (JSON), with a preview"
EXAMPLE = "vmb calibrate performance.mp4 -o performance.calib.json --preview performance.calib.png"


def _corners(text: str) -> NDArray[np.float64]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--corners {text!r} must be 8 numbers x1,y1,...,x4,y4") from exc
    if len(values) != 8:
        raise argparse.ArgumentTypeError(f"--corners needs 8 numbers x1,y1,...,x4,y4, got {len(values)}")
    return np.array(values, np.float64).reshape(4, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video (mp4, mov, mkv, ...) or image (png, jpg) of the keyboard")
    parser.add_argument("-o", "--output", type=Path, required=True, help="calibration file to write (.json)")
    parser.add_argument("--preview", type=Path, help="also write a PNG of a frame with every key outlined")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--lowest-key", help="name of the leftmost key seen whole, e.g. A0 or C2 (default: found)")
    keys.add_argument("--keys", type=int, help="keyboard size (88, 76, 73, 61, 49, 37, 25) when it runs out of view")
    parser.add_argument("--corners", type=_corners, help="the key area's corners in pixels: back-left, back-right, "
                        "front-right, front-left as x1,y1,x2,y2,x3,y3,x4,y4 (skips the automatic search)")
    parser.add_argument("--start", type=float, default=0.0, help="first second of the video to look at (default 0)")
    parser.add_argument("--duration", type=float, help="seconds of video to sample (default: to the end)")


def _write_preview(path: Path, image: NDArray[np.uint8]) -> None:
    try:
        written = cv2.imwrite(str(path), image)
    except cv2.error:
        written = False
    if not written:
        raise InputFileError(f"cannot write the preview {path}: check the folder and use a .png name")


def run(args: argparse.Namespace) -> int:
    if not args.input.exists():
        raise InputFileError(f"{args.input} does not exist: check the path")
    if args.duration is not None and args.duration <= 0:
        raise VmbError("--duration must be more than 0 seconds")
    lowest = parse_pitch_name(args.lowest_key) if args.lowest_key else None
    frames = read_sample_frames(args.input, args.start, args.duration)
    geometry = calibrate_images(frames, lowest_pitch=lowest, n_keys=args.keys, corners=args.corners,
                                source=str(args.input))
    if args.preview is not None:
        _write_preview(args.preview, draw_preview(frames[0], geometry))
    try:
        geometry.save(args.output)
    except OSError as exc:
        raise InputFileError(f"cannot write {args.output} ({exc.strerror}): check the folder") from exc
    layout = geometry.layout
    notes = f"; assumed: {'; '.join(geometry.assumptions)}" if geometry.assumptions else ""
    print(f"{args.output}: {geometry.n_keys} keys {pitch_name(layout.lowest_pitch)}-{pitch_name(layout.highest_pitch)}"
          f", confidence {geometry.confidence:.2f}{notes}")
    return 0
