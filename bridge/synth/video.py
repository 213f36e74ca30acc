"""H.264 encoding through an ffmpeg subprocess fed raw BGR frames on stdin, at a constant or variable frame rate.

Variable frame rate: frame ``N`` is shown at ``(N + floor(N / K) + A * (sin(W * N + P) - sin(P))) / fps``
seconds (a dropped frame every ``K`` frames and a smooth jitter of up to ``A`` frames), rounded to the
90 kHz clock of the container. ffmpeg's ``setpts`` evaluates the same expression, so the container's
timestamps are exactly the labels' ``frame_times``.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from bridge.errors import SystemDependencyError, VideoError

log = logging.getLogger(__name__)
CLOCK_HZ = 90000


@dataclass(frozen=True, slots=True)
class VfrTiming:
    fps: float
    drop_every: int
    jitter: float
    omega: float
    phase: float

    def ticks(self, n: int) -> int:
        """Container timestamp of frame ``n`` in 1/90000 s, computed in the order ffmpeg's evaluator uses."""
        frames = n + math.floor(n / self.drop_every) + self.jitter * (math.sin(self.omega * n + self.phase)
                                                                      - math.sin(self.phase))
        return math.floor(frames * CLOCK_HZ / self.fps + 0.5)

    def expression(self) -> str:
        sin_phase = repr(math.sin(self.phase))
        frames = (f"(N+floor(N/{self.drop_every})+{self.jitter!r}*(sin({self.omega!r}*N+{self.phase!r})"
                  f"-({sin_phase})))")
        return f"floor({frames}*{CLOCK_HZ}/{self.fps!r}+0.5)"


def vfr_timing(fps: float, seed: int) -> VfrTiming:
    rng = np.random.default_rng([zlib.crc32(b"vfr"), seed])
    return VfrTiming(fps, int(rng.integers(6, 25)), round(float(rng.uniform(0.1, 0.35)), 6),
                     round(float(rng.uniform(0.3, 2.5)), 6), round(float(rng.uniform(0.0, 6.28)), 6))


def vfr_timestamps(fps: float, duration: float, seed: int) -> NDArray[np.float64]:
    """Frame times (s) of a variable-frame-rate clip: every frame shown before ``duration``, at least one."""
    timing = vfr_timing(fps, seed)
    times = []
    n = 0
    while True:
        t = timing.ticks(n) / CLOCK_HZ
        if t >= duration and n > 0:
            break
        times.append(t)
        n += 1
    return np.array(times, np.float64)


class H264Writer:
    """Context manager: ``write(frame)`` BGR uint8 frames of one size; closes ffmpeg and checks it on exit."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, crf: int = 23, max_bitrate_kbps: int = 6000,
                 vfr: VfrTiming | None = None) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise SystemDependencyError("ffmpeg was not found: install it (Debian: apt install ffmpeg)")
        self.path, self.size = path, size
        width, height = size
        timing = []
        if vfr is not None:
            # the encoder's time base must be the 90 kHz clock too, or ffmpeg snaps frames to the 1/fps grid
            timing = ["-vf", f"settb=1/{CLOCK_HZ},setpts='{vfr.expression()}'", "-fps_mode", "passthrough",
                      "-enc_time_base", f"1/{CLOCK_HZ}", "-video_track_timescale", str(CLOCK_HZ)]
        cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
               "-r", f"{fps}", "-i", "-", *timing, "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
               "-pix_fmt", "yuv420p", "-threads", "4", "-maxrate", f"{max_bitrate_kbps}k",
               "-bufsize", f"{2 * max_bitrate_kbps}k",
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
