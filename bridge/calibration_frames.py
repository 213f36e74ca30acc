"""Frames to calibrate from: a few frames spread over a time range of a video, fast.

Seeking to arbitrary frames decodes from the keyframe before each one, which costs seconds on long
720p files. Keyframes alone decode without any other frame, so ffmpeg with ``-skip_frame nokey``
delivers them quickly; they are spread over the video by the encoder, which is what the median needs.
Files with too few keyframes in the range are decoded in order instead (up to 20 s of it).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import VideoError
from bridge.sources import probe

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
SAMPLE_FRAMES = 9
MIN_KEYFRAMES = 4
MAX_SEQUENTIAL_S = 20.0


def read_sample_frames(path: Path, start: float = 0.0, duration: float | None = None,
                       count: int = SAMPLE_FRAMES, keyframes: bool = True) -> list[NDArray[np.uint8]]:
    """Up to ``count`` frames spread over the time range (a still image gives itself): keyframes where there are
    enough, else (or with ``keyframes`` false) frames at evenly spaced indices of its first MAX_SEQUENTIAL_S
    seconds, decoded in order."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VideoError(f"cannot read {path} as an image: give a PNG or JPEG file, or a video")
        return [np.asarray(image, np.uint8)]
    info = probe(path)
    if info.duration > 0 and start >= info.duration:
        raise VideoError(f"--start {start:g}s is past the end of {path} ({info.duration:.1f}s): start earlier")
    frames = _keyframes(path, start, duration, (info.width, info.height), count) if keyframes else []
    if len(frames) >= MIN_KEYFRAMES:
        return frames
    return _sequential_frames(path, start, duration, info.fps, info.n_frames, count)


def _keyframes(path: Path, start: float, duration: float | None, size: tuple[int, int],
               count: int) -> list[NDArray[np.uint8]]:
    """Keyframes in the range through ffmpeg, thinned to at most ``count`` spread evenly; [] if ffmpeg fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return []
    command = [ffmpeg, "-v", "error", "-nostdin", "-skip_frame", "nokey"]
    if start > 0:
        command += ["-ss", f"{start:.3f}"]
    if duration is not None:
        command += ["-t", f"{duration:.3f}"]
    command += ["-i", str(path), "-an", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    width, height = size
    frame_bytes = width * height * 3
    kept: list[NDArray[np.uint8]] = []
    stride, seen = 1, 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        while True:
            data = process.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            if seen % stride == 0:
                kept.append(np.frombuffer(data, np.uint8).reshape(height, width, 3).copy())
                if len(kept) > 2 * count:  # a long video: keep every other one and take half as many from now on
                    kept, stride = kept[::2], stride * 2
            seen += 1
    if process.returncode != 0:
        log.debug("ffmpeg could not list the keyframes of %s (exit %s)", path, process.returncode)
        return []
    if len(kept) > count:
        kept = [kept[i] for i in np.linspace(0, len(kept) - 1, count).round().astype(int)]
    return kept


def _sequential_frames(path: Path, start: float, duration: float | None, fps: float, n_frames: int,
                       count: int) -> list[NDArray[np.uint8]]:
    """Frames at evenly spaced indices of the range, decoding it in order from one seek to its start.

    Arbitrary seeks decode from the previous keyframe every time, which on a file with few keyframes
    means from the start; one pass is cheaper. At most ``MAX_SEQUENTIAL_S`` seconds are decoded.
    """
    fps = fps if fps > 0 else 30.0
    span = MAX_SEQUENTIAL_S if duration is None else min(duration, MAX_SEQUENTIAL_S)
    first = round(max(start, 0.0) * fps)
    last = max(first, min(n_frames - 1 if n_frames > 0 else first + round(span * fps), first + round(span * fps) - 1))
    wanted = set(np.linspace(first, last, count).round().astype(int).tolist())
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: list[NDArray[np.uint8]] = []
    try:
        if first > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, float(first))
        for index in range(first, last + 1):
            if not capture.grab():
                break
            if index in wanted:
                ok, image = capture.retrieve()
                if ok:
                    frames.append(np.ascontiguousarray(image, dtype=np.uint8))
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"no frame of {path} could be decoded: re-encode the video (for example with ffmpeg)")
    return frames
