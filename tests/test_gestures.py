from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from bridge.errors import PresetError
from bridge.foley_theory import scale_pitches
from bridge.gestures import (
    CURVES,
    FEATURES,
    GestureMapper,
    GesturePreset,
    Mapping,
    NoteGesture,
    OscMessage,
    PitchBend,
    load_gesture_preset,
    parse_gesture_preset,
    preset_to_toml,
    scale_value,
)
from bridge.midi import ControlChange
from bridge.types import Hands, NoteOff, NoteOn
from tests.strategies import floats

BUNDLED = sorted(p.stem for p in (Path(__file__).parents[1] / "presets" / "gestures").glob("*.toml"))
PALM = 60.0


def hand(cx: float, cy: float, pinch: float = 1.0, openness: float = 1.0, roll: float = 0.0) -> NDArray[np.float32]:
    """21 points of a right hand, palm centre (cx, cy), palm length 60 px, tilted ``roll`` degrees."""
    points = np.zeros((21, 3), np.float32)
    points[0, :2] = (0, PALM * 0.8)
    for finger, mcp in enumerate((5, 9, 13, 17)):
        base = np.array([(finger - 1.5) * PALM * 0.25, -PALM * 0.2])
        for joint in range(4):
            points[mcp + joint, :2] = base + np.array([0.0, -openness * PALM * joint / 3])
    points[1:5, :2] = np.linspace(points[0, :2], points[8, :2] + (-pinch * PALM, 0), 5)[1:]
    points[9, :2] = (points[9, 0], -PALM * 0.2)
    points[:, :2] -= points[[0, 5, 9, 13, 17], :2].mean(axis=0)
    angle = math.radians(roll)
    rotate = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    points[:, :2] = points[:, :2] @ rotate.T + (cx, cy)
    return points


def frame(t: float, **right: float) -> Hands:
    return Hands(t, hand(**right)[None], ("Right",), np.array([0.9], np.float32))


def test_features_measure_what_they_say() -> None:
    mapper = GestureMapper(GesturePreset("x"), image_size=(1000, 500))
    feats = mapper.features(frame(0, cx=250, cy=100, pinch=0.1, roll=30))["right"]
    assert feats["x"] == pytest.approx(0.25, abs=1e-3) and feats["height"] == pytest.approx(0.8, abs=1e-3)
    assert feats["pinch"] == pytest.approx(0.1, rel=0.05)
    assert feats["roll"] == pytest.approx(30, abs=1)
    assert mapper.features(frame(0, cx=250, cy=100, openness=2.0))["right"]["openness"] > feats["openness"]
    assert "hands_distance" not in feats


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_presets_round_trip_through_toml(name: str) -> None:
    preset = load_gesture_preset(name)
    assert preset.mappings or preset.notes
    assert parse_gesture_preset(tomllib.loads(preset_to_toml(preset)), name) == preset


finite = floats(-1000, 1000, allow_nan=False, allow_infinity=False)
mappings = st.builds(
    Mapping, feature=st.sampled_from(FEATURES), target=st.just("osc"), hand=st.sampled_from(("left", "right", "any")),
    control=st.integers(0, 127), address=st.from_regex(r"/[a-z]{1,8}(/[a-z0-9]{1,8})?", fullmatch=True),
    channel=st.integers(0, 15), in_range=st.tuples(finite, finite).filter(lambda r: r[0] != r[1]),
    out_range=st.tuples(finite, finite), curve=st.sampled_from(CURVES), dead_zone=floats(0, 0.9),
    smoothing=st.tuples(floats(0.01, 10), floats(0, 1)), invert=st.booleans())


@settings(max_examples=40, deadline=None)
@given(st.lists(mappings, max_size=4), st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                                               max_size=12))
def test_any_preset_round_trips(maps: list[Mapping], name: str) -> None:
    preset = GesturePreset(name, tuple(maps), (NoteGesture(pitch_feature="height", register=(40, 80)),))
    assert parse_gesture_preset(tomllib.loads(preset_to_toml(preset)), "p") == preset


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(CURVES), floats(0, 0.8), st.booleans(), st.lists(floats(-0.5, 1.5), min_size=2))
def test_scaling_is_monotonic_and_stays_in_range(curve: str, dead_zone: float, invert: bool,
                                                 values: list[float]) -> None:
    mapping = Mapping("x", "cc", in_range=(0.0, 1.0), out_range=(0, 127), curve=curve, dead_zone=dead_zone,
                      invert=invert)
    outputs = [scale_value(v, mapping) for v in sorted(values)]
    steps = np.diff(outputs) * (-1 if invert else 1)
    assert (steps >= -1e-9).all() and all(-1e-9 <= o <= 127 + 1e-9 for o in outputs)
    assert scale_value(0.5 - dead_zone / 3, mapping) == scale_value(0.5 + dead_zone / 3, mapping) or dead_zone == 0
    assert scale_value(0.0, mapping) == pytest.approx(127.0 if invert else 0.0)


def test_moving_hand_up_raises_the_cc_and_a_still_hand_sends_nothing() -> None:
    preset = GesturePreset("t", (Mapping("height", "cc", control=11, in_range=(0.1, 0.9), smoothing=(5.0, 0.5)),))
    mapper = GestureMapper(preset, image_size=(1280, 720))
    sent = [mapper.update(frame(i / 30, cx=640, cy=600 - 15 * i)) for i in range(30)]
    values = [m.value for batch in sent for m in batch if isinstance(m, ControlChange)]
    assert len(values) > 10 and values == sorted(values)
    assert all(isinstance(m, ControlChange) and m.control == 11 for b in sent for m in b)
    assert [mapper.update(frame(1.0 + i / 30, cx=640, cy=165)) for i in range(60)][-1] == []


def test_pinch_plays_a_note_with_hysteresis_and_stops_when_the_hand_leaves() -> None:
    gesture = NoteGesture(on_below=0.25, off_above=0.4, pitch_feature="height", key="C major", register=(48, 72))
    mapper = GestureMapper(GesturePreset("t", (), (gesture,)), image_size=(1280, 720))
    assert mapper.update(frame(0.0, cx=640, cy=360, pinch=1.0)) == []
    on = mapper.update(frame(0.1, cx=640, cy=360, pinch=0.1))
    assert len(on) == 1 and isinstance(on[0], NoteOn) and on[0].pitch in scale_pitches("C major", 48, 72)
    assert mapper.update(frame(0.2, cx=640, cy=360, pinch=0.35)) == []  # between the thresholds: still on
    off = mapper.update(frame(0.3, cx=640, cy=360, pinch=0.6))
    assert off == [NoteOff(0.3, on[0].pitch, 0)]
    higher = mapper.update(frame(0.4, cx=640, cy=60, pinch=0.1))
    assert isinstance(higher[0], NoteOn) and higher[0].pitch > on[0].pitch
    gone = mapper.update(Hands(0.5, np.zeros((0, 21, 3), np.float32), (), np.zeros(0, np.float32)))
    assert gone == [NoteOff(0.5, higher[0].pitch, 0)] and mapper.release(0.6) == []


def test_pitch_bend_rests_in_its_dead_zone_and_osc_carries_floats() -> None:
    preset = GesturePreset("t", (
        Mapping("roll", "pitch_bend", in_range=(-40, 40), out_range=(-8192, 8191), dead_zone=0.2, smoothing=(50, 1)),
        Mapping("x", "osc", address="/right/x", out_range=(0.0, 1.0), smoothing=(50, 1))))
    mapper = GestureMapper(preset, image_size=(1000, 500))
    first = mapper.update(frame(0.0, cx=300, cy=250, roll=3))
    assert PitchBend(0.0, 0, 0) in first
    assert OscMessage(0.0, "/right/x", (pytest.approx(0.3, abs=1e-3),)) in first  # type: ignore[arg-type]
    bent = mapper.update(frame(0.1, cx=300, cy=250, roll=40))
    assert next(m for m in bent if isinstance(m, PitchBend)).value > 7000


def test_two_hands_give_their_distance() -> None:
    both = Hands(0.0, np.stack([hand(200, 300), hand(800, 300)]), ("Left", "Right"), np.ones(2, np.float32))
    feats = GestureMapper(GesturePreset("t"), image_size=(1000, 500)).features(both)
    assert feats["left"]["hands_distance"] == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize(("text", "complaint"), [
    ('[[map]]\nfeature = "height"\ntarget = "cc"\ncontroll = 7\n', "controll"),
    ('[[map]]\nfeature = "elbow"\ntarget = "cc"\n', "elbow"),
    ('[[map]]\nfeature = "x"\ntarget = "osc"\n', "address"),
    ('[[map]]\nfeature = "x"\ntarget = "cc"\nin_range = [0.5]\n', "two numbers"),
    ('[[note]]\non_below = 0.5\noff_above = 0.3\n', "on_below"),
    ('[[note]]\npitch = "H9"\n', "H9"),
    ('colour = "red"\n', "colour"),
])
def test_mistakes_in_presets_are_named(text: str, complaint: str) -> None:
    with pytest.raises(PresetError, match=complaint):
        parse_gesture_preset(tomllib.loads(text), "bad.toml")
    with pytest.raises(PresetError, match="mixer"):
        load_gesture_preset("no-such-preset")
