from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import CalibrationError, VmbError
from bridge.geometry import KeyLayout, parse_pitch_name, pitch_name
from bridge.types import KeyboardGeometry, Note, NoteOff, NoteOn, PianoRoll, notes_to_edges
from tests.strategies import grid_notes


@given(grid_notes(fps=30.0))
def test_notes_to_roll_to_notes_round_trips(notes: list[Note]) -> None:
    roll = PianoRoll.from_notes(notes, fps=30.0)
    back = roll.to_notes()
    assert len(back) == len(notes)
    for want, got in zip(sorted(notes, key=lambda n: (n.pitch, n.start)),
                         sorted(back, key=lambda n: (n.pitch, n.start)), strict=True):
        assert got.pitch == want.pitch and got.velocity == want.velocity
        assert got.start == pytest.approx(want.start) and got.end == pytest.approx(want.end)


def test_roll_keeps_a_re_struck_note_apart() -> None:
    notes = [Note(0.0, 0.5, 60, 90), Note(0.5, 1.0, 60, 40)]
    back = PianoRoll.from_notes(notes, fps=10).to_notes()
    assert [(n.start, n.end, n.velocity) for n in back] == [(0.0, 0.5, 90), (0.5, 1.0, 40)]


@given(grid_notes())
def test_every_note_on_gets_one_note_off_after_it(notes: list[Note]) -> None:
    edges = notes_to_edges(notes)
    sounding: dict[tuple[int, int], int] = {}
    for edge in edges:
        key = (edge.pitch, edge.channel)
        if isinstance(edge, NoteOn):
            sounding[key] = sounding.get(key, 0) + 1
        else:
            assert isinstance(edge, NoteOff) and sounding.get(key, 0) > 0
            sounding[key] -= 1
    assert all(count == 0 for count in sounding.values())


@pytest.mark.parametrize("kwargs", [
    {"start": 1.0, "end": 0.5, "pitch": 60}, {"start": 0, "end": 1, "pitch": 128},
    {"start": 0, "end": 1, "pitch": 60, "velocity": 0}, {"start": 0, "end": 1, "pitch": 60, "channel": 16},
    {"start": -1, "end": 1, "pitch": 60}, {"start": float("nan"), "end": 1, "pitch": 60},
])
def test_invalid_notes_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(VmbError):
        Note(**kwargs)  # type: ignore[arg-type]


def test_roll_shapes_are_validated() -> None:
    with pytest.raises(VmbError, match="shape"):
        PianoRoll(np.zeros((4, 88), np.uint8), np.zeros((4, 87), bool), 30.0)


@given(st.integers(0, 127))
def test_pitch_names_round_trip(pitch: int) -> None:
    assert parse_pitch_name(pitch_name(pitch)) == pitch


def test_piano_layout_matches_the_instrument() -> None:
    layout = KeyLayout.standard(88)
    assert (layout.lowest_pitch, layout.highest_pitch, layout.n_white) == (21, 108, 52)
    assert pitch_name(60) == "C4" and parse_pitch_name("Bb2") == 46
    assert layout.width_mm == pytest.approx(52 * 23.5)
    # Black keys sit between their white neighbours and every key's outline has positive area.
    for pitch in layout.pitches:
        poly = layout.polygon_mm(pitch)
        area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], 1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], 1)))
        assert area > 0
    c_sharp = layout.x_range_mm(61)
    assert layout.x_range_mm(60)[0] < c_sharp[0] < layout.x_range_mm(60)[1] < c_sharp[1] < layout.x_range_mm(62)[1]
    with pytest.raises(VmbError, match="white keys"):
        KeyLayout(22, 10)


def test_keyboard_geometry_json_round_trips(tmp_path: Path) -> None:
    scale = np.diag([0.5, 0.5, 1.0])
    geometry = KeyboardGeometry.from_homography((1280, 720), 21, 88, scale, 0.9, ["octave from key count"])
    path = tmp_path / "calib.json"
    geometry.save(path)
    loaded = KeyboardGeometry.load(path)
    assert loaded.n_keys == 88 and loaded.assumptions == ("octave from key count",)
    assert np.allclose(loaded.homography, scale)
    assert len(loaded.keys) == 88 and np.allclose(loaded.keys[0].polygon, geometry.keys[0].polygon, atol=0.01)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(CalibrationError, match="not JSON"):
        KeyboardGeometry.load(tmp_path / "bad.json")
