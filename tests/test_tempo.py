"""Tempo estimation on MIDI with a known tempo, and quantization properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import VmbError
from bridge.midi import read_midi
from bridge.tempo import TempoEstimate, beat_grid, estimate_tempo, grid_step, quantize
from bridge.types import Note
from tests.strategies import floats


def _played(bpm: float, seed: int, jitter: float = 0.01, bars: int = 16) -> list[Note]:
    """A 4/4 pattern on sixteenths with accented beats, played with timing jitter."""
    rng = np.random.default_rng(seed)
    step = 60.0 / bpm / 4
    notes = []
    for i in range(bars * 16):
        on_beat = i % 4 == 0
        if on_beat or rng.random() < 0.35:
            start = 0.5 + i * step + rng.normal(0.0, jitter)
            length = step * int(rng.integers(1, 5))
            for pitch in ([48, 60, 64] if on_beat else [int(rng.integers(60, 80))]):
                notes.append(Note(max(start, 0.0), max(start, 0.0) + length, pitch))
    return notes


@pytest.mark.parametrize("bpm", [62.0, 75.0, 90.0, 104.0])
def test_tempo_of_a_played_pattern(bpm: float) -> None:
    tempo = estimate_tempo(_played(bpm, seed=int(bpm)))
    assert tempo.bpm == pytest.approx(bpm, rel=0.02)
    assert tempo.confidence > 0.3
    beats = beat_grid(tempo, 10.0)
    assert np.min(np.abs((beats - 0.5) / tempo.beat - np.round((beats - 0.5) / tempo.beat))) < 0.1


def test_tempo_of_pop909_songs(shared_data: Path) -> None:
    """Validation songs carry their tempo: most estimates match it, nearly all up to a tempo octave."""
    exact = related = 0
    songs = range(851, 866)
    for number in songs:
        score = read_midi(shared_data / "midi" / "pop909" / f"{number:03d}.mid")
        ratio = estimate_tempo(score.notes).bpm / score.tempo_bpm
        exact += abs(ratio - 1) < 0.03
        related += min(abs(ratio - r) / r for r in (0.5, 2 / 3, 1.0, 1.5, 2.0)) < 0.03
    assert exact >= 0.55 * len(songs)
    assert related >= 0.75 * len(songs)


def test_too_few_notes_gives_the_default_with_no_confidence() -> None:
    tempo = estimate_tempo([Note(0.5, 1.0, 60)])
    assert tempo.confidence == 0.0 and tempo.bpm == 120.0


def test_grid_names_and_bad_input() -> None:
    tempo = TempoEstimate(120.0, 0.0, 1.0)
    assert grid_step(tempo, "1/4") == pytest.approx(0.5)
    assert grid_step(tempo, "1/16") == pytest.approx(0.125)
    assert grid_step(tempo, "1/8t") == pytest.approx(0.5 / 3)
    with pytest.raises(VmbError, match="1/16"):
        grid_step(tempo, "sixteenth")
    with pytest.raises(VmbError, match=r"0 \(off\) to 1"):
        quantize([Note(0.0, 1.0, 60)], tempo, "1/16", 1.5)
    with pytest.raises(VmbError, match="above 0"):
        TempoEstimate(0.0, 0.0, 0.0)


notes_strategy = st.lists(
    st.builds(lambda start, length, pitch, channel: Note(start, start + length, pitch, 80, channel),
              floats(0.0, 20.0), floats(0.005, 3.0), st.integers(40, 80), st.integers(0, 1)),
    max_size=40)
tempo_strategy = st.builds(TempoEstimate, floats(50.0, 200.0), floats(0.0, 2.0), st.just(1.0))
grids = st.sampled_from(["1/4", "1/8", "1/16", "1/32", "1/8t"])


@settings(max_examples=60, deadline=None)
@given(notes_strategy, tempo_strategy, grids)
def test_full_strength_is_on_the_grid_and_idempotent(notes: list[Note], tempo: TempoEstimate, grid: str) -> None:
    step = grid_step(tempo, grid)
    once = quantize(notes, tempo, grid)
    for note in once:
        position = (note.start - tempo.phase) / step
        assert abs(position - round(position)) < 1e-6
        assert note.duration >= step - 1e-9
        assert abs(note.duration / step - round(note.duration / step)) < 1e-6
    assert quantize(once, tempo, grid) == once
    assert len(once) <= len(notes)


@settings(max_examples=60, deadline=None)
@given(notes_strategy, tempo_strategy, grids)
def test_zero_strength_is_the_performance(notes: list[Note], tempo: TempoEstimate, grid: str) -> None:
    assert quantize(notes, tempo, grid, strength=0.0) == notes


@settings(max_examples=60, deadline=None)
@given(notes_strategy, tempo_strategy, grids, floats(0.05, 0.95))
def test_partial_strength_moves_onsets_toward_the_grid(notes: list[Note], tempo: TempoEstimate, grid: str,
                                                       strength: float) -> None:
    step = grid_step(tempo, grid)
    # one note per key (nothing is merged), each late enough to have a grid point at or after 0 on both sides
    separate = [n for n in {(n.pitch, n.channel): n for n in notes}.values() if n.start >= step]
    moved = quantize(list(separate), tempo, grid, strength)

    def off_grid(t: float) -> float:
        position = (t - tempo.phase) / step
        return abs(position - round(position)) * step

    before = sorted(off_grid(n.start) for n in separate)
    after = sorted(off_grid(n.start) for n in moved)
    assert len(after) == len(before)
    assert sum(after) <= sum(before) + 1e-9
    assert all(n.end > n.start for n in moved)
