from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from bridge.errors import VmbError
from bridge.foley_presets import load_foley_preset
from bridge.motion import (
    MotionEvent,
    MotionSettings,
    detect_events,
    fill_gaps,
    keypoint_tracks,
    merge_close,
    project,
    sound_points,
    turning_points,
)
from bridge.motion_synth import synthesize

SYNC_WINDOW_S = 0.1


def test_turning_points_follow_strokes_and_ignore_jitter() -> None:
    signal = np.array([0, 1, 2, 3, 2.9, 3.1, 2, 1, 0, 0.1, -0.1, 1, 2])
    assert turning_points(signal, 1.0) == [0, 5, 10, 12]
    assert turning_points(signal * 0.01, 1.0) == []


def test_bow_sounds_at_turns_strum_at_fastest_point_strike_at_impact() -> None:
    t = np.arange(9) / 10.0
    signal = np.array([0.0, 0.2, 1.5, 2.8, 3.0, 2.8, 1.5, 0.2, 0.0])
    bow = [p.sample for p in sound_points(t, signal, MotionSettings("bow", min_excursion=1.0))]
    strum = [p.sample for p in sound_points(t, signal, MotionSettings("strum", min_excursion=1.0))]
    strike = [p.sample for p in sound_points(t, signal, MotionSettings("strike", direction=1, min_excursion=1.0))]
    assert bow == [0, 4]
    assert strum == [2, 6]
    assert strike == [4]


def test_fill_gaps_bridges_short_gaps_only() -> None:
    t = np.arange(20) / 30.0
    xy = np.column_stack([t * 30, t * 0]).astype(np.float64)
    xy[3:5] = np.nan
    xy[10:19] = np.nan  # 0.33 s: too long
    filled = fill_gaps(t, xy)
    assert np.allclose(filled[3:5, 0], [3, 4])
    assert np.isnan(filled[10:19]).all()


def test_principal_axis_points_towards_plus_x() -> None:
    xy = np.column_stack([np.linspace(100, 0, 10), np.linspace(0, 10, 10)])
    assert project(xy, "principal")[0] > project(xy, "principal")[-1]


def test_merge_keeps_earliest_time_and_greatest_strength() -> None:
    events = [MotionEvent(1.0, 2.0, 1, "a"), MotionEvent(1.03, 5.0, -1, "b"), MotionEvent(1.5, 1.0, 1, "a")]
    merged = merge_close(events, 0.05)
    assert [(e.t, e.strength) for e in merged] == [(1.0, 5.0), (1.5, 1.0)]


def test_unknown_keypoint_and_setting_are_refused() -> None:
    tracks = synthesize("bow", 2.0).tracks
    with pytest.raises(VmbError, match="keypoint"):
        keypoint_tracks(tracks, "hand:middle:wrist")
    with pytest.raises(VmbError, match="gesture"):
        MotionSettings("wave")  # type: ignore[arg-type]


@pytest.mark.parametrize(("instrument", "gesture"), [("violin", "bow"), ("guitar", "strum"), ("bass", "pluck")])
def test_motion_onsets_are_in_time_on_synthetic_players(instrument: str, gesture: str) -> None:
    preset = load_foley_preset(instrument)
    scores = []
    for seed in range(3):
        performance = synthesize(gesture, 12.0, seed=seed)
        events = detect_events(performance.tracks, preset.keypoints, preset.motion)
        scores.append(mir_eval.onset.f_measure(performance.onsets, np.array([e.t for e in events]),
                                               window=SYNC_WINDOW_S)[0])
    assert np.mean(scores) >= 0.9


def test_strikes_of_both_hands_are_found() -> None:
    preset = load_foley_preset("drums")
    performance = synthesize("strike", 12.0, seed=4)
    events = [e for part in preset.drums for e in detect_events(performance.tracks, part.keypoints, preset.motion)]
    f1 = mir_eval.onset.f_measure(performance.onsets, np.array(sorted(e.t for e in events)), window=SYNC_WINDOW_S)[0]
    assert f1 >= 0.9
    assert {e.source.split("#")[0] for e in events} == {"hand:right:wrist", "hand:left:wrist"}


def test_nobody_in_view_gives_no_events() -> None:
    tracks = synthesize("strum", 3.0).tracks
    empty = type(tracks)(tracks.t, np.full_like(tracks.hands, np.nan), tracks.scores, tracks.image_size, tracks.luma,
                         np.full_like(tracks.pose, np.nan) if tracks.pose is not None else None)
    assert detect_events(empty, ["hand:right:wrist", "pose:right_wrist"], MotionSettings("strum")) == []
