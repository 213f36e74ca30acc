"""Streaming decoder: per-frame key activations to note edges.

Offline transcription is this decoder run to the end, so a live run and an offline run of the same
frames send the same notes. Per key, with hysteresis:

- a note starts when the onset probability rises through ``onset_threshold`` (its velocity is the
  model's velocity at that frame), or, unless ``onset_required``, when the key-down probability stays
  above ``frame_on`` for ``min_frames`` frames without an onset (a missed onset), provided the key was
  seen up (below ``frame_off``) since the stream began: a key that looks down from the first frame on
  (a still keyboard whose look fools the model) never starts a note without an onset;
- a sounding note is re-struck (note off, then note on at the same time) when a new onset rises
  through the threshold after the note has lasted ``min_frames``;
- a note ends when the key-down probability falls below ``frame_off``, but not before it has lasted
  ``min_frames`` frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.types import Activations, Note, NoteEdge, NoteOff, NoteOn


@dataclass(frozen=True, slots=True)
class DecoderSettings:
    onset_threshold: float = 0.5
    frame_on: float = 0.5
    frame_off: float = 0.3
    min_frames: int = 2
    onset_required: bool = False  # a key held without an onset never starts a note (no false notes on still keys)
    lowest_pitch: int = 21
    channel: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.frame_off <= self.frame_on < 1 or not 0 < self.onset_threshold < 1:
            raise VmbError("decoder thresholds must satisfy 0 < frame_off <= frame_on < 1 and 0 < onset < 1")
        if self.min_frames < 1:
            raise VmbError(f"min_frames must be at least 1, got {self.min_frames}")


class StreamingDecoder:
    """Feed frames in time order with :meth:`push`; :meth:`close` ends every sounding note."""

    def __init__(self, n_keys: int = 88, settings: DecoderSettings | None = None) -> None:
        self.settings = settings or DecoderSettings()
        self.n_keys = n_keys
        self._sounding = np.zeros(n_keys, dtype=bool)
        self._age = np.zeros(n_keys, dtype=np.int64)  # frames since the sounding note started
        self._above_onset = np.zeros(n_keys, dtype=bool)  # onset was above threshold last frame
        self._held_without_onset = np.zeros(n_keys, dtype=np.int64)
        self._seen_up = np.zeros(n_keys, dtype=bool)  # the key was below frame_off at some frame
        self._last_t = -np.inf

    @property
    def sounding_pitches(self) -> list[int]:
        return [self.settings.lowest_pitch + int(k) for k in np.flatnonzero(self._sounding)]

    def push(self, frame: Activations) -> list[NoteEdge]:
        if len(frame.onset) != self.n_keys:
            raise VmbError(f"the decoder expects {self.n_keys} keys per frame, got {len(frame.onset)}")
        if frame.t < self._last_t:
            raise VmbError(f"frames must arrive in time order: {frame.t:.3f}s came after {self._last_t:.3f}s")
        self._last_t = frame.t
        s = self.settings
        onset_high = frame.onset >= s.onset_threshold
        onset_rise = onset_high & ~self._above_onset
        self._above_onset = onset_high
        down = frame.frame >= s.frame_on
        self._seen_up |= frame.frame < s.frame_off
        self._held_without_onset = np.where(down & ~self._sounding & ~onset_rise, self._held_without_onset + 1, 0)
        grown = self._sounding & (self._age >= s.min_frames)

        restrike = self._sounding & onset_rise & grown
        release = self._sounding & ~restrike & grown & (frame.frame < s.frame_off) & ~onset_high
        held_start = (self._held_without_onset >= s.min_frames) & self._seen_up
        if s.onset_required:
            held_start[:] = False
        start = (~self._sounding & (onset_rise | held_start)) | restrike

        edges: list[NoteEdge] = []
        for key in np.flatnonzero(release | restrike):
            edges.append(NoteOff(frame.t, s.lowest_pitch + int(key), s.channel))
        for key in np.flatnonzero(start):
            edges.append(NoteOn(frame.t, s.lowest_pitch + int(key), _velocity(frame.velocity, int(key)), s.channel))

        self._sounding = (self._sounding & ~release) | start
        self._age = np.where(start, 1, np.where(self._sounding, self._age + 1, 0))
        self._held_without_onset[start] = 0
        return edges

    def close(self, t: float) -> list[NoteEdge]:
        """Note off at ``t`` for every sounding note; the decoder is then empty and can go on."""
        end = max(t, self._last_t)
        s = self.settings
        keys = np.flatnonzero(self._sounding)
        edges: list[NoteEdge] = [NoteOff(end, s.lowest_pitch + int(k), s.channel) for k in keys]
        self._sounding[:] = False
        self._age[:] = 0
        return edges


def _velocity(velocity: NDArray[np.float32], key: int) -> int:
    return int(np.clip(round(float(velocity[key]) * 127), 1, 127))


def decode(frames: Iterable[Activations], n_keys: int = 88, settings: DecoderSettings | None = None,
           end_time: float | None = None) -> list[NoteEdge]:
    """Decode a whole sequence: the streaming decoder run to the end and closed."""
    decoder = StreamingDecoder(n_keys, settings)
    edges: list[NoteEdge] = []
    last_t = 0.0
    for frame in frames:
        edges.extend(decoder.push(frame))
        last_t = frame.t
    edges.extend(decoder.close(last_t if end_time is None else end_time))
    return edges


def notes_from_edges(edges: Iterable[NoteEdge]) -> list[Note]:
    """Pair each note on with the next note off of its pitch and channel; unpaired edges are dropped."""
    open_notes: dict[tuple[int, int], NoteOn] = {}
    notes: list[Note] = []
    for edge in edges:
        key = (edge.pitch, edge.channel)
        if isinstance(edge, NoteOn):
            open_notes[key] = edge
        elif key in open_notes:
            on = open_notes.pop(key)
            if edge.t > on.t:
                notes.append(Note(on.t, edge.t, on.pitch, on.velocity, on.channel))
    return sorted(notes)
