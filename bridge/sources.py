"""Frame sources: every frame of a video file with its own timestamp (cameras come with the live bridge)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bridge.errors import VideoError
from bridge.types import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    n_frames: int

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise VideoError(f"{path} does not exist: check the path")
    if path.is_dir():
        raise VideoError(f"{path} is a folder: give a video file")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise VideoError(f"cannot open {path} as a video: give a video file (mp4, mov, mkv) or re-encode it")
    return capture


def probe(path: Path | str) -> VideoInfo:
    capture = _open(Path(path))
    try:
        info = VideoInfo(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         float(capture.get(cv2.CAP_PROP_FPS)), int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"{path} has no video stream: give a video with pictures")
    return info


class VideoFileSource:
    """Every decodable frame of a file, in order, each with the timestamp the container gives it.

    Never drops frames. Timestamps come from the stream (variable frame rate and wrong fps metadata
    cannot shift them); ``start`` and ``duration`` select a time range in seconds. A file that stops
    decoding early (truncated or corrupt) ends the iteration with a warning, keeping what decoded.
    """

    def __init__(self, path: Path | str, start: float = 0.0, duration: float | None = None) -> None:
        self.path = Path(path)
        self.info = probe(self.path)
        self.start = max(0.0, start)
        self.end = None if duration is None else self.start + duration
        self.frames_read = 0
        self.truncated = False

    def __iter__(self) -> Iterator[Frame]:
        capture = _open(self.path)
        try:
            if self.start > 0:
                capture.set(cv2.CAP_PROP_POS_MSEC, self.start * 1000)
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                t = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000
                index = int(capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1
                if t + 1e-6 < self.start:
                    continue
                if self.end is not None and t >= self.end - 1e-6:
                    break
                self.frames_read += 1
                yield Frame(index, t, np.ascontiguousarray(image))
            # The container's frame count is an estimate for variable-rate files: only a clear shortfall warns.
            expected = self.info.n_frames
            if self.end is None and self.start == 0 and expected > 0 and index + 1 < expected - max(3, expected // 10):
                self.truncated = True
                log.warning("%s: decoding stopped at frame %d of %d (truncated or corrupt file); kept what decoded",
                            self.path, index + 1, expected)
        finally:
            capture.release()
