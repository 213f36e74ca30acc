"""The frame path for transcription: a video decoded by an ffmpeg subprocess, the key model fed from its luma.

:class:`CropSource` runs ``ffmpeg``, which decodes with its own threads, crops a box of each frame and hands
over raw pixels: ``pixels="grey"`` the luma plane only (the keyboard's crop: what ``vmb transcribe`` reads, the
fastest), ``"both"`` the luma and the colour of whole frames (``vmb live --video`` and the preview, which also
need colour: :func:`whole_frames`), ``"bgr"`` BGR only (bit for bit the pixels OpenCV gives, for crops on even
pixels), ``"i420"`` the planes as decoded (:class:`~bridge.sources.PlanarFrame`: half the bytes of BGR, for a
method that converts only the pixels it reads, ``bridge.i420``). Grey and both yield
:class:`~bridge.sources.GreyFrame` whose ``grey`` is the luma made full range by one table
(``bridge.features.luma_to_grey``), so a crop read offline and a whole frame read live give the model exactly the
same strip: offline output equals what a live run of the file sends.

Each frame keeps the container's timestamp, as in :class:`bridge.sources.VideoFileSource`: ffmpeg's ``showinfo``
filter reports every frame's presentation timestamp (``-copyts``: untouched), converted as OpenCV converts it
(relative to the video stream's start), so wrong fps metadata cannot shift notes and variable-rate video keeps
its timing.

Frames of a crop are rectified with :func:`cropped_geometry` (the calibration shifted by the crop's offset), which
gives exactly the strip of the whole frame (see ``bridge.rectify``).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import queue
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import VideoError
from bridge.features import luma_to_grey
from bridge.rectify import Rectifier, StripSpec
from bridge.sources import GreyFrame, PlanarFrame, VideoFileSource, VideoInfo, probe, warn_if_truncated
from bridge.types import Frame, KeyboardGeometry

log = logging.getLogger(__name__)

CROP_MARGIN_PX = 8
SEEK_LEAD_S = 0.5  # ffmpeg seeks this far before the start; earlier frames are dropped here by their own times
_PTS = re.compile(r"\bn:\s*\d+\s+pts:\s*(-?\d+)")
_TIME_BASE = re.compile(r"config in time_base:\s*(\d+)/(\d+)")
_PREFIXES = re.compile(r"^(\[[^\]]*\] )+")  # "[h264 @ 0x...] [error] " before the message
_END = None


@dataclass(frozen=True, slots=True)
class CropBox:
    """A rectangle of the frame in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.x < 0 or self.y < 0:
            raise VideoError(f"crop {self} is empty or outside the frame: check the calibration against the video")

    @property
    def filter(self) -> str:
        return f"crop={self.width}:{self.height}:{self.x}:{self.y}:exact=1"


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def keyboard_crop(geometry: KeyboardGeometry, spec: StripSpec, margin_px: int = CROP_MARGIN_PX) -> CropBox:
    """The part of the frame the strip of ``spec`` reads, plus a margin, on even pixels (chroma subsampling)."""
    x0, y0, x1, y1 = Rectifier(geometry, spec).source_box(margin_px)
    width, height = geometry.image_size
    x0, y0 = x0 - x0 % 2, y0 - y0 % 2
    x1, y1 = min(width, x1 + x1 % 2), min(height, y1 + y1 % 2)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise VideoError("the calibrated keyboard lies outside the video frame: recalibrate with vmb calibrate")
    return CropBox(x0, y0, x1 - x0, y1 - y0)


def cropped_geometry(geometry: KeyboardGeometry, crop: CropBox) -> KeyboardGeometry:
    """The calibration as seen in the crop: crop pixels map to the same keyboard millimetres."""
    shift = np.array([[1.0, 0.0, crop.x], [0.0, 1.0, crop.y], [0.0, 0.0, 1.0]])
    return KeyboardGeometry.from_homography((crop.width, crop.height), geometry.lowest_pitch, geometry.n_keys,
                                            geometry.homography @ shift, geometry.confidence, geometry.assumptions)


@dataclass(frozen=True, slots=True)
class _StreamClock:
    """The video stream's first timestamp and time base, as OpenCV converts frame timestamps with them."""

    start_pts: int
    num: int
    den: int

    def seconds(self, pts: int, num: int, den: int) -> float:
        # OpenCV hands out milliseconds that we divide by 1000: the same round trip here keeps variable-rate
        # times bit for bit equal between the two readers
        if (num, den) != (self.num, self.den):  # the filter's time base differs from the stream's
            return (pts * (num / den) - self.start_pts * (self.num / self.den)) * 1000 / 1000
        return float(pts - self.start_pts) * (num / den) * 1000 / 1000


def _stream_clock(path: Path) -> _StreamClock:
    stream = _stream_facts(path)
    try:
        num, den = (int(v) for v in str(stream["time_base"]).split("/"))
        start = stream.get("start_pts")
        return _StreamClock(int(str(start)) if start not in (None, "N/A") else 0, num, den)
    except (ValueError, KeyError, TypeError) as exc:
        raise VideoError(f"ffprobe cannot read the video stream of {path}: re-encode the video") from exc


def _stream_facts(path: Path) -> dict[str, object]:
    """The video stream's first timestamp, time base and reorder delay by one ffprobe call ({} where it cannot
    tell), remembered per file version: one command asks several times and each call costs 0.1-0.2 s."""
    try:
        stat = path.stat()
    except OSError:
        return {}
    return dict(_probed_stream(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=16)
def _probed_stream(path: str, _mtime_ns: int, _size: int) -> dict[str, object]:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return {}
    command = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
               "stream=start_pts,time_base,has_b_frames", "-of", "json", path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    try:
        return dict(json.loads(done.stdout)["streams"][0])
    except (ValueError, KeyError, IndexError, TypeError):
        return {}


Pixels = Literal["grey", "both", "bgr", "i420"]
SkipFrame = Literal["bidir", "noref"]
SKIP_FRAMES: tuple[SkipFrame, ...] = ("bidir", "noref")
_FILTERS = {"grey": "format=yuv420p,extractplanes=y", "both": "format=yuv420p", "bgr": "format=bgr24",
            "i420": "format=yuv420p"}
_BYTES_PER_PIXEL = {"grey": 1.0, "both": 1.5, "bgr": 3.0, "i420": 1.5}


class CropSource:
    """Every decodable frame of a file cropped to ``crop``, in order, with the container's timestamps; ``start``
    and ``duration`` select seconds as in VideoFileSource. ``pixels``: see the module's doc (``both`` and ``i420``
    need a crop of even width and height).

    A file that stops decoding early ends the iteration with a warning and ``truncated`` set, keeping what
    decoded. ``threads`` is ffmpeg's decoding threads (None: ffmpeg's choice); ``skip_loop_filter`` decodes
    without H.264's deblocking filter (faster, but the pixels and a few notes differ: docs/model.md). ``skip_frame``
    is the decoder's ``-skip_frame`` (``"bidir"``: only I and P frames, ``"noref"``: every frame other frames are
    predicted from): only those frames come, with their own timestamps and indexes (their time times the frame
    rate). Frame indexes count from 0 at the start of the file, or from the first kept frame's time times the
    frame rate after a seek.
    """

    def __init__(self, path: Path | str, crop: CropBox, start: float = 0.0, duration: float | None = None,
                 threads: int | None = None, pixels: Pixels = "grey", skip_loop_filter: bool = False,
                 skip_frame: SkipFrame | None = None) -> None:
        self.path = Path(path)
        self.info: VideoInfo = probe(self.path)
        if crop.x + crop.width > self.info.width or crop.y + crop.height > self.info.height:
            raise VideoError(f"crop {crop} does not fit the {self.info.width}x{self.info.height} frames of "
                             f"{self.path}: recalibrate with vmb calibrate")
        if pixels not in _FILTERS:
            raise VideoError(f"unknown pixels {pixels!r}: use one of {', '.join(_FILTERS)}")
        if pixels in ("both", "i420") and (crop.width % 2 or crop.height % 2):
            raise VideoError(f"crop {crop} has an odd size but colour and luma need an even width and height: "
                             "read this video through OpenCV (vmb transcribe --reader opencv)")
        ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
        if ffmpeg is None or ffprobe is None:
            raise VideoError("ffmpeg and ffprobe are needed for the fast frame path: install ffmpeg")
        self._ffmpeg = ffmpeg
        self._clock = _stream_clock(self.path)
        self.crop = crop
        self.start = max(0.0, start)
        self.end = None if duration is None else self.start + duration
        self.threads = threads
        self.pixels = pixels
        self.skip_loop_filter = skip_loop_filter
        if skip_frame is not None and skip_frame not in SKIP_FRAMES:
            raise VideoError(f"unknown skip_frame {skip_frame!r}: use one of {', '.join(SKIP_FRAMES)}")
        self.skip_frame = skip_frame
        self.frames_read = 0
        self.truncated = False

    def command(self) -> list[str]:
        command = [self._ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-copyts"]
        if self.threads is not None:
            command += ["-threads", str(max(1, self.threads))]
        if self.skip_loop_filter:
            command += ["-skip_loop_filter", "all"]
        if self.skip_frame is not None:
            command += ["-skip_frame", self.skip_frame]
        seek = self.start - SEEK_LEAD_S
        if seek > 0:
            command += ["-ss", f"{seek:.6f}"]
        command += ["-i", str(self.path), "-map", "0:v:0", "-an", "-sn", "-dn",
                    "-vf", f"{self.crop.filter},{_FILTERS[self.pixels]},showinfo=checksum=0"]
        return [*command, "-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "rawvideo", "-"]

    def __iter__(self) -> Iterator[Frame]:
        process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL)
        assert process.stdout is not None and process.stderr is not None
        stamps: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        # skipped frames leave the decoder's reference marking ("mmco") pointing at frames it never decoded
        errors = _Complaints(expected=("mmco:",) if self.skip_frame is not None else ())
        reader = threading.Thread(target=_read_stamps, args=(process.stderr, stamps, errors),
                                  name="ffmpeg-stamps", daemon=True)
        reader.start()
        seeking = self.start - SEEK_LEAD_S > 0
        decoded, first_index = 0, None
        size = round(self.crop.width * self.crop.height * _BYTES_PER_PIXEL[self.pixels])
        try:
            # grey and both are converted out of the buffer, which can then be reused; bgr and i420 frames are it
            reuse = self.pixels in ("grey", "both")
            for raw in _raw_frames(cast(io.BufferedReader, process.stdout), size, reuse):
                stamp = stamps.get()
                if stamp is None:
                    break
                t = self._clock.seconds(*stamp)
                decoded += 1
                if t + 1e-6 < self.start:
                    continue
                if self.end is not None and t >= self.end - 1e-6:
                    return
                if first_index is None:
                    first_index = round(t * self.info.fps) if seeking else decoded - 1
                index = first_index + self.frames_read if self.skip_frame is None else round(t * self.info.fps)
                yield self._frame(index, t, raw)
                self.frames_read += 1
            code = process.wait()
            reader.join(timeout=10)  # the last complaints come after the last frame
            self._check_complete(code, decoded, errors)
        finally:
            _stop(process)
            reader.join(timeout=5)

    def _frame(self, index: int, t: float, raw: NDArray[np.uint8]) -> Frame:
        height, width = self.crop.height, self.crop.width
        if self.pixels == "bgr":
            return Frame(index, t, raw.reshape(height, width, 3))
        if self.pixels == "i420":
            planes = raw.reshape(height * 3 // 2, width)
            return PlanarFrame(index, t, np.broadcast_to(planes[:height, :, None], (height, width, 3)), planes)
        grey = luma_to_grey(raw[:height * width].reshape(height, width))
        if self.pixels == "grey":  # no colour to show: the grey levels in three channels, without a copy
            return GreyFrame(index, t, np.broadcast_to(grey[..., None], (height, width, 3)), grey)
        bgr = np.asarray(cv2.cvtColor(raw.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_I420), np.uint8)
        return GreyFrame(index, t, bgr, grey)

    def _check_complete(self, code: int, decoded: int, errors: _Complaints) -> None:
        if decoded == 0 and code != 0:
            detail = errors.last[-1] if errors.last else f"exit status {code}"
            raise VideoError(f"ffmpeg cannot decode {self.path} ({detail}): re-encode the video")
        if errors.count:
            log.warning("%s: ffmpeg met %d errors in the data (corrupt file?), the last: %s; kept what decoded",
                        self.path, errors.count, errors.last[-1])
        whole_file = self.end is None and self.start == 0 and self.skip_frame is None  # skipped frames: fewer
        self.truncated = warn_if_truncated(self.path, decoded, self.info.n_frames, whole_file)


def has_b_frames(path: Path | str) -> bool:
    """Whether the video stream may hold B frames (frames shown before others they are predicted from), by
    ffprobe's reorder delay; False where ffprobe cannot tell."""
    try:
        return int(str(_stream_facts(Path(path)).get("has_b_frames", 0))) > 0
    except ValueError:
        return False


def luma_readable(info: VideoInfo) -> bool:
    """Whether ffmpeg can hand over this video's luma and colour (it is installed, and the frames have an even
    size): then every reader of it, offline or live, feeds the key model the luma, else OpenCV's BGR."""
    return ffmpeg_available() and info.width % 2 == 0 and info.height % 2 == 0


def whole_frames(path: Path | str, start: float = 0.0, duration: float | None = None,
                 threads: int | None = None) -> CropSource | VideoFileSource:
    """Whole frames with their colour and the key model's grey (``vmb live --video``, the preview), read so that
    the model sees what ``vmb transcribe`` reads from the keyboard's crop; OpenCV's frames where
    :func:`luma_readable` says no."""
    info = probe(path)
    if not luma_readable(info):
        return VideoFileSource(path, start, duration)
    return CropSource(path, CropBox(0, 0, info.width, info.height), start, duration, threads, pixels="both")


def _raw_frames(stdout: io.BufferedReader, size: int, reuse: bool) -> Iterator[NDArray[np.uint8]]:
    """Each frame's ``size`` bytes from ffmpeg's output until it ends (a partial last frame is dropped); with
    ``reuse`` every frame comes in the same buffer, valid until the next."""
    buffer = bytearray(size)
    while True:
        if not reuse:
            buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            got = stdout.readinto(view[filled:])
            if not got:
                return
            filled += got
        yield np.frombuffer(buffer, np.uint8)


@dataclass
class _Complaints:
    """ffmpeg's error messages: how many, and the last few."""

    count: int = 0
    last: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    expected: tuple[str, ...] = ()  # messages that are no error here


def _read_stamps(stderr: IO[bytes], stamps: queue.Queue[tuple[int, int, int] | None], errors: _Complaints) -> None:
    """Each frame's (pts, time base) from showinfo's lines, in output order; ffmpeg's errors counted."""
    num, den = 1, 1
    try:
        for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if (pts := _PTS.search(line)) is not None:
                stamps.put((int(pts.group(1)), num, den))
            elif (base := _TIME_BASE.search(line)) is not None:
                num, den = int(base.group(1)), int(base.group(2))
            elif ("[error]" in line or "[fatal]" in line) and not any(e in line for e in errors.expected):
                errors.count += 1
                errors.last.append(_PREFIXES.sub("", line))
                log.debug("ffmpeg: %s", line)
    finally:
        stamps.put(_END)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
