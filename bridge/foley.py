"""Music from motion (Foley): sound-making motion events of a player become the notes of an instrument.

Onsets come from :mod:`bridge.motion` (bow changes, strums, plucks, strikes, taps), velocities from the
speed of each stroke relative to the others in the clip, pitches from the preset (a walk through the
key's scale, a strummed chord progression, chord roots for a bass, a drum map, or the player's hand
position) or from a melody the user gives, re-timed onto the onsets. The result is one MIDI track with
the instrument's General MIDI program.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bridge.foley_presets import FoleyPreset
from bridge.foley_theory import chord_pitches, root_and_fifth, scale_pitches, voicing
from bridge.landmarks import DARK_LUMA, LandmarkTracks
from bridge.midi import Track
from bridge.motion import MotionEvent, detect_events
from bridge.types import Note

log = logging.getLogger(__name__)

LEGATO_GAP_S = 0.01  # a legato note ends this long before the next one starts
DRUM_NOTE_S = 0.1
MELODY_CHORD_S = 0.03  # melody notes starting this close together are one chord


@dataclass(frozen=True, slots=True)
class FoleyResult:
    """The track made, the tempo to write, the motion events, and why nothing played (None when notes were made)."""

    track: Track
    tempo_bpm: float
    events: tuple[MotionEvent, ...]
    problem: str | None = None


def visibility_problem(tracks: LandmarkTracks) -> str | None:
    """Why no motion can be read from the tracks: an empty video, too dark, or nobody found."""
    if tracks.n_frames == 0:
        return "the video has no frames in the chosen range: check --start and --duration"
    found = tracks.hand_present().any(axis=1)
    if tracks.pose is not None:
        found |= np.isfinite(tracks.pose[:, :, 0]).any(axis=1)
    if found.mean() >= 0.05:
        return None
    luma = float(np.median(tracks.luma))
    if luma < DARK_LUMA:
        return (f"the video is too dark to see the player (mean brightness {luma:.0f} of 255): light the scene or "
                f"raise the exposure and record again")
    return "no hands or body were found in the video: film the player's hands and arms in view, in focus and lit"


def strengths_to_velocities(strengths: Sequence[float], low: int, high: int) -> list[int]:
    """Map stroke speeds to velocities: the 10th percentile and below to ``low``, the 90th and above to ``high``."""
    if not strengths:
        return []
    values = np.asarray(strengths, dtype=np.float64)
    p10, p90 = np.percentile(values, [10, 90])
    if p90 - p10 < 1e-9:
        return [round((low + high) / 2)] * len(values)
    share = np.clip((values - p10) / (p90 - p10), 0.0, 1.0)
    return [round(low + (high - low) * float(s)) for s in share]


def tempo_from_events(times: Sequence[float]) -> float:
    """A tempo (BPM) whose beat is the typical time between onsets, folded into 70-160 BPM."""
    gaps = np.diff(np.sort(np.asarray(times, dtype=np.float64)))
    gaps = gaps[gaps > 0.05]
    if len(gaps) == 0:
        return 120.0
    bpm = 60.0 / float(np.median(gaps))
    while bpm < 70.0:
        bpm *= 2
    while bpm > 160.0:
        bpm /= 2
    return round(bpm, 1)


def _note_ends(starts: Sequence[float], preset: FoleyPreset) -> list[float]:
    """Each note lasts ``note_length`` (or ``max_note_s`` when legato) but ends before the next one starts."""
    length = preset.max_note_s if preset.note_length is None else preset.note_length
    ends = []
    for i, start in enumerate(starts):
        next_start = starts[i + 1] - LEGATO_GAP_S if i + 1 < len(starts) else float("inf")
        ends.append(max(start + 0.02, min(start + length, next_start)))
    return ends


def _chord_at(preset: FoleyPreset, k: int) -> str | None:
    if not preset.progression:
        return None
    return preset.progression[(k // max(preset.events_per_chord, 1)) % len(preset.progression)]


def _melody_pitches(n: int, preset: FoleyPreset, key: str, seed: int) -> list[int]:
    """A stepwise walk through the scale in the register that lands on a chord tone at each chord change."""
    scale = scale_pitches(key, *preset.register) or list(range(preset.register[0], preset.register[1] + 1))
    rng = np.random.default_rng(seed)
    index = len(scale) // 2
    pitches = []
    for k in range(n):
        chord = _chord_at(preset, k)
        if chord is not None and k % max(preset.events_per_chord, 1) == 0:
            tones = set(chord_pitches(chord, *preset.register))
            candidates = [i for i, p in enumerate(scale) if p in tones] or [index]
            index = min(candidates, key=lambda i: abs(i - index))
        elif k > 0:
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            step += 1 if index < len(scale) // 4 else -1 if index > 3 * len(scale) // 4 else 0
            index = int(np.clip(index + step, 0, len(scale) - 1))
        pitches.append(scale[index])
    return pitches


def _position_pitch(event: MotionEvent, preset: FoleyPreset, key: str, width: int) -> int:
    """The hand's left-right place in the image picks the pitch across the register, snapped to the scale."""
    scale = scale_pitches(key, *preset.register) or [preset.register[0]]
    share = float(np.clip(event.x / max(width, 1), 0.0, 1.0)) if np.isfinite(event.x) else 0.5
    return scale[min(int(share * len(scale)), len(scale) - 1)]


def pitched_notes(events: Sequence[MotionEvent], preset: FoleyPreset, key: str, seed: int,
                  width: int) -> list[Note]:
    """Notes for a pitched instrument: one note (or a strummed chord) per event."""
    starts = [e.t for e in events]
    ends = _note_ends(starts, preset)
    velocities = strengths_to_velocities([e.strength for e in events], *preset.velocity)
    melody = _melody_pitches(len(events), preset, key, seed) if preset.pitch_mode == "melody" else []
    notes: list[Note] = []
    for k, event in enumerate(events):
        chord = _chord_at(preset, k) or key.split()[0]
        if preset.pitch_mode == "chord":
            stack = voicing(chord, *preset.register, preset.voices)
            stack = stack if event.direction > 0 else stack[::-1]
            for i, pitch in enumerate(stack):
                onset = event.t + i * preset.strum_spread
                notes.append(Note(onset, max(ends[k], onset + 0.02), pitch, velocities[k], preset.channel))
            continue
        if preset.pitch_mode == "root":
            pitch = root_and_fifth(chord, *preset.register)[k % max(preset.events_per_chord, 1) % 2]
        elif preset.pitch_mode == "position":
            pitch = _position_pitch(event, preset, key, width)
        else:
            pitch = melody[k]
        notes.append(Note(event.t, ends[k], pitch, velocities[k], preset.channel))
    return notes


def drum_notes(tracks: LandmarkTracks, preset: FoleyPreset) -> tuple[list[Note], list[MotionEvent]]:
    """Each drum part's strikes on its note; its strongest ``accent_share`` on the accent note (a crash)."""
    notes: list[Note] = []
    all_events: list[MotionEvent] = []
    for part in preset.drums:
        events = detect_events(tracks, part.keypoints, preset.motion)
        velocities = strengths_to_velocities([e.strength for e in events], *preset.velocity)
        cut = np.quantile([e.strength for e in events], 1 - part.accent_share) if events else 0.0
        for event, velocity in zip(events, velocities, strict=True):
            accent = part.accent_note is not None and part.accent_share > 0 and event.strength >= cut
            pitch = part.accent_note if accent and part.accent_note is not None else part.note
            notes.append(Note(event.t, event.t + DRUM_NOTE_S, pitch, velocity, preset.channel))
        all_events.extend(events)
    return sorted(notes), sorted(all_events)


def retime_melody(events: Sequence[MotionEvent], melody: Sequence[Note], preset: FoleyPreset) -> list[Note]:
    """The melody's notes in order (chords kept together), one group per event, looping when it runs out.

    Each note lasts the share of the gap to the next event that it had of the gap to its next note.
    """
    groups: list[list[Note]] = []
    for note in sorted(melody):
        if groups and note.start - groups[-1][0].start < MELODY_CHORD_S:
            groups[-1].append(note)
        else:
            groups.append([note])
    if not groups:
        return []
    velocities = strengths_to_velocities([e.strength for e in events], *preset.velocity)
    notes: list[Note] = []
    for k, event in enumerate(events):
        group = groups[k % len(groups)]
        following = groups[(k + 1) % len(groups)][0].start if (k + 1) % len(groups) else None
        gap = events[k + 1].t - event.t if k + 1 < len(events) else preset.max_note_s
        for note in group:
            share = 1.0 if following is None else min(1.0, note.duration / max(following - group[0].start, 1e-3))
            end = event.t + max(0.05, min(gap - LEGATO_GAP_S, gap * share))
            notes.append(replace(note, start=event.t, end=end, velocity=velocities[k], channel=preset.channel))
    return notes


def foley(tracks: LandmarkTracks, preset: FoleyPreset, melody: Sequence[Note] | None = None,
          key: str | None = None, tempo_from_motion: bool = False, seed: int = 0) -> FoleyResult:
    """The instrument's track for the motion in ``tracks``; an empty track (with the reason) when nobody is seen."""
    key = key or preset.key
    scale_pitches(key, 0, 1)  # reject a bad key before any work
    problem = visibility_problem(tracks)
    if problem is not None:
        return FoleyResult(Track(preset.name, (), preset.program, preset.channel), 120.0, (), problem)
    if preset.pitch_mode == "drums":
        notes, events = drum_notes(tracks, preset)
    else:
        events = detect_events(tracks, preset.keypoints, preset.motion, preset.combine_keypoints)
        if melody:
            notes = retime_melody(events, melody, preset)
        else:
            notes = pitched_notes(events, preset, key, seed, tracks.image_size[0])
    if not events:
        problem = (f"no {preset.motion.gesture} motion was found on {', '.join(preset.keypoints)}: film the playing "
                   f"hand in view, or choose another --instrument")
    tempo = tempo_from_events([e.t for e in events]) if tempo_from_motion else 120.0
    log.info("%s: %d motion events, %d notes", preset.name, len(events), len(notes))
    return FoleyResult(Track(preset.name, tuple(sorted(notes)), preset.program, preset.channel), tempo,
                       tuple(events), problem)
