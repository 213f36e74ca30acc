"""Falling-notes frames read fast: only the image rows the sampler touches, decoded by ffmpeg.

The falling-notes method reads a few thousand pixels per frame (``bridge.falling_sampling``): points on
the key tops and a short column above each key. Converting whole frames to BGR and handing them to Python
(OpenCV's ``VideoCapture``) costs far more than the method itself at 1080p. Here ffmpeg
(:class:`bridge.ffmpeg_source.CropSource`: its own decoding threads, container timestamps) cuts the
horizontal stripes of the frame that hold sample points (the keyboard's width, on even rows so the
chroma of 4:2:0 video lines up as in the whole frame) and stacks them into one small image; the sample
points are moved into that image. Read from every frame, every sampled pixel is bit for bit the pixel OpenCV
gives, so the notes equal those of whole frames (tests/test_falling_source.py; in variable-rate video a time can
differ from OpenCV's in its last bit, as OpenCV rounds it through milliseconds). Read from only the reference
frames (the speed path), the stripes come as I420 planes, half the bytes of BGR and no conversion in ffmpeg, and
only the sampled pixels are converted (``bridge.i420``): bit for bit the whole frame's planes converted as
OpenCV's cvtColor converts them, a level or two from OpenCV's video reader (which converts through swscale);
the notes equal those of BGR stripes to a fraction of a millisecond on the test clips. At 1080p the stacked
image is about a tenth of the frame: docs/benchmarks.md has the speeds.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.falling_sampling import SamplePoints
from bridge.ffmpeg_source import CropBox, CropSource, SkipFrame, has_b_frames
from bridge.sources import probe
from bridge.types import KeyboardGeometry

# which frames to decode: all; "reference" (I, P and the B frames others are predicted from: always their exact
# pixels, about half the frames of x264 video with B frames); "ip" (I and P only: fewest, fastest, irregular)
FRAMES = ("auto", "all", "reference", "ip")
_SKIP: dict[str, SkipFrame | None] = {"all": None, "reference": "noref", "ip": "bidir"}
MIN_REFERENCE_FPS = 45.0  # auto skips frames only of videos this fast: I and P frames still come about 20 a second
MIN_SKIP_ROWS = 900  # and only from 1080p up, where decoding every frame costs most (4.5 ms a frame at 1080p)
MERGE_GAP_ROWS = 8  # runs of sampled rows closer than this are cut as one stripe (a shorter filter graph)
MAX_STRIPES = 12


@dataclass(frozen=True, slots=True)
class StripeCrop(CropBox):
    """Horizontal stripes of the frame, columns ``x`` to ``x + width``, stacked top to bottom into one image of
    ``height`` rows; ``stripes`` holds each stripe's (top row, rows) in the frame, both even, in frame order."""

    stripes: tuple[tuple[int, int], ...]

    @property
    def filter(self) -> str:
        cuts = [f"crop={self.width}:{rows}:{self.x}:{top}:exact=1" for top, rows in self.stripes]
        if len(cuts) == 1:
            return cuts[0]
        n = len(cuts)
        graph = [f"split={n}" + "".join(f"[s{i}]" for i in range(n))]
        graph += [f"[s{i}]{cut}[c{i}]" for i, cut in enumerate(cuts)]
        return ";".join(graph) + ";" + "".join(f"[c{i}]" for i in range(n)) + f"vstack=inputs={n}"

    def stacked_rows(self, frame_height: int) -> NDArray[np.intp]:
        """For each frame row, its row in the stacked image (-1 where no stripe holds it)."""
        rows = np.full(frame_height, -1, np.intp)
        first = 0
        for top, height in self.stripes:
            rows[top: top + height] = np.arange(first, first + height)
            first += height
        return rows


@dataclass(frozen=True, slots=True)
class FallingView:
    """What to decode of a video for the falling-notes method, and where its sample points lie in that."""

    crop: StripeCrop
    points: SamplePoints  # indices into the stacked stripes


def falling_view(geometry: KeyboardGeometry) -> FallingView:
    """The stripes holding every sample point of the calibration, and the points moved into them."""
    points = SamplePoints.from_geometry(geometry)
    width, height = geometry.image_size
    rows, columns = np.divmod(np.concatenate([points.key_index.ravel(), points.band_index.ravel()]), width)
    x0 = int(columns.min()) - int(columns.min()) % 2
    x1 = min(width, int(columns.max()) + 2 - int(columns.max()) % 2)
    stripes = _stripes(np.unique(rows // 2), height)
    crop = StripeCrop(x0, stripes[0][0], x1 - x0, sum(rows for _, rows in stripes), stripes)
    return FallingView(crop, _moved_points(points, crop))


def _stripes(pairs: NDArray[np.intp], frame_height: int) -> tuple[tuple[int, int], ...]:
    """Even-aligned row pairs merged into runs: (top row, rows) each, at most MAX_STRIPES."""
    runs = [[int(pairs[0]), int(pairs[0])]]
    for pair in pairs[1:]:
        if 2 * (int(pair) - runs[-1][1] - 1) < MERGE_GAP_ROWS:
            runs[-1][1] = int(pair)
        else:
            runs.append([int(pair), int(pair)])
    while len(runs) > MAX_STRIPES:  # join the two runs with the smallest gap between them
        gap = int(np.argmin([b[0] - a[1] for a, b in itertools.pairwise(runs)]))
        runs[gap: gap + 2] = [[runs[gap][0], runs[gap + 1][1]]]
    return tuple((2 * first, min(frame_height, 2 * last + 2) - 2 * first) for first, last in runs)


def _moved_points(points: SamplePoints, crop: StripeCrop) -> SamplePoints:
    width, height = points.image_size
    stacked = crop.stacked_rows(height)

    def move(index: NDArray[np.intp]) -> NDArray[np.intp]:
        rows, columns = np.divmod(index, width)
        return np.ascontiguousarray(stacked[rows] * crop.width + (columns - crop.x), dtype=np.intp)

    return dataclasses.replace(points, image_size=(crop.width, crop.height), key_index=move(points.key_index),
                               band_index=move(points.band_index))


def falling_frames(video: Path, view: FallingView, start: float = 0.0, duration: float | None = None,
                   threads: int | None = None, skip_frame: SkipFrame | None = None) -> CropSource:
    """The frames of ``video`` as the stacked stripes of ``view``, with the container's timestamps; ``skip_frame``:
    decode only the reference frames (see :class:`CropSource`). Every frame comes in BGR, OpenCV's very pixels;
    skipped frames make the speed path, where the frames come as I420 planes (their pixels are the whole frame's
    planes converted as OpenCV's cvtColor converts them, a level or two from OpenCV's video reader)."""
    planar = skip_frame is not None and view.crop.width % 2 == 0 and view.crop.height % 2 == 0
    return CropSource(video, view.crop, start, duration, threads, "i420" if planar else "bgr", skip_frame=skip_frame)


def choose_frames(video: Path, frames: str = "auto") -> str:
    """The frames to decode (see FRAMES): ``auto`` gives ``ip`` for videos of MIN_SKIP_ROWS rows or more at
    MIN_REFERENCE_FPS or more with B frames (10x real time at 1080p60 on 2 cores; fewer frames cost some accuracy
    in hybrid videos: docs/falling-notes.md), else ``all`` (every frame is a reference frame, or skipped frames would
    leave too few, or decoding every frame is cheap enough)."""
    if frames not in FRAMES:
        raise VmbError(f"unknown frames {frames!r}: use one of {', '.join(FRAMES)}")
    if frames != "auto":
        return frames
    info = probe(video)
    fast = info.fps >= MIN_REFERENCE_FPS and info.height >= MIN_SKIP_ROWS
    return "ip" if fast and has_b_frames(video) else "all"


def skip_frame(frames: str) -> SkipFrame | None:
    """ffmpeg's ``-skip_frame`` for a choice of FRAMES other than auto."""
    return _SKIP[frames]
