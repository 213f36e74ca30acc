from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import InputFileError
from bridge.journal import Journal, read_take, recover
from bridge.midi import read_midi
from bridge.types import Note, notes_to_edges
from tests.strategies import floats


def test_a_closed_take_becomes_its_midi_file(tmp_path: Path) -> None:
    notes = [Note(0.1, 0.5, 60, 90, 1), Note(0.2, 0.9, 48, 70, 0), Note(0.5, 0.7, 60, 50, 1)]
    journal = Journal(tmp_path)
    for edge in notes_to_edges(notes):
        journal.edge(edge)
    journal.control(0.3, 64, 127, 0)
    midi_path = journal.close()
    score = read_midi(midi_path)
    assert [(n.pitch, n.channel, n.velocity) for n in score.notes] == [(60, 1, 90), (48, 0, 70), (60, 1, 50)]
    assert [n.start for n in score.notes] == pytest.approx([0.1, 0.2, 0.5], abs=1e-3)
    assert [n.end for n in score.notes] == pytest.approx([0.5, 0.9, 0.7], abs=1e-3)
    assert [(c.control, c.value) for t in score.tracks for c in t.controls] == [(64, 127)]
    assert {t.name for t in score.tracks} == {"left hand", "right hand"}
    assert recover(tmp_path) == [], "a finished take needs no recovery"


CRASHED = """vmb-journal 1 1700000000.000
on 0.1 60 90 0
on 0.2 64 90 0
off 0.3 64 0
t 0.45
on 0.5 6"""  # the last line was cut short by the crash


def test_an_unfinished_take_ends_its_notes_at_the_last_time_seen(tmp_path: Path) -> None:
    take = tmp_path / "take-20260101-000000.vmbj"
    take.write_text(CRASHED)
    made = recover(tmp_path)
    assert made == [take.with_suffix(".mid")]
    notes, _, finished = read_take(take)
    assert not finished
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0.1, 0.45), (64, 0.2, 0.3)]
    assert [(n.pitch, round(n.end, 3)) for n in read_midi(made[0]).notes] == [(60, 0.45), (64, 0.3)]


def test_the_next_start_recovers_what_a_crash_left(tmp_path: Path) -> None:
    crashed = tmp_path / "take-20260101-000000.vmbj"
    crashed.write_text(CRASHED)
    Journal(tmp_path).close()
    assert crashed.with_suffix(".mid").exists(), "opening a new take recovers the old one first"


def test_not_a_journal_or_not_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not a folder"):
        recover(tmp_path / "missing")
    (tmp_path / "take-x.vmbj").write_text("hello\n")
    with pytest.raises(InputFileError, match="not a vmb journal"):
        recover(tmp_path)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(floats(0, 10), floats(0.01, 2), st.integers(21, 108)), max_size=30))
def test_journal_round_trips_notes(tmp_path_factory: pytest.TempPathFactory,
                                   raw: list[tuple[float, float, int]]) -> None:
    folder = tmp_path_factory.mktemp("takes")
    # One sounding note per pitch at a time, as a keyboard plays.
    notes, free_at = [], {}
    for start, length, pitch in sorted(raw):
        if start >= free_at.get(pitch, -1.0):
            notes.append(Note(start, start + length, pitch, 80, 0))
            free_at[pitch] = start + length
    journal = Journal(folder)
    for edge in notes_to_edges(notes):
        journal.edge(edge)
    journal.close()
    assert read_take(journal.path)[0] == sorted(notes)
