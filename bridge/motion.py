"""Motion features and sound-making events from keypoint tracks.

A keypoint track (one point over time, in pixels) is projected onto one axis and cut into strokes at
its turning points (a zigzag with a minimum excursion, so jitter is not a stroke). Each gesture reads
the strokes its own way:

- ``bow``: a new note where the bow changes direction (the moment the hand leaves the turning point);
- ``strum``: each stroke, down or up, sounds at its fastest point, where the hand crosses the strings;
- ``pluck``: like ``strum``, but only strokes in the faster (plucking) direction;
- ``strike``: a stick or hand hits at the end of a stroke in the striking direction (arrival at the
  turning point), as drums and taps do; ``tap`` is the same on fingertips.

Strength is the stroke's peak speed in body units (shoulder width or palm size) per second.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.landmarks import HAND_SLOTS, POSE_NAMES, LandmarkTracks

Gesture = Literal["bow", "strum", "pluck", "strike", "tap"]
GESTURES: tuple[str, ...] = ("bow", "strum", "pluck", "strike", "tap")
AXES: tuple[str, ...] = ("principal", "x", "y", "z")
HAND_POINT_NAMES = {"wrist": (0,), "thumb": (4,), "index": (8,), "middle": (12,), "ring": (16,), "pinky": (20,),
                    "tips": (4, 8, 12, 16, 20), "fingers": (8, 12, 16, 20)}
PALMS_PER_SHOULDER = 3.5  # wrist to middle knuckle is about 0.28 of a shoulder width
MAX_GAP_S = 0.25  # missing detections shorter than this are bridged by straight lines
KeypointTrack = NDArray[np.float64]  # [n, 3]: x, y pixels, z depth


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """How one instrument's sound-making motion is found.

    ``axis``: the direction strokes are measured along (``principal`` = the track's main direction of
    motion). ``direction``: +1 or -1, the striking (``strike``/``tap``) direction along the axis in image
    coordinates (``y`` grows downwards). ``min_excursion``: smallest stroke, in body units.
    ``min_interval``: seconds; closer events merge, the stronger kept. ``min_speed``: slower strokes (body
    units per second) are not played (a still finger's jitter).
    """

    gesture: Gesture
    axis: str = "principal"
    direction: int = 1
    min_excursion: float = 0.15
    min_interval: float = 0.08
    min_speed: float = 0.0

    def __post_init__(self) -> None:
        if self.gesture not in GESTURES:
            raise VmbError(f"gesture {self.gesture!r} is unknown: use one of {', '.join(GESTURES)}")
        if self.axis not in AXES:
            raise VmbError(f"axis {self.axis!r} is unknown: use one of {', '.join(AXES)}")
        if self.direction not in (1, -1):
            raise VmbError(f"direction must be 1 or -1, got {self.direction}")
        if not (self.min_excursion > 0 and self.min_interval >= 0 and self.min_speed >= 0):
            raise VmbError("min_excursion must be positive, min_interval and min_speed not negative")


@dataclass(frozen=True, slots=True, order=True)
class MotionEvent:
    """A motion that makes a sound: time (s), peak speed (body units/s), stroke direction (+1/-1), the keypoint
    that made it and where it was then (pixels)."""

    t: float
    strength: float
    direction: int
    source: str
    x: float = float("nan")
    y: float = float("nan")


def keypoint_tracks(tracks: LandmarkTracks, spec: str) -> list[KeypointTrack]:
    """Tracks ``[n, 3]`` (x, y pixels, z depth) named by ``pose:right_wrist`` or ``hand:right:index``
    (``tips`` gives five)."""
    parts = spec.lower().split(":")
    if parts[0] == "pose" and len(parts) == 2 and parts[1] in POSE_NAMES:
        if tracks.pose is None:
            return []
        return [tracks.pose[:, POSE_NAMES.index(parts[1]), :3].astype(np.float64)]
    if parts[0] == "hand" and len(parts) == 3 and parts[1] in ("left", "right") and parts[2] in HAND_POINT_NAMES:
        slot = HAND_SLOTS.index(parts[1].capitalize())
        return [tracks.hands[:, slot, point, :3].astype(np.float64) for point in HAND_POINT_NAMES[parts[2]]]
    raise VmbError(f"keypoint {spec!r} is unknown: use pose:NAME (e.g. pose:right_wrist) or "
                   f"hand:left|right:{'|'.join(HAND_POINT_NAMES)}")


def body_scale(tracks: LandmarkTracks) -> float:
    """Pixels per body unit (a shoulder width): from the pose, else from the palms, else a tenth of the height."""
    if tracks.pose is not None:
        shoulders = tracks.pose[:, 11, :2] - tracks.pose[:, 12, :2]
        width = np.linalg.norm(shoulders, axis=1)
        if np.isfinite(width).any():
            return float(np.nanmedian(width))
    palm = np.linalg.norm(tracks.hands[:, :, 9, :2] - tracks.hands[:, :, 0, :2], axis=-1)
    if np.isfinite(palm).any():
        return float(np.nanmedian(palm)) * PALMS_PER_SHOULDER
    return max(tracks.image_size[1], 1) / 10.0


def fill_gaps(t: NDArray[np.float64], xy: KeypointTrack, max_gap: float = MAX_GAP_S) -> KeypointTrack:
    """Bridge short runs of NaN by linear interpolation; longer gaps stay NaN."""
    out = xy.copy()
    valid = np.all(np.isfinite(xy), axis=1)
    if valid.sum() < 2:
        return out
    idx = np.flatnonzero(valid)
    for before, after in itertools.pairwise(idx):
        if after - before > 1 and t[after] - t[before] <= max_gap:
            frac = ((t[before + 1:after] - t[before]) / (t[after] - t[before]))[:, None]
            out[before + 1:after] = xy[before] + frac * (xy[after] - xy[before])
    return out


def project(xy: KeypointTrack, axis: str) -> NDArray[np.float64]:
    """The track as one signal along ``x``, ``y``, ``z`` or its principal direction in the image plane
    (sign: towards +x, else +y)."""
    if axis in ("x", "y", "z"):
        return xy[:, "xyz".index(axis)].copy()
    xy = xy[:, :2]
    valid = xy[np.all(np.isfinite(xy), axis=1)]
    if len(valid) < 2:
        return xy[:, 0].copy()
    centred = valid - valid.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    main = vt[0] if (vt[0][0] > 1e-6 or (abs(vt[0][0]) <= 1e-6 and vt[0][1] > 0)) else -vt[0]
    return (xy - valid.mean(axis=0)) @ main  # type: ignore[no-any-return]


def turning_points(signal: NDArray[np.float64], min_excursion: float) -> list[int]:
    """Indices of alternating extremes, each at least ``min_excursion`` from the previous one (a zigzag).

    The first index is where the first real stroke starts; the last confirmed extreme closes the list.
    """
    points: list[int] = []
    anchor = 0  # running extreme of the current stroke
    low = high = 0
    trend = 0
    for i in range(1, len(signal)):
        value = signal[i]
        if trend == 0:
            low = i if value < signal[low] else low
            high = i if value > signal[high] else high
            if signal[high] - signal[low] >= min_excursion:
                trend = 1 if high > low else -1
                points.append(low if trend == 1 else high)
                anchor = high if trend == 1 else low
        elif trend * (value - signal[anchor]) > 0:
            anchor = i
        elif trend * (signal[anchor] - value) >= min_excursion:
            points.append(anchor)
            trend, anchor = -trend, i
    if trend != 0:
        points.append(anchor)
    return points


def _settle_time(signal: NDArray[np.float64], extreme: int, step: int, tol: float) -> int:
    """From a turning point, walk (``step`` -1 back, +1 on) while the signal stays within ``tol`` of it."""
    i = extreme
    while 0 <= i + step < len(signal) and abs(signal[i + step] - signal[extreme]) <= tol:
        i += step
    return i


class SoundPoint(NamedTuple):
    """Where in a signal a stroke makes its sound: sample index, peak speed, stroke direction."""

    sample: int
    strength: float
    direction: int


def sound_points(t: NDArray[np.float64], signal: NDArray[np.float64], settings: MotionSettings) -> list[SoundPoint]:
    """The sounding moments of one finite signal (in body units) by the gesture's rule; see the module doc."""
    if len(signal) < 3:
        return []
    speed = np.gradient(signal, t)
    extremes = turning_points(signal, settings.min_excursion)
    tol = 0.1 * settings.min_excursion
    points: list[SoundPoint] = []
    for start, end in itertools.pairwise(extremes):
        direction = 1 if signal[end] > signal[start] else -1
        peak = start + int(np.argmax(np.abs(speed[start:end + 1])))
        if settings.gesture == "bow":
            at = _settle_time(signal, start, 1, tol)
        elif settings.gesture in ("strum", "pluck"):
            at = peak
        elif direction == settings.direction:  # strike, tap: the end of a stroke in the striking direction
            at = _settle_time(signal, end, -1, tol)
        else:
            continue
        if abs(speed[peak]) >= settings.min_speed:
            points.append(SoundPoint(at, float(abs(speed[peak])), direction))
    return _fast_direction(points) if settings.gesture == "pluck" else points


def _fast_direction(points: list[SoundPoint]) -> list[SoundPoint]:
    """Plucks: keep the strokes in the direction whose strokes are faster (the return is slower)."""
    means = {d: float(np.mean([p.strength for p in points if p.direction == d] or [0.0])) for d in (1, -1)}
    fast = max(means, key=lambda d: means[d])
    return [p for p in points if p.direction == fast]


def merge_close(events: Sequence[MotionEvent], min_interval: float) -> list[MotionEvent]:
    """Events closer than ``min_interval`` become one, at the earliest time, with the greatest strength."""
    merged: list[MotionEvent] = []
    for event in sorted(events):
        if merged and event.t - merged[-1].t < min_interval:
            last = merged[-1]
            if event.strength > last.strength:
                merged[-1] = MotionEvent(last.t, event.strength, event.direction, event.source, event.x, event.y)
            continue
        merged.append(event)
    return merged


def _segments(valid: NDArray[np.bool_]) -> list[slice]:
    """Runs of consecutive True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def track_events(t: NDArray[np.float64], xy: KeypointTrack, scale: float, settings: MotionSettings,
                 source: str) -> list[MotionEvent]:
    """Events of one keypoint track in pixels; gaps split it into pieces analysed on their own."""
    signal = project(fill_gaps(t, xy), settings.axis) / scale
    events: list[MotionEvent] = []
    for piece in _segments(np.isfinite(signal)):
        for point in sound_points(t[piece], signal[piece], settings):
            at = piece.start + point.sample
            events.append(MotionEvent(float(t[at]), point.strength, point.direction, source, float(xy[at, 0]),
                                      float(xy[at, 1])))
    return events


def detect_events(tracks: LandmarkTracks, keypoints: Sequence[str], settings: MotionSettings,
                  combine: bool = False) -> list[MotionEvent]:
    """Events from the first keypoint spec with data (in at least half the frames), or from every spec with
    data when ``combine`` (both hands of a pianist), merged in time."""
    scale = body_scale(tracks)
    events: list[MotionEvent] = []
    for spec in keypoints:
        points = keypoint_tracks(tracks, spec)
        if not points or max(np.all(np.isfinite(p[:, :2]), axis=1).mean() for p in points) < 0.5:
            continue
        events += [e for i, xy in enumerate(points) for e in track_events(tracks.t, xy, scale, settings, f"{spec}#{i}")]
        if not combine:
            break
    return merge_close(events, settings.min_interval)
