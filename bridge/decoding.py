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
  ``min_frames`` frames;
- with ``press_onset`` below 1, a key seen going down (key-down rising through ``frame_on`` at most
  ``PRESS_FRAMES`` frames after it was below ``frame_off``) starts a note at that lower onset probability
  (the peak of this frame and the one before): a weak onset is trusted when the key visibly moves;
- with ``restrike_frames``, a re-strike needs the note to have lasted that many frames, so an onset peaking
  a frame after the key went down does not split the note;
- with ``initial_notes``, a key already down in the first ``INITIAL_FRAMES`` frames (a note sounding when the
  video starts) that is later released gives a note from the first frame, sent when it is released (a key
  that never moves, as on a still keyboard that fools the model, gives nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.types import Activations, Note, NoteEdge, NoteOff, NoteOn

PRESS_FRAMES = 2  # a key rising from up to down within this many frames counts as seen going down
# The model's background starts as the first frame, so a lit key shows only from the second frame on:
# keys down within this many first frames were down when the video began.
INITIAL_FRAMES = 2
# A key held since the start counts as released only when it falls from down to up within this many frames: a
# key that only looked down drifts up slowly when the light changes.
RELEASE_FRAMES = 2


@dataclass(frozen=True, slots=True)
class DecoderSettings:
    onset_threshold: float = 0.5
    frame_on: float = 0.5
    frame_off: float = 0.3
    min_frames: int = 2
    onset_required: bool = False  # a key held without an onset never starts a note (no false notes on still keys)
    press_onset: float = 1.0  # onset probability that starts a note on a key seen going down; 1: off
    restrike_frames: int = 1  # a sounding note is re-struck only once it lasted this many frames (and min_frames)
    initial_notes: bool = False  # keys down at the start and released later were notes from the first frame
    lowest_pitch: int = 21
    channel: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.frame_off <= self.frame_on < 1 or not 0 < self.onset_threshold < 1:
            raise VmbError("decoder thresholds must satisfy 0 < frame_off <= frame_on < 1 and 0 < onset < 1")
        if self.min_frames < 1 or self.restrike_frames < 1:
            raise VmbError(f"min_frames and restrike_frames must be at least 1, got {self.min_frames} and "
                           f"{self.restrike_frames}")
        if not 0 < self.press_onset <= 1:
            raise VmbError(f"press_onset must be in (0, 1] (1 turns the rule off), got {self.press_onset}")


class StreamingDecoder:
    """Feed frames in time order with :meth:`push`; :meth:`close` ends every sounding note."""

    def __init__(self, n_keys: int = 88, settings: DecoderSettings | None = None) -> None:
        self.settings = settings or DecoderSettings()
        self.n_keys = n_keys
        self._sounding = np.zeros(n_keys, dtype=bool)
        self._age = np.zeros(n_keys, dtype=np.int64)  # frames since the sounding note started
        self._above_onset = np.zeros(n_keys, dtype=bool)  # onset was above threshold last frame
        self._last_onset = np.zeros(n_keys, dtype=np.float32)
        self._held_without_onset = np.zeros(n_keys, dtype=np.int64)
        self._seen_up = np.zeros(n_keys, dtype=bool)  # the key was below frame_off at some frame
        self._since_up = np.full(n_keys, PRESS_FRAMES + 1, dtype=np.int64)  # frames since it was below frame_off
        self._initial = np.zeros(n_keys, dtype=bool)  # down since the first frame, not yet released
        self._initial_age = np.zeros(n_keys, dtype=np.int64)
        self._since_down = np.zeros(n_keys, dtype=np.int64)  # frames since the key-down probability was above frame_on
        self._initial_velocity = np.zeros(n_keys, dtype=np.float32)
        self._first_t: float | None = None
        self._frames_seen = 0
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
        if self._first_t is None:
            self._first_t = frame.t
        self._frames_seen += 1
        s = self.settings
        onset_high = frame.onset >= s.onset_threshold
        onset_rise = onset_high & ~self._above_onset
        self._above_onset = onset_high
        down = frame.frame >= s.frame_on
        up = frame.frame < s.frame_off
        self._seen_up |= up
        self._since_up = np.where(up, 0, self._since_up + 1)
        self._since_down = np.where(down, 0, self._since_down + 1)
        pressed = (down & (self._since_up <= PRESS_FRAMES) & ~self._initial
                   & (np.maximum(frame.onset, self._last_onset) >= s.press_onset))
        self._last_onset = frame.onset.astype(np.float32)
        self._held_without_onset = np.where(down & ~self._sounding & ~onset_rise, self._held_without_onset + 1, 0)
        grown = self._sounding & (self._age >= s.min_frames)

        restrike = self._sounding & onset_rise & grown & (self._age >= s.restrike_frames)
        release = self._sounding & ~restrike & grown & up & ~onset_high
        held_start = (self._held_without_onset >= s.min_frames) & self._seen_up
        if s.onset_required:
            held_start[:] = False
        start = (~self._sounding & (onset_rise | held_start | pressed)) | restrike
        if s.initial_notes and self._frames_seen <= INITIAL_FRAMES:
            fresh = down & ~self._sounding & ~self._initial
            self._initial_velocity[fresh] = frame.velocity[fresh]
            self._initial |= fresh
            start &= ~self._initial

        edges = self._initial_notes(frame.t, up, start)
        for key in np.flatnonzero(release | restrike):
            edges.append(NoteOff(frame.t, s.lowest_pitch + int(key), s.channel))
        for key in np.flatnonzero(start):
            edges.append(NoteOn(frame.t, s.lowest_pitch + int(key), _velocity(frame.velocity, int(key)), s.channel))

        self._sounding = (self._sounding & ~release) | start
        self._age = np.where(start, 1, np.where(self._sounding, self._age + 1, 0))
        self._held_without_onset[start] = 0
        return edges

    def _initial_notes(self, t: float, up: NDArray[np.bool_], start: NDArray[np.bool_]) -> list[NoteEdge]:
        """The notes of keys down since the first frame that are released (or struck again) now."""
        if not self._initial.any():
            return []
        s = self.settings
        self._initial_age[self._initial] += 1
        released = up & (self._initial_age > s.min_frames) & (self._since_down <= RELEASE_FRAMES)
        ended = self._initial & (start | released)
        self._initial &= ~(ended | up)
        edges: list[NoteEdge] = []
        for key in np.flatnonzero(ended):
            pitch = s.lowest_pitch + int(key)
            assert self._first_t is not None
            edges += [NoteOn(self._first_t, pitch, _velocity(self._initial_velocity, int(key)), s.channel),
                      NoteOff(t, pitch, s.channel)]
        return edges

    def close(self, t: float) -> list[NoteEdge]:
        """Note off at ``t`` for every sounding note; the decoder is then empty and can go on.

        Keys down since the first frame and never released give no note (a still key that looks down)."""
        end = max(t, self._last_t)
        s = self.settings
        keys = np.flatnonzero(self._sounding)
        edges: list[NoteEdge] = [NoteOff(end, s.lowest_pitch + int(k), s.channel) for k in keys]
        self._sounding[:] = False
        self._age[:] = 0
        self._initial[:] = False
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
