"""Time segments of a video for workers that process them side by side (landmarks, falling notes).

Each segment after the first starts reading a little early (a warm-up) so the worker's trackers have settled
by the time its own frames begin; the results of the workers are joined at the segments' bounds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bridge.errors import VmbError

MAX_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Segment:
    """A time range of a video for one worker: decoding starts at ``read_from`` (the warm-up), the frames
    with ``keep_from <= t < end`` are kept (``end`` None: to the end of the video)."""

    read_from: float
    keep_from: float
    end: float | None


def default_workers() -> int:
    """One worker per core this process may use, at most :data:`MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def plan_segments(start: float, end: float, workers: int, open_end: bool, min_segment_s: float,
                  warmup_s: float) -> list[Segment]:
    """``start``-``end`` cut into at most ``workers`` equal segments of at least ``min_segment_s``; the last
    one runs to the end of the video when ``open_end``."""
    if workers < 1:
        raise VmbError(f"workers must be at least 1, got {workers}")
    count = max(1, min(workers, int((end - start) // min_segment_s)))
    bounds = [start + (end - start) * k / count for k in range(count)] + [end]
    segments = [Segment(max(start, bounds[k] - warmup_s) if k else start, bounds[k], bounds[k + 1])
                for k in range(count)]
    if open_end:
        segments[-1] = Segment(segments[-1].read_from, segments[-1].keep_from, None)
    return segments
