"""H.264 encoding through an ffmpeg subprocess fed raw BGR frames on stdin."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from bridge.errors import SystemDependencyError, VideoError

log = logging.getLogger(__name__)


class H264Writer:
    """Context manager: ``write(frame)`` BGR uint8 frames of one size; closes ffmpeg and checks it on exit."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, crf: int = 23) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise SystemDependencyError("ffmpeg was not found: install it (Debian: apt install ffmpeg)")
        self.path, self.size = path, size
        width, height = size
        cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
               "-r", f"{fps}", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
               "-pix_fmt", "yuv420p", "-threads", "4", "-maxrate", "6M", "-bufsize", "12M",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-movflags", "+faststart", str(path)]
        log.debug("running %s", " ".join(cmd))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: NDArray[np.uint8]) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as exc:
            raise VideoError(f"ffmpeg stopped while writing {self.path}: {self._stderr()}") from exc

    def _stderr(self) -> str:
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        return err.strip() or "no message"

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        code = self._proc.wait()
        if code != 0:
            raise VideoError(f"ffmpeg failed to write {self.path} (exit {code}): {self._stderr()}")

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._proc.kill()
            self._proc.wait()
