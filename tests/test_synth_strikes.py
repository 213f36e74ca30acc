"""The renderer's fingers strike: they come down onto a key from above at the onset and lift between strikes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
import pytest

from bridge.foley import foley
from bridge.foley_presets import load_foley_preset
from bridge.geometry import KeyLayout
from bridge.midi import read_midi
from bridge.motion_synth import tracks_from_synth_labels
from bridge.synth import RenderConfig, render_frames
from bridge.synth.hands import fingering_over_time
from bridge.synth.strikes import (
    LIFT_RANGE_MM,
    NO_KEY,
    Contact,
    StrikeStyle,
    contacts,
    fingertip_track,
    make_room,
    strike_style,
)
from bridge.types import Note, PianoRoll

FPS = 30.0
TIPS = [4, 8, 12, 16, 20]
# E4 struck three times, the first two legato (no gap), then F4: one right-hand finger plays them all
REPEATED = [Note(0.5, 0.8, 64, 100), Note(0.8, 1.1, 64, 60), Note(1.1, 1.5, 64, 110), Note(1.6, 2.0, 65, 90)]


def _render(notes: list[Note], style: str = "grand", seed: int = 0) -> dict[str, Any]:
    _, _, labels = render_frames(notes, RenderConfig(style=style, seed=seed, size=(640, 360), fps=FPS, duration=2.5))
    return labels


def _striking_tip(labels: dict[str, Any], frame: int) -> int:
    """The right-hand fingertip touching the keys (depth 0) at ``frame``."""
    depth = labels["hand_landmarks"][frame, 1, TIPS, 2]
    return TIPS[int(np.argmax(depth))]


@pytest.mark.parametrize(("style", "seed"), [("grand", 0), ("upright", 3), ("digital", 5)])
def test_a_repeated_note_is_struck_from_above_every_time(style: str, seed: int) -> None:
    labels = _render(REPEATED, style, seed)
    onsets = np.flatnonzero(labels["onsets"][:, 64 - 21])
    assert list(onsets) == [15, 24, 33]
    tip = _striking_tip(labels, onsets[0])
    track = labels["hand_landmarks"][:, 1, tip]
    for onset in onsets:
        assert _striking_tip(labels, onset) == tip  # the same finger strikes each time
        assert track[onset, 2] == pytest.approx(0.0, abs=1e-3)  # on the key top exactly at the onset
        lifted = track[onset - 1, 2]
        assert lifted < -1.0  # a frame before, it was above the key (negative depth = lifted, pixels)
        assert track[onset - 1, 1] < track[onset, 1]  # and higher in the picture
    assert labels["key_state"][15:45, 64 - 21].all()  # the key itself stays down through the legato re-strikes


def test_key_states_are_those_of_the_notes() -> None:
    labels = _render(REPEATED)
    roll = PianoRoll.from_notes(REPEATED, FPS, n_frames=len(labels["frame_times"]))
    np.testing.assert_array_equal(labels["key_state"], roll.velocity > 0)
    np.testing.assert_array_equal(labels["onsets"], roll.onset)


def test_strikes_are_deterministic_per_seed_and_vary_between_seeds() -> None:
    first, again, other = _render(REPEATED, seed=7), _render(REPEATED, seed=7), _render(REPEATED, seed=8)
    np.testing.assert_array_equal(first["hand_landmarks"], again["hand_landmarks"])
    assert not np.array_equal(first["hand_landmarks"], other["hand_landmarks"])


def test_back_to_back_contacts_make_room_for_a_lift() -> None:
    times = np.arange(20) / FPS
    style = StrikeStyle(lift_mm=10.0, approach_s=0.1, release_s=0.08, travel_s=0.15)
    found = [Contact(2, 9, 64, 10.0, 0.1), Contact(10, 15, 64, 10.0, 0.1)]
    make_room(found, times)
    assert found[0].last <= 7  # left early: a free frame and most of the approach before the re-strike
    rest = np.tile([0.0, 100.0, 15.0], (20, 1))
    track = fingertip_track(found, times, {64: (50.0, 147.5)}, rest, style)
    assert track[2, 2] == 0.0 and track[10, 2] == 0.0 and track[15, 2] == 0.0
    assert track[8:10, 2].max() > 3.0  # lifted between the two strikes
    assert np.all(np.diff(track[found[0].last:10, 2]) != 0)


def test_contacts_split_at_re_strikes_and_take_over_held_keys_without_a_strike() -> None:
    onsets = np.zeros((8, 88), bool)
    onsets[[1, 4], 64 - 21] = True
    velocities = np.full((8, 88), 80, np.uint8)
    track = np.array([NO_KEY, 64, 64, 64, 64, 64, 67, NO_KEY], np.int64)
    style = StrikeStyle(10.0, 0.08, 0.08, 0.15)
    found = contacts(track, onsets, velocities, style, np.random.default_rng(0))
    assert [(c.first, c.last, c.pitch) for c in found] == [(1, 3, 64), (4, 5, 64), (6, 6, 67)]
    assert found[0].lift_mm > 0 and found[1].lift_mm > 0 and found[2].lift_mm == 0.0


def test_a_finger_keeps_its_key_while_another_joins() -> None:
    layout = KeyLayout.standard(88)
    frames = fingering_over_time([[64], [64, 67], [64, 67, 60], [67]], layout, hand=1)
    holder = next(f for f, p in frames[0].items() if p == 64)
    assert frames[1][holder] == 64 and frames[2][holder] == 64
    fingers_in_order = [f for f, _ in sorted(frames[2].items(), key=lambda item: item[1])]
    assert fingers_in_order == sorted(fingers_in_order)  # right hand: thumb on the lowest key
    assert frames[3] == {f: p for f, p in frames[2].items() if p == 67}


def _tap_f1(labels: dict[str, Any], preset: str) -> float:
    tracks, truth = tracks_from_synth_labels(labels)
    starts = np.array(sorted({n.start for n in foley(tracks, load_foley_preset(preset)).track.notes}))
    return float(mir_eval.onset.f_measure(truth, starts, window=0.1)[0])


def test_players_range_from_close_legato_fingers_to_high_strikes() -> None:
    lifts = np.array([strike_style(style, seed).lift_mm for style in ("grand", "digital") for seed in range(100)])
    assert np.all((lifts >= LIFT_RANGE_MM[0]) & (lifts <= LIFT_RANGE_MM[1]))
    assert 0.2 < np.mean(lifts < 4.0) < 0.6 and 0.1 < np.mean(lifts > 10.0) < 0.4


@pytest.mark.parametrize("seed", [2, 10])  # a close player (lift 2.7 mm at full velocity) and a high one (6.6 mm)
def test_piano_from_above_reads_the_strikes_of_the_renderers_hands(shared_data: Path, seed: int) -> None:
    notes = read_midi(shared_data / "midi" / "miditest" / "10.mid").notes
    config = RenderConfig(style="grand", seed=seed, size=(640, 360), start=5.0, duration=6.0)
    _, _, labels = render_frames(notes, config)
    assert labels["onsets"].any(axis=1).sum() >= 10
    assert _tap_f1(labels, "piano-top") >= 0.9


def test_a_hand_counts_as_found_while_any_of_its_landmarks_is_in_the_picture() -> None:
    labels = _render(REPEATED)
    marks = labels["hand_landmarks"].copy()
    marks[10, 1, 0, 3] = 0.0  # the right wrist left the picture, its fingers did not
    marks[20, 0, :, 3] = 0.0  # the whole left hand left it
    tracks, _ = tracks_from_synth_labels({**labels, "hand_landmarks": marks})
    assert np.isnan(tracks.hands[10, 1, 0]).all() and np.isfinite(tracks.hands[10, 1, 8]).all()
    assert tracks.scores[10, 1] == 1.0
    assert tracks.scores[20, 0] == 0.0 and tracks.scores[20, 1] == 1.0
