"""Falling notes of a long video from time segments decoded and tracked side by side, one process per core.

Decoding is most of the falling-notes method's cost, and ffmpeg cannot spread one stream's chain of predicted
frames over many threads: one core would wait. Here each worker decodes its own time segment with its own ffmpeg
(one decoding thread) and tracks it with its own :class:`~bridge.falling_tracker.Tracker`; the first segment runs
in this process while the others start.

The segments are joined at their bounds: a segment after the first starts reading :data:`WARMUP_S` early, so its
tracker has learned the keys' unlit looks and the bars' speed when its own time begins, and keeps the notes that
start in its own time. A segment before a cut reads on past it until every note it started before the cut has
ended, so a note that sounds across a cut keeps its true length. A strike that both sides time a hair apart on
either side of the cut is kept once.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.falling import FallingResult, TrackedNote, falling_result
from bridge.falling_source import FallingView, falling_frames
from bridge.falling_tracker import FallingSettings, Tracker
from bridge.ffmpeg_source import SkipFrame
from bridge.segments import Segment, default_workers, plan_segments
from bridge.sources import prefetched

log = logging.getLogger(__name__)

WARMUP_S = 3.0  # the unlit looks take 1 s to learn, the bars' speed a few bars seen falling
MIN_SEGMENT_S = 10.0  # shorter segments pay more for the warm-up and the start of a worker than they save
CUT_MARGIN_S = 0.5  # a segment reads this far past its cut at least: a note is opened a little after its onset
MAX_TAIL_S = 30.0  # and at most this far, ending a note still held there
SAME_STRIKE_S = 0.05  # notes of one key this close on either side of a cut are one strike seen by both sides
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class FallingRead:
    """How a video is read for the falling-notes method (picklable: it crosses to the workers): ``skip_frame`` and
    ``frame_interval`` as for :func:`~bridge.falling_source.falling_frames` and :class:`Tracker`, ``threads``
    ffmpeg's decoding threads (None: 1 per worker for several segments or for I and P frames only, else ffmpeg's
    choice)."""

    video: Path
    view: FallingView
    settings: FallingSettings
    skip_frame: SkipFrame | None = None
    frame_interval: float | None = None
    threads: int | None = None


@dataclass(frozen=True, slots=True)
class SegmentJob:
    read: FallingRead
    segment: Segment
    read_past_end: bool  # an inner cut: read on until the notes started before it have ended


@dataclass(frozen=True, slots=True)
class SegmentNotes:
    notes: list[TrackedNote]  # those that start in the segment's own time, colours in BGR
    n_frames: int  # frames read in the segment's own time
    truncated: bool


@dataclass(frozen=True, slots=True)
class SegmentedResult:
    result: FallingResult
    n_frames: int
    truncated: bool  # the video stopped decoding early
    n_segments: int


def default_falling_workers() -> int:
    """One worker per two cores: a worker keeps about two busy (its ffmpeg decoding, its tracker beside it)."""
    return max(1, default_workers() // 2)


def transcribe_segments(read: FallingRead, start: float, end: float, open_end: bool, workers: int,
                        progress: Progress | None = None, min_segment_s: float = MIN_SEGMENT_S) -> SegmentedResult:
    """Falling notes of ``start``-``end`` (to the end of the video when ``open_end``) in up to ``workers`` segments
    of at least ``min_segment_s`` side by side."""
    segments = plan_segments(start, end, workers, open_end, min_segment_s, WARMUP_S)
    if read.threads is None and (len(segments) > 1 or read.skip_frame == "bidir"):
        # a core per worker already, or only I and P frames: each P frame is predicted from the one before, so
        # ffmpeg's frame threads wait on each other and only contend with the tracker for the cores
        read = dataclasses.replace(read, threads=1)
    jobs = [SegmentJob(read, segment, k < len(segments) - 1) for k, segment in enumerate(segments)]
    if len(jobs) == 1:
        parts = [track_segment(jobs[0], progress)]
    else:
        log.info("falling notes of %s in %d segments side by side", read.video, len(jobs))
        share = (end - start) / max(1e-9, (segments[0].end or end) - start)  # progress counts the first segment only
        scaled = None if progress is None else _scaled(progress, share)
        with ProcessPoolExecutor(len(jobs) - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
            others = [pool.submit(track_segment, job) for job in jobs[1:]]
            parts = [track_segment(jobs[0], scaled)] + [future.result() for future in others]
    notes = _joined([part.notes for part in parts], [s.keep_from for s in segments[1:]])
    return SegmentedResult(falling_result(notes, read.view.points, read.settings),
                           sum(part.n_frames for part in parts), any(part.truncated for part in parts), len(parts))


def track_segment(job: SegmentJob, progress: Progress | None = None) -> SegmentNotes:
    """One worker's part: the notes that start in its segment's own time."""
    read, segment, points = job.read, job.segment, job.read.view.points
    cut = segment.end
    stop = None if cut is None else cut + (MAX_TAIL_S if job.read_past_end else 0.0)
    source = falling_frames(read.video, read.view, segment.read_from,
                            None if stop is None else stop - segment.read_from, read.threads, read.skip_frame)
    tracker = Tracker(points, read.settings, read.frame_interval)
    own = 0
    with closing(prefetched(source)) as frames:
        for frame in frames:
            if cut is not None and frame.t >= cut:
                if frame.t >= cut + CUT_MARGIN_S and not _sounding_since_before(tracker, cut):
                    break
            elif frame.t >= segment.keep_from:
                own += 1
                if progress is not None and own % 16 == 0:
                    progress(own)
            tracker.push(frame.t, points.read_frame(frame))
    tracker.close()
    own_time = [note for note in tracker.finished_in_bgr()
                if note[0] >= segment.keep_from and (cut is None or note[0] < cut)]
    return SegmentNotes(own_time, own, source.truncated)


def _sounding_since_before(tracker: Tracker, cut: float) -> bool:
    return any(note.start < cut for note in tracker.open.values())


def _joined(parts: list[list[TrackedNote]], cuts: list[float]) -> list[TrackedNote]:
    """The notes of consecutive segments as one list; a strike both sides of a cut saw (one key, onsets within
    SAME_STRIKE_S) is kept from the earlier segment, which saw more of what led to it."""
    joined = list(parts[0])
    for cut, part in zip(cuts, parts[1:], strict=True):
        before = {(key, start) for start, _, key, _ in joined if start >= cut - SAME_STRIKE_S}
        joined += [note for note in part if not (note[0] < cut + SAME_STRIKE_S and any(
            key == note[2] and abs(start - note[0]) <= SAME_STRIKE_S for key, start in before))]
    return joined


def _scaled(progress: Progress, share: float) -> Progress:
    return lambda frames: progress(int(np.floor(frames * share)))
