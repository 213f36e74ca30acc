"""Frame sources: every frame of a video file with its own timestamp, a live camera, realtime pacing, loops."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import InputFileError, VideoError, VmbError
from bridge.types import Frame, Note, NoteEdge, notes_to_edges

log = logging.getLogger(__name__)

SEEK_LEAD_S = 1.0  # a file source seeks this far before its start and skips forward by the frames' own times


@dataclass(frozen=True, slots=True)
class GreyFrame(Frame):
    """A frame that carries the grey levels the key model reads (h, w): the video's own luma in full range
    (``bridge.features.luma_to_grey``), so that every reader of one file gives the model the same pixels."""

    grey: NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PlanarFrame(Frame):
    """A frame as the video's own 4:2:0 planes, for methods that convert only the pixels they read
    (``bridge.i420``): ``planes`` (h * 3 / 2, w) holds the luma rows, then U and V at half size (I420); ``image``
    shows the luma in three channels, without a copy."""

    planes: NDArray[np.uint8]


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


def warn_if_truncated(path: Path, decoded: int, expected: int, whole_file: bool) -> bool:
    """True, after a warning, when reading the whole file gave clearly fewer frames than the container counts
    (that count is an estimate for variable-rate files, so only a clear shortfall counts)."""
    if not whole_file or expected <= 0 or decoded >= expected - max(3, expected // 10):
        return False
    log.warning("%s: decoding stopped at frame %d of %d (truncated or corrupt file); kept what decoded",
                path, decoded, expected)
    return True


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
        capture, grabbed = self._open_at_start()
        try:
            index = -1
            while grabbed or capture.grab():
                grabbed = False
                t = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000
                index = int(capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1
                if t + 1e-6 < self.start:
                    continue  # grabbed, never converted to BGR
                if self.end is not None and t >= self.end - 1e-6:
                    break
                ok, image = capture.retrieve()
                if not ok:
                    break
                self.frames_read += 1
                yield Frame(index, t, np.ascontiguousarray(image))
            whole_file = self.end is None and self.start == 0
            self.truncated = warn_if_truncated(self.path, index + 1, self.info.n_frames, whole_file)
        finally:
            capture.release()

    def _open_at_start(self) -> tuple[cv2.VideoCapture, bool]:
        """The capture placed at or before ``start``, and whether it already grabbed its first frame there.

        OpenCV seeks by a frame number computed from the nominal frame rate, which lands too late in
        variable-rate video: a seek that lands after ``start`` is retried further back, finally from the top.
        """
        capture = _open(self.path)
        lead = SEEK_LEAD_S
        while self.start - lead > 0:
            capture.set(cv2.CAP_PROP_POS_MSEC, (self.start - lead) * 1000)
            if capture.grab() and float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000 <= self.start + 1e-6:
                return capture, True
            lead *= 4
        if self.start > SEEK_LEAD_S:
            capture.release()
            capture = _open(self.path)
        return capture, False


class Clock(Protocol):
    """What paces a source: a wall clock (:class:`Pacer`) or a DAW's transport (bridge.mtc.MtcPacer)."""

    def reset(self, t: float = 0.0) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def position(self) -> float | None: ...

    def wait_until(self, t: float, stop: threading.Event | None = None) -> bool: ...


class Pacer:
    """Plays stream times at wall-clock speed: :meth:`wait_until` sleeps until a time is due.

    :meth:`pause` and :meth:`resume` shift the origin so that playback goes on where it stopped;
    :meth:`reset` starts over (after a seek or a new loop pass).
    """

    def __init__(self) -> None:
        self._origin: float | None = None  # monotonic time at which stream time 0 is due
        self._paused_at: float | None = None
        self._wake = threading.Event()

    def reset(self, t: float = 0.0) -> None:
        self._origin = time.monotonic() - t
        self._wake.set()

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        if self._paused_at is not None:
            if self._origin is not None:
                self._origin += time.monotonic() - self._paused_at
            self._paused_at = None
            self._wake.set()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def position(self) -> float | None:
        """The stream time due now; None while paused or before the start."""
        if self._paused_at is not None or self._origin is None:
            return None
        return time.monotonic() - self._origin

    def wait_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Sleep until stream time ``t`` is due; False when ``stop`` was set meanwhile."""
        if self._origin is None:
            self.reset(t)
        while stop is None or not stop.is_set():
            self._wake.clear()
            origin = self._origin if self._origin is not None else time.monotonic() - t
            delay = 0.05 if self._paused_at is not None else origin + t - time.monotonic()
            if delay <= 0:
                return True
            self._wake.wait(min(delay, 0.05))
        return False


def paced(frames: Iterable[Frame], pacer: Clock, stop: threading.Event | None = None) -> Iterator[Frame]:
    """``frames`` delivered at their own timestamps, as a camera would deliver them (``--realtime``)."""
    for frame in frames:
        if not pacer.wait_until(frame.t, stop):
            return
        yield frame


def looped(source: Iterable[Frame], passes: int | None = None) -> Iterator[Frame]:
    """A re-iterable source played again and again (``--loop``) on one continuous timeline.

    The first pass keeps the source's times; each next pass starts one frame interval after the last
    frame of the previous one; indexes keep counting.
    """
    offset_t: float | None = None
    offset_index, done = 0, 0
    while passes is None or done < passes:
        first_t: float | None = None
        last_t, last_index, step = 0.0, -1, 1 / 30
        for frame in source:
            if first_t is None:
                first_t = frame.t
                offset_t = first_t if offset_t is None else offset_t
            elif frame.t > last_t:
                step = frame.t - last_t
            last_t, last_index = frame.t, frame.index
            yield replace(frame, index=offset_index + frame.index, t=(offset_t or 0.0) + frame.t - first_t)
        if first_t is None or offset_t is None:
            raise VideoError("the looped source gave no frames: check the file and the --start/--duration range")
        offset_t += last_t - first_t + step
        offset_index += last_index + 1
        done += 1


class CameraSource:
    """A live camera (index) or stream (URL): newest frame wins, drops counted.

    A reader thread keeps only the latest frame. A camera that stops delivering (unplugged, frozen
    picture, stream gone) is reported through ``on_stall`` with the reason, and reopened every
    ``retry_s`` seconds while iteration goes on. Timestamps are seconds since the source started.
    """

    def __init__(self, device: int | str, stall_s: float = 1.0, retry_s: float = 1.0,
                 on_stall: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.stall_s = stall_s
        self.retry_s = retry_s
        self.on_stall = on_stall
        self.delivered = 0
        self.dropped = 0
        self.stalls = 0
        self._latest: Frame | None = None
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._capture = self._open()
        if self._capture is None:
            raise VideoError(f"cannot open camera {device!r}: check it is plugged in and not used by another "
                             "program, or give another --camera index or URL")
        self._thread = threading.Thread(target=self._read_loop, name="camera", daemon=True)
        self._thread.start()

    def _open(self) -> cv2.VideoCapture | None:
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            return None
        return capture

    def _read_loop(self) -> None:
        index = 0
        while not self._stop.is_set():
            capture = self._capture
            ok, image = capture.read() if capture is not None else (False, None)
            if not ok or image is None:
                self._reopen()
                continue
            frame = Frame(index, time.monotonic() - self._t0, np.ascontiguousarray(image))
            index += 1
            with self._ready:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = frame
                self._ready.notify_all()

    def _reopen(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._report(f"camera {self.device!r} stopped delivering frames; retrying every {self.retry_s:g} s")
        while not self._stop.wait(self.retry_s):
            self._capture = self._open()
            if self._capture is not None:
                log.warning("camera %r is back", self.device)
                return

    def _report(self, reason: str) -> None:
        self.stalls += 1
        log.warning("%s", reason)
        if self.on_stall is not None:
            self.on_stall(reason)

    def __iter__(self) -> Iterator[Frame]:
        previous: NDArray[np.uint8] | None = None
        frozen_since: float | None = None
        stalled = False
        while not self._stop.is_set():
            with self._ready:
                if self._latest is None:
                    self._ready.wait(self.stall_s)
                frame, self._latest = self._latest, None
            if frame is None:
                if not stalled and self._capture is not None:
                    self._report(f"camera {self.device!r} gave no frame for {self.stall_s:g} s")
                stalled = True
                continue
            stalled = False
            sample = frame.image[::16, ::16]
            if previous is not None and np.array_equal(sample, previous):
                if frozen_since is None:
                    frozen_since = frame.t
                if frame.t - frozen_since >= self.stall_s:
                    self._report(f"camera {self.device!r} shows a frozen picture")
                    frozen_since = float("inf")  # reported once until the picture changes
            else:
                frozen_since = None
            previous = sample
            self.delivered += 1
            yield frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._capture is not None:
            self._capture.release()


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame (or one replay instant) produced: stream time, note edges, its monotonic arrival time."""

    t: float
    edges: Sequence[NoteEdge]
    arrived: float = field(default_factory=time.monotonic)
    controls: Sequence[object] = ()  # gesture messages (bridge.gestures.ControlMessage) of this frame


class ReplaySource:
    """Notes played back as note edges on their own timestamps (``vmb live --replay``), for setting up a DAW.

    With a pacer the edges leave at wall-clock speed, else as fast as they can be sent. ``loop`` plays
    the notes again and again on one continuous timeline, a pass every ``period`` seconds (default:
    the last note's end plus half a second).
    """

    def __init__(self, notes: Sequence[Note], pacer: Clock | None = None, loop: bool = False,
                 period: float | None = None) -> None:
        if not notes:
            raise InputFileError("the replay file holds no notes: give a .mid or notes .csv with notes in it")
        self.edges = notes_to_edges(notes)
        self.pacer = pacer
        self.loop = loop
        self.period = period if period is not None else max(n.end for n in notes) + 0.5

    def steps(self, start: float, halt: threading.Event) -> Iterator[Step]:
        offset = 0.0
        if self.pacer is not None:
            self.pacer.reset(start)
        while True:
            i = 0
            while i < len(self.edges):
                t = self.edges[i].t + offset
                group = []
                while i < len(self.edges) and self.edges[i].t + offset == t:
                    edge = self.edges[i]
                    group.append(replace(edge, t=edge.t + offset))
                    i += 1
                if t < start:
                    continue
                if self.pacer is not None and not self.pacer.wait_until(t, halt):
                    return
                if halt.is_set():
                    return
                yield Step(t, group)
            if not self.loop:
                return
            offset += self.period

    def recalibrate(self) -> str:
        raise VmbError("a replay has no camera picture to recalibrate")


_END = object()


def prefetched(frames: Iterable[Frame], depth: int = 32) -> Generator[Frame, None, None]:
    """The same frames, decoded ahead in a thread: video decoding (mostly in C, without the GIL) then
    overlaps the model's work instead of adding to it. Errors reach the consumer; stopping early ends
    the reader."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Wait for room unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    reader = threading.Thread(target=read, name="frame-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Frame)
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)
