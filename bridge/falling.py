"""Falling-notes videos (Synthesia-style tutorials, pure or with real hands): notes from bars and lit keys.

Only a few points on each key and a short column above each key are read per frame
(``bridge.falling_sampling``), normalised so that fades and colour casts cancel. A note starts when a
bar seen coming down a key's column reaches the key in the same colour while the key is lit (its
colour differs from its own unlit look, learned from the video); it lasts while that bar stands on the
key. Glow, particles, hands and logos touch only some of these conditions and give no notes; fades
and title cards fail a keyboard contrast check. Bar fronts are followed down the band, so the front of the
next bar of a sounding key (above background or the outline between two touching bars) re-strikes it when
it reaches the keys, timed between frames (``bridge.falling_tracker``, ``bridge.falling_fronts``); where keys
glow when struck, a sounding key whose glow flares again with a front seen arriving is re-struck too
(``bridge.falling_glow``).
Notes are grouped into parts by bar colour (``bridge.falling_parts``), one MIDI channel per part.
See docs/falling-notes.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.falling_parts import BGR, cluster_parts
from bridge.falling_sampling import LINE_ROWS, SamplePoints
from bridge.falling_tracker import FallingSettings, TrackedNote, Tracker
from bridge.types import Frame, KeyboardGeometry, Note

log = logging.getLogger(__name__)
__all__ = ["FallingResult", "FallingSettings", "TrackedNote", "falling_result", "is_falling_notes_video",
           "part_colour_names", "transcribe_falling"]


@dataclass(frozen=True)
class FallingResult:
    notes: list[Note]  # channel = part
    part_colours: list[tuple[int, int, int]]  # BGR, one per part; channel i = part i


def transcribe_falling(frames: Iterable[Frame], geometry: KeyboardGeometry, settings: FallingSettings | None = None,
                       points: SamplePoints | None = None, frame_interval: float | None = None) -> FallingResult:
    """Notes of a falling-notes video, one channel per part (bar colour); streams over the frames. ``points``:
    where to read each frame (default: the calibration's points in whole frames). ``frame_interval``: the video's
    frame interval in seconds, needed when ``frames`` skip some (only the reference frames: irregular times);
    default: the median interval of the first frames."""
    settings = settings or FallingSettings()
    points = SamplePoints.from_geometry(geometry) if points is None else points
    tracker = Tracker(points, settings, frame_interval)
    for frame in frames:
        tracker.push(frame.t, points.read_frame(frame))
    tracker.close()
    return falling_result(tracker.finished_in_bgr(), points, settings)


def falling_result(tracked: Sequence[TrackedNote], points: SamplePoints, settings: FallingSettings) -> FallingResult:
    """The tracked notes as notes, grouped into parts (channels) by their bars' colours."""
    if not tracked:
        return FallingResult([], [])
    colours = np.array([colour for *_, colour in tracked], dtype=np.float64)
    pitches = np.array([points.pitches[key] for _, _, key, _ in tracked], dtype=np.int64)
    parts = cluster_parts(colours, pitches, settings.max_parts)
    notes = sorted(Note(start, end, int(pitch), settings.velocity, int(part))
                   for (start, end, _, _), pitch, part in zip(tracked, pitches, parts.labels, strict=True))
    log.info("falling notes: %d notes in %d parts", len(notes), len(parts.colours))
    return FallingResult(notes, parts.colours)


def is_falling_notes_video(frames: Sequence[NDArray[np.uint8]], geometry: KeyboardGeometry) -> bool:
    """True when keys light up in the colour of moving bars that stand on them (give 8+ frames spread out)."""
    points = SamplePoints.from_geometry(geometry)
    samples = [s for s in (points.read(f) for f in frames) if s.contrast >= FallingSettings().min_contrast]
    if len(samples) < 2:
        return False
    line = np.array([s.band[:, :LINE_ROWS].mean(axis=1) for s in samples])  # (F, K, 3)
    keys = np.array([s.keys for s in samples])
    band_colourful = _colourful(line)
    moving = band_colourful.any(axis=0) & ~band_colourful.all(axis=0)
    matches = band_colourful & _colourful(keys) & (np.linalg.norm(line - keys, axis=2) < 0.45) & moving[None, :]
    # sparse music lights few keys at the sampled moments (3 matches in 16 keyframes of 21.mid at 720p60 in VP9, where
    # one in four was asked for); real keyboards give none
    return int(matches.sum()) >= max(2, len(samples) // 6)


def _colourful(colours: NDArray[np.float32]) -> NDArray[np.bool_]:
    chroma = colours.max(axis=-1) - colours.min(axis=-1)
    return np.asarray((chroma > 0.25) & (colours.max(axis=-1) > 0.3), dtype=bool)


def part_colour_names(colours: Sequence[BGR]) -> list[str]:
    """Part colours as ``#rrggbb`` strings for reports."""
    return [f"#{r:02x}{g:02x}{b:02x}" for b, g, r in colours]
