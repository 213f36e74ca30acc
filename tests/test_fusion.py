from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bridge.decoding import DecoderSettings, decode, notes_from_edges
from bridge.errors import VmbError
from bridge.fusion import (
    FingertipEvidence,
    FusionSettings,
    finger_evidence,
    fingertips_on_plane,
    hold,
    key_rectangles,
    weighted_onsets,
)
from bridge.geometry import KeyLayout
from bridge.synth import RenderConfig
from bridge.synth.notes_io import read_notes
from bridge.synth.render import render_frames, true_geometry
from bridge.types import Activations, KeyboardGeometry


def _flat_geometry(n_keys: int = 88) -> KeyboardGeometry:
    """A keyboard seen straight from above at 1 pixel per mm, its back-left corner at pixel (10, 20)."""
    layout = KeyLayout.standard(n_keys)
    image = np.float32([[10, 20], [10 + layout.width_mm, 20], [10 + layout.width_mm, 170], [10, 170]])
    plane = np.float32([[0, 0], [layout.width_mm, 0], [layout.width_mm, 150], [0, 150]])
    homography = cv2.getPerspectiveTransform(image, plane).astype(np.float64)
    return KeyboardGeometry.from_homography((1400, 200), layout.lowest_pitch, n_keys, homography)


def _hands_with_tip_at(x_px: float, y_px: float) -> np.ndarray:
    """One frame: the right hand's index tip at a pixel, the rest of it far behind the keyboard, no left hand."""
    hands = np.full((1, 2, 21, 3), np.nan, np.float32)
    hands[0, 1] = (x_px, -500.0, 0.0)
    hands[0, 1, 8] = (x_px, y_px, 0.0)
    return hands


def test_a_fingertip_on_a_key_is_evidence_for_it_and_not_for_keys_an_octave_away() -> None:
    geometry = _flat_geometry()
    left, right = geometry.layout.x_range_mm(60)
    tips = fingertips_on_plane(_hands_with_tip_at(10 + (left + right) / 2, 20 + 130), geometry)
    assert tips.shape == (1, 10, 2) and np.isnan(tips[0, :5]).all()
    evidence = finger_evidence(tips, key_rectangles(geometry), reach_mm=15.0)
    c4, c_sharp4, d4, e4, c5 = (evidence[0, pitch - 21] for pitch in (60, 61, 62, 64, 72))
    assert c4 == pytest.approx(1.0) and c5 < 1e-6
    assert 1.0 > d4 > e4 > 0.0  # the next white key is not ruled out: fingertips are found a few mm off
    assert c_sharp4 < d4  # the tip is in front of the black keys' ends


def test_frames_without_hands_carry_no_evidence_and_missing_keys_none() -> None:
    geometry = _flat_geometry(61)  # C2-C7: the piano's lowest and highest keys are not on it
    no_hands = np.full((1, 2, 21, 3), np.nan, np.float32)
    assert np.isnan(finger_evidence(fingertips_on_plane(no_hands, geometry), key_rectangles(geometry), 15.0)).all()
    tips = fingertips_on_plane(_hands_with_tip_at(15, 100), geometry)  # on C2, the leftmost key
    evidence = finger_evidence(tips, key_rectangles(geometry), 15.0)
    assert evidence[0, 36 - 21] == pytest.approx(1.0) and evidence[0, 35 - 21] == 0.0


def test_hold_spreads_evidence_in_time_and_leaves_unseen_stretches_unknown() -> None:
    times = np.arange(10) / 10
    evidence = np.full((10, 88), np.nan)
    evidence[3] = 0.0
    evidence[3, 40] = 1.0
    held = hold(evidence, times, hold_s=0.1)
    assert held[2, 40] == 1.0 and held[4, 40] == 1.0 and held[3, 41] == 0.0
    assert np.isnan(held[1]).all() and np.isnan(held[5:]).all()


def test_weighting_gates_lifts_and_leaves_unknown_keys_alone() -> None:
    onset = np.array([0.8, 0.8, 0.8], np.float32)
    evidence = np.array([1.0, 0.0, np.nan])
    assert list(weighted_onsets(onset, evidence, FusionSettings())) == pytest.approx([0.8, 0.0, 0.8])
    lifted = weighted_onsets(onset, evidence, FusionSettings(floor=0.5, gain=2.0))
    assert list(lifted) == pytest.approx([1.0, 0.4, 0.8])


@pytest.mark.parametrize("bad", [dict(reach_mm=0.0), dict(hold_s=-1.0), dict(floor=1.5), dict(floor=0.5, gain=0.2)])
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(VmbError, match="fusion settings"):
        FusionSettings(**bad)


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(VmbError, match="shape"):
        fingertips_on_plane(np.zeros((3, 21, 3)), _flat_geometry())
    with pytest.raises(VmbError, match="one time per frame"):
        FingertipEvidence(np.zeros(2), np.zeros((3, 2, 21, 3)), _flat_geometry())


@pytest.fixture(scope="module")
def rendered(shared_data: Path) -> dict[str, Any]:
    notes, _ = read_notes(shared_data / "midi" / "miditest" / "10.mid")
    config = RenderConfig(style="grand", seed=4, size=(640, 360), start=5.0, duration=3.0)
    _, _, labels = render_frames(notes, config)  # labels only: no pixels drawn
    return labels


def _true_hands(labels: dict[str, Any]) -> np.ndarray:
    hands = np.array(labels["hand_landmarks"], np.float32)
    hands[..., :2][hands[..., 3] <= 0] = np.nan
    return hands[..., :3]


def test_the_renderers_fingertips_are_on_every_key_it_plays(rendered: dict[str, Any]) -> None:
    evidence = FingertipEvidence(rendered["frame_times"], _true_hands(rendered), true_geometry(rendered))
    onsets = np.asarray(rendered["onsets"], bool)
    assert onsets.sum() >= 10 and evidence.seen_share > 0.9
    assert np.nanmin(evidence.evidence[onsets]) > 0.9
    assert np.nanmean(evidence.evidence) < 0.35  # most keys are far from every finger


def test_gating_removes_onsets_no_finger_made_and_keeps_the_played_ones(rendered: dict[str, Any]) -> None:
    times = np.asarray(rendered["frame_times"])
    onsets = np.asarray(rendered["onsets"], bool)
    evidence = FingertipEvidence(times, _true_hands(rendered), true_geometry(rendered))
    far = np.nanmax(evidence.evidence, axis=0) < 0.01  # keys no finger came near in the whole clip
    assert far.any()
    spurious = np.zeros_like(onsets)
    spurious[::15, np.flatnonzero(far)[:3]] = True
    activations = []
    for i, t in enumerate(times):
        onset = np.where(onsets[i] | spurious[i], 0.9, 0.0).astype(np.float32)
        held = np.asarray(rendered["key_state"][i], bool) | spurious[i]
        activations.append(Activations(float(t), onset, np.where(held, 0.9, 0.0).astype(np.float32),
                                       np.full(88, 0.5, np.float32)))
    settings = DecoderSettings(onset_required=True)
    plain = notes_from_edges(decode(activations, settings=settings))
    gated = notes_from_edges(decode(evidence.fuse_all(activations), settings=settings))
    far_pitches = {int(k) + 21 for k in np.flatnonzero(far)}
    assert {n.pitch for n in plain} & far_pitches
    assert not {n.pitch for n in gated} & far_pitches
    assert gated == [n for n in plain if n.pitch not in far_pitches]
    assert len(gated) >= int(onsets.sum()) // 2
