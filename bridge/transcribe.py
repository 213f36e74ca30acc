"""Offline transcription of a video file: calibrate (or load a calibration), pick the method, run the
same loop that live use runs, and return the notes.

Two methods: ``keys`` (the key model over the rectified keyboard, for real hands on real keys) and
``falling`` (lit keys and falling bars of Synthesia-style tutorials); ``auto`` looks at a few frames
and picks one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge.decoding import DecoderSettings, notes_from_edges
from bridge.errors import CalibrationError, VmbError
from bridge.falling_source import FRAMES
from bridge.ffmpeg_source import CropBox, CropSource, cropped_geometry, keyboard_crop, luma_readable
from bridge.model import KeyModel
from bridge.pipeline import EdgeLoop, HandChannels, RollRecorder
from bridge.preview import PreviewWriter
from bridge.rectify import StripSpec
from bridge.sources import VideoFileSource, prefetched, probe
from bridge.types import Activations, Frame, KeyboardGeometry, Note, NoteEdge

log = logging.getLogger(__name__)

METHODS = ("auto", "keys", "falling")
DETECT_FRAMES = 16  # frames that `auto` looks at for lit keys in the colour of the bars above them
READERS = ("auto", "ffmpeg", "opencv")
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    start: float = 0.0
    duration: float | None = None
    method: str = "auto"
    threads: int | None = None
    model_path: Path | None = None
    batch_size: int = 16
    # For the keys method: ffmpeg (the keyboard crop's luma; whole frames with the preview), opencv (whole BGR
    # frames), auto (ffmpeg where it can read the luma, as vmb live --video does: offline equals live).
    reader: str = "auto"
    decode_threads: int | None = None  # ffmpeg's decoding threads (None: its own choice)
    # For the falling method with the ffmpeg reader: which frames to decode (bridge.falling_source.FRAMES)
    frames: str = "auto"
    workers: int = 1  # falling method with ffmpeg: processes reading time segments side by side
    hands: HandChannels = field(default_factory=HandChannels)
    decoder: DecoderSettings | None = None  # None: the settings the model card recommends

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise VmbError(f"unknown method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.reader not in READERS:
            raise VmbError(f"unknown frame reader {self.reader!r}: use one of {', '.join(READERS)}")
        if self.frames not in FRAMES:
            raise VmbError(f"unknown frames {self.frames!r}: use one of {', '.join(FRAMES)}")
        if self.workers < 1:
            raise VmbError(f"workers must be at least 1, got {self.workers}")
        if self.batch_size < 1:
            raise VmbError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True, slots=True)
class Transcription:
    notes: list[Note]
    method: str
    geometry: KeyboardGeometry
    n_frames: int
    truncated: bool
    part_colours: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Calibrated:
    geometry: KeyboardGeometry
    sample_frames: list[NDArray[np.uint8]]  # the frames automatic calibration read (none from a file)


def load_or_calibrate(video: Path, calibration: Path | None, options: TranscribeOptions) -> Calibrated:
    """The calibration file when given (checked against the video's size), else automatic calibration."""
    info = probe(video)
    if calibration is None:
        from bridge.calibration import calibrate_images
        from bridge.calibration_frames import read_sample_frames

        frames = read_sample_frames(video, options.start, options.duration)
        return Calibrated(calibrate_images(frames, source=str(video)), frames)
    geometry = KeyboardGeometry.load(calibration)
    if tuple(geometry.image_size) != (info.width, info.height):
        raise CalibrationError(f"{calibration} was made for {geometry.image_size[0]}x{geometry.image_size[1]} "
                               f"frames but {video} is {info.width}x{info.height}: recalibrate with vmb calibrate")
    return Calibrated(geometry, [])


def choose_method(video: Path, geometry: KeyboardGeometry, options: TranscribeOptions,
                  sample_frames: Sequence[NDArray[np.uint8]] = ()) -> str:
    """``options.method``, or for ``auto`` falling when the video looks like a falling-notes video: in the frames
    calibration read (``sample_frames``), else in DETECT_FRAMES keyframes read now (sparse music lights few keys),
    else, where there are fewer keyframes than that (a short clip), in as many frames decoded in order."""
    if options.method != "auto":
        return options.method
    from bridge.calibration_frames import read_sample_frames
    from bridge.falling import is_falling_notes_video

    falling = bool(sample_frames) and is_falling_notes_video(list(sample_frames), geometry)
    if not falling:
        images = read_sample_frames(video, options.start, options.duration, count=DETECT_FRAMES)
        falling = bool(images) and is_falling_notes_video(images, geometry)
        if not falling and 1 < len(images) < DETECT_FRAMES:
            # 21.mid (25 notes in 20 s) at 720p60 has 5 keyframes, where one key was lit in a bar's colour
            images = read_sample_frames(video, options.start, options.duration, count=DETECT_FRAMES, keyframes=False)
            falling = is_falling_notes_video(images, geometry)
    method = "falling" if falling else "keys"
    log.info("method: %s (auto)", method)
    return method


def transcribe_video(video: Path, geometry: KeyboardGeometry, options: TranscribeOptions, *,
                     progress: Progress | None = None, preview: Path | None = None,
                     roll: RollRecorder | None = None) -> Transcription:
    method = choose_method(video, geometry, options)
    if method == "falling":
        return _transcribe_falling(video, geometry, options, progress)
    model = KeyModel.load(options.model_path, options.threads)
    source, model_geometry = _key_frames(video, geometry, model.card.strip, options, colour=preview is not None)
    loop = EdgeLoop(model_geometry, model, options.decoder or model.card.decoder, options.hands)
    writer = PreviewWriter(preview, geometry, source.info.fps or model.card.fps) if preview else None
    edges: list[NoteEdge] = []
    n_frames = 0
    last_t = 0.0
    try:
        batch: list[Frame] = []
        for frame in prefetched(source):
            batch.append(frame)
            if len(batch) == options.batch_size:
                edges += _run_batch(loop, batch, writer, roll)
                n_frames, last_t = n_frames + len(batch), batch[-1].t
                batch = []
                if progress:
                    progress(n_frames)
        if batch:
            edges += _run_batch(loop, batch, writer, roll)
            n_frames, last_t = n_frames + len(batch), batch[-1].t
        activations, tail = loop.close(last_t + 1.0 / model.card.fps)
        if roll is not None:
            roll.add(activations)
        edges += tail
    finally:
        if writer is not None:
            writer.close()
    if progress:
        progress(n_frames)
    if n_frames == 0:
        raise VmbError(f"no frame of {video} could be decoded in the chosen range: check --start/--duration "
                       "or re-encode the video")
    return Transcription(notes_from_edges(edges), "keys", geometry, n_frames, source.truncated)


def _key_frames(video: Path, geometry: KeyboardGeometry, strip: StripSpec, options: TranscribeOptions,
                colour: bool) -> tuple[VideoFileSource | CropSource, KeyboardGeometry]:
    """The frames for the key model and the calibration that fits them: the luma of the keyboard's crop decoded
    by ffmpeg (fast), whole frames with colour and luma (the preview), or OpenCV's BGR frames (without ffmpeg).
    The luma paths give the same strips as vmb live --video reads (bridge.ffmpeg_source)."""
    wanted, info = options.reader, probe(video)
    if wanted == "auto":
        wanted = "ffmpeg" if luma_readable(info) else "opencv"
        log.info("frame reader: %s (auto)", wanted)
    if wanted == "opencv":
        return VideoFileSource(video, options.start, options.duration), geometry
    if colour:
        whole = CropBox(0, 0, info.width, info.height)
        return CropSource(video, whole, options.start, options.duration, options.decode_threads, "both"), geometry
    crop = keyboard_crop(geometry, strip)
    source = CropSource(video, crop, options.start, options.duration, options.decode_threads, "grey")
    return source, cropped_geometry(geometry, crop)


def _run_batch(loop: EdgeLoop, batch: Sequence[Frame], writer: PreviewWriter | None,
               roll: RollRecorder | None) -> list[NoteEdge]:
    activations, edges = loop.push(batch)
    if roll is not None:
        roll.add(activations)
    if writer is not None:
        _write_preview(writer, batch, activations, edges)
    return edges


def _write_preview(writer: PreviewWriter, batch: Sequence[Frame], activations: Sequence[Activations],
                   edges: Sequence[NoteEdge]) -> None:
    """Give each frame of a batch the activations and edges decided by its time (the rest to the last)."""
    given_acts = given_edges = 0
    for i, frame in enumerate(batch):
        last = i == len(batch) - 1
        acts_end = len(activations) if last else _count_until(activations, frame.t, given_acts)
        edges_end = len(edges) if last else _count_until(edges, frame.t, given_edges)
        writer.add(frame, activations[given_acts:acts_end], edges[given_edges:edges_end])
        given_acts, given_edges = acts_end, edges_end


def _count_until(items: Sequence[Activations] | Sequence[NoteEdge], t: float, start: int) -> int:
    end = start
    while end < len(items) and items[end].t <= t:
        end += 1
    return end


def _transcribe_falling(video: Path, geometry: KeyboardGeometry, options: TranscribeOptions,
                        progress: Progress | None) -> Transcription:
    """Falling notes from the rows of the frame the method samples, decoded by ffmpeg (several times faster than
    whole frames, and from every frame the same notes: bridge.falling_source), or from OpenCV's whole frames
    (reader opencv, or without ffmpeg). With ffmpeg, only the reference frames may be decoded (``options.frames``)."""
    from bridge.falling import FallingSettings, transcribe_falling
    from bridge.falling_segments import FallingRead, transcribe_segments
    from bridge.falling_source import choose_frames, falling_view, skip_frame
    from bridge.ffmpeg_source import ffmpeg_available

    reader = options.reader
    if reader == "auto":
        reader = "ffmpeg" if ffmpeg_available() else "opencv"
        log.info("frame reader: %s (auto)", reader)
    if reader == "opencv":
        if options.frames not in ("auto", "all"):
            raise VmbError(f"--frames {options.frames} needs the ffmpeg reader: leave out --reader opencv")
        source = VideoFileSource(video, options.start, options.duration)
        counted = _CountingFrames(source, progress)
        result = transcribe_falling(counted, geometry)
        return Transcription(list(result.notes), "falling", geometry, counted.count, source.truncated,
                             tuple(result.part_colours))
    chosen = choose_frames(video, options.frames)
    log.info("frames: %s%s", chosen, " (auto)" if options.frames == "auto" else "")
    info = probe(video)
    interval = None if chosen == "all" or info.fps <= 0 else 1.0 / info.fps  # a tracker that skips frames needs it
    start = max(0.0, options.start)
    end = info.duration if options.duration is None else start + options.duration
    read = FallingRead(video, falling_view(geometry), FallingSettings(), skip_frame(chosen), interval,
                       options.decode_threads)
    done = transcribe_segments(read, start, end, options.duration is None, options.workers, progress)
    return Transcription(list(done.result.notes), "falling", geometry, done.n_frames, done.truncated,
                         tuple(done.result.part_colours))


class _CountingFrames:
    """Passes frames through and reports progress every 16 frames."""

    def __init__(self, source: Iterable[Frame], progress: Progress | None) -> None:
        self.source, self.progress, self.count = source, progress, 0

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.source:
            self.count += 1
            if self.progress and self.count % 16 == 0:
                self.progress(self.count)
            yield frame
