"""The key model's evaluation helpers: decoder tuning on validation clips and the error breakdown."""

from __future__ import annotations

import numpy as np

from bridge.types import Activations, Note, PianoRoll
from models.keys.analyze import Clip, false_cause, match, miss_cause
from models.keys.augment import SHAKE_PX, shaken
from models.keys.evaluate import tune_decoder

FPS = 30.0


def activations_of(notes: list[Note], n_frames: int, held_at_start: tuple[int, ...] = ()) -> list[Activations]:
    """Clean activations for ``notes``; keys in ``held_at_start`` look down from frame 0 without an onset."""
    roll = PianoRoll.from_notes(notes, FPS, n_frames=n_frames)
    frames = []
    for i in range(n_frames):
        onset, frame = roll.onset[i].astype(np.float32), roll.active[i].astype(np.float32)
        for pitch in held_at_start:
            onset[pitch - 21] = 0.0
        frames.append(Activations(i / FPS, onset, frame, np.full(88, 0.5, np.float32)))
    return frames


def test_match_pairs_by_pitch_and_nearest_onset() -> None:
    truth = [Note(0.0, 0.4, 60, 80), Note(0.5, 0.9, 60, 80), Note(1.0, 1.4, 62, 80)]
    estimate = [Note(0.03, 0.4, 60, 80), Note(1.2, 1.4, 62, 80), Note(2.0, 2.2, 64, 80)]
    pairs, missed, false = match(truth, estimate)
    assert pairs == [(truth[0], estimate[0])]
    assert missed == truth[1:] and false == estimate[1:]


def test_tuning_keeps_notes_that_sound_when_the_clip_starts() -> None:
    # The clip starts with two keys held from before it (no onset in the video), released later.
    held = [Note(0.0, 0.5, 48, 64), Note(0.0, 0.7, 52, 64)]
    notes = held + [Note(0.8 + 0.3 * i, 1.0 + 0.3 * i, 60 + i, 64) for i in range(3)]
    clips = [(activations_of(notes, 60, held_at_start=(48, 52)), notes, FPS)]
    settings, value = tune_decoder(clips, onset_required=True)
    assert settings.initial_notes
    assert value > 0.99


def test_misses_and_false_notes_are_told_apart_by_cause() -> None:
    truth = [Note(0.0, 0.5, 48, 64), Note(1.0, 1.5, 60, 64), Note(1.2, 1.4, 60, 64), Note(2.0, 2.3, 62, 64),
             Note(3.0, 3.3, 64, 64)]
    activations = activations_of(truth, 120)
    activations[90] = Activations(3.0, activations[90].onset * 0.2, activations[90].frame, activations[90].velocity)
    key_state = PianoRoll.from_notes(truth, FPS, n_frames=120).active
    clip = Clip("test", "grand", activations, truth, FPS, {"key_state": key_state})
    assert miss_cause(truth[0], clip, 0.5) == "sounding_at_clip_start"
    assert miss_cause(truth[2], clip, 0.5) == "same_pitch_still_sounding"
    assert miss_cause(truth[3], clip, 0.5) == "other"
    assert miss_cause(truth[4], clip, 0.5) == "weak_onset"
    assert false_cause(Note(1.3, 1.33, 70, 64), clip) == "one_frame_blip"
    assert false_cause(Note(1.1, 1.4, 60, 64), clip) == "onset_on_held_key"
    assert false_cause(Note(2.5, 2.9, 62, 64), clip) == "other"


def test_camera_shake_moves_frames_by_at_most_the_limit() -> None:
    ramp = np.tile(np.arange(64, dtype=np.float32), (5, 32, 1))  # grey level = x: a shift of d px changes it by d
    moved = shaken(ramp, np.random.default_rng(3))
    inner = np.abs(moved - ramp)[:, :, 2:-2]
    assert moved.shape == ramp.shape and inner.max() <= SHAKE_PX + 1e-4
    assert inner.max() > 0.05
