"""``vmb landmarks``: hand (and body) keypoints of every frame of a video, to a ``.npz`` file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bridge.errors import VmbError
from bridge.landmarks import (
    DEFAULT_SMOOTHING,
    DETECT_WIDTH,
    MIN_SEGMENT_S,
    extract_landmarks_from_video,
)
from bridge.segments import default_workers

NAME = "landmarks"
HELP = "find hands (2 x 21 points) and optionally the body pose (33 points) in every frame of a video (.npz)"
EXAMPLE = "vmb landmarks performance.mp4 -o performance-hands.npz --pose --pose-every 3 --start 10 --duration 30"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file to read")
    parser.add_argument("-o", "--output", type=Path, required=True, help="tracks file to write (.npz, see "
                                                                            "docs/landmarks.md)")
    parser.add_argument("--pose", action="store_true", help="also track the body pose (33 points; slower)")
    parser.add_argument("--start", type=float, default=0.0, help="first second to read (default 0)")
    parser.add_argument("--duration", type=float, help="seconds to read (default: to the end)")
    parser.add_argument("--mirrored", action="store_true",
                        help="the video is mirrored (a selfie camera): keeps left and right hands right")
    parser.add_argument("--lite", action="store_true", help="use the faster, less precise hand model")
    parser.add_argument("--no-smoothing", action="store_true", help="raw keypoints, without the One Euro filter")
    parser.add_argument("--detect-width", type=int, default=DETECT_WIDTH,
                        help=f"shrink frames to this width before detection (default {DETECT_WIDTH}; 0: full frames)")
    parser.add_argument("--pose-every", type=int, default=1, metavar="N",
                        help="with --pose: find the body in every Nth frame only, interpolated between (faster)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help=f"processes detecting time segments side by side (default {default_workers()}, one per "
                             f"core; videos shorter than {MIN_SEGMENT_S:.0f} s per worker use fewer)")


def run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.pose_every < 1:
        raise VmbError(f"--workers and --pose-every must be at least 1, got {args.workers} and {args.pose_every}")
    began = time.perf_counter()
    tracks = extract_landmarks_from_video(args.video, args.start, args.duration, args.workers, pose=args.pose,
                                          mirrored=args.mirrored, hand_model=0 if args.lite else 1,
                                          smoothing=None if args.no_smoothing else DEFAULT_SMOOTHING,
                                          detect_width=args.detect_width or None, pose_every=args.pose_every)
    elapsed = time.perf_counter() - began
    tracks.save(args.output)
    present = tracks.hand_present().mean(axis=0) if tracks.n_frames else np.zeros(2)
    pose = ""
    if tracks.pose is not None and tracks.n_frames:
        pose = f", body in {np.isfinite(tracks.pose[:, 0, 0]).mean():.0%}"
    rate = tracks.n_frames / elapsed if elapsed > 0 else 0.0
    print(f"wrote {args.output}: {tracks.n_frames} frames ({rate:.0f} frames/s, up to {args.workers} workers), left "
          f"hand in {present[0]:.0%}, "
          f"right hand in {present[1]:.0%} of frames{pose}")
    return 0
