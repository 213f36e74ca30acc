from __future__ import annotations

from pathlib import Path

import mido
import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings

from bridge.errors import MidiFileError
from bridge.midi import SUSTAIN_CC, ControlChange, Track, read_midi, tracks_by_channel, write_midi
from bridge.notes_csv import read_notes_csv, write_notes_csv
from bridge.types import Note
from tests.strategies import free_notes

TICKS_PER_BEAT = 960
TICK = 0.5 / TICKS_PER_BEAT  # seconds per tick at 120 BPM


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=free_notes())
def test_notes_to_midi_file_to_notes_keeps_times_to_the_tick(tmp_path: Path, notes: list[Note]) -> None:
    path = tmp_path / "round.mid"
    write_midi(path, tracks_by_channel(notes), tempo_bpm=120, ticks_per_beat=TICKS_PER_BEAT)
    back = read_midi(path).notes
    assert len(back) == len(notes)
    for want, got in zip(notes, back, strict=True):
        assert (got.pitch, got.velocity, got.channel) == (want.pitch, want.velocity, want.channel)
        assert abs(got.start - want.start) <= TICK and abs(got.end - want.end) <= TICK


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=free_notes())
def test_csv_round_trips_exactly(tmp_path: Path, notes: list[Note]) -> None:
    path = tmp_path / "notes.csv"
    write_notes_csv(path, notes)
    assert read_notes_csv(path) == sorted(notes)


def _independent_notes(path: Path) -> list[tuple[float, float, int, int]]:
    midi = pretty_midi.PrettyMIDI(str(path))
    return sorted((n.start, n.end, n.pitch, n.velocity) for inst in midi.instruments for n in inst.notes)


def _assert_same_as_pretty_midi(path: Path) -> None:
    ours = sorted((n.start, n.end, n.pitch, n.velocity) for n in read_midi(path).notes)
    theirs = _independent_notes(path)
    assert len(ours) == len(theirs), path.name
    for a, b in zip(ours, theirs, strict=True):
        assert a[2:] == b[2:]
        assert a[0] == pytest.approx(b[0], abs=1e-6) and a[1] == pytest.approx(b[1], abs=1e-6)


def test_real_performances_read_without_loss(shared_data: Path) -> None:
    files = sorted((shared_data / "midi" / "miditest").glob("*.mid"))
    assert len(files) == 8
    for path in files:
        _assert_same_as_pretty_midi(path)


def test_pop909_sample_reads_without_loss(shared_data: Path) -> None:
    files = sorted((shared_data / "midi" / "pop909").glob("*.mid"))[::60]
    assert len(files) >= 10
    for path in files:
        _assert_same_as_pretty_midi(path)


def test_type0_running_status_velocity_zero_restrikes_and_tempo_changes(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))  # 120 BPM
    track.append(mido.Message("program_change", program=40, channel=2, time=0))
    track.append(mido.Message("note_on", note=60, velocity=100, channel=2, time=0))
    track.append(mido.Message("note_on", note=60, velocity=50, channel=2, time=480))  # re-strike while held
    track.append(mido.Message("note_on", note=60, velocity=0, channel=2, time=240))  # closes the first
    track.append(mido.MetaMessage("set_tempo", tempo=1000000, time=0))  # 60 BPM from 0.75 s
    track.append(mido.Message("note_on", note=60, velocity=0, channel=2, time=480))  # closes the second at 1.75 s
    track.append(mido.Message("note_on", note=64, velocity=70, channel=5, time=0))
    track.append(mido.Message("note_off", note=64, velocity=0, channel=5, time=480))
    midi.tracks.append(track)
    path = tmp_path / "type0.mid"
    midi.save(str(path))  # mido writes running status for consecutive messages of one kind and channel
    assert b"\x92" in path.read_bytes()
    score = read_midi(path)
    assert len(score.tracks) == 2 and score.tracks[0].program == 40
    first, second = score.tracks[0].notes
    assert (first.start, first.end, first.velocity) == (0.0, 0.75, 100)
    assert (second.start, second.end, second.velocity) == (0.5, 1.75, 50)
    (other,) = score.tracks[1].notes
    assert (other.start, other.end, other.channel) == (1.75, 2.75, 5)
    assert [bpm for _, bpm in score.tempo_changes] == pytest.approx([120, 60])
    # pretty_midi pairs overlapping re-strikes differently (it closes both at the first note off);
    # we pair first-in first-out, as a piano's key does. The counts must still agree.
    assert len(score.notes) == len(_independent_notes(path))


def test_written_file_has_named_tracks_programs_tempo_and_sustain(tmp_path: Path) -> None:
    left = Track("left hand", (Note(0, 1, 48, 60, 0),), program=0, channel=0,
                 controls=(ControlChange(0.0, SUSTAIN_CC, 127, 0), ControlChange(0.9, SUSTAIN_CC, 0, 0)))
    right = Track("right hand", (Note(0.5, 1.5, 72, 100, 1),), program=0, channel=1)
    path = tmp_path / "hands.mid"
    write_midi(path, [left, right], tempo_bpm=90)
    score = read_midi(path)
    assert [t.name for t in score.tracks] == ["left hand", "right hand"]
    assert score.tempo_bpm == pytest.approx(90)
    assert [cc.value for cc in score.tracks[0].controls] == [127, 0]
    midi = pretty_midi.PrettyMIDI(str(path))
    assert [i.name for i in midi.instruments] == ["left hand", "right hand"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is a text file, not MIDI\n", "not a readable standard MIDI file"),
    (None, "does not exist"),
])
def test_bad_files_give_clear_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "song.mid"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MidiFileError, match=message):
        read_midi(path)


def test_truncated_file_gives_a_clear_error(tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / "midi" / "miditest" / "5.mid").read_bytes()
    path = tmp_path / "cut.mid"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MidiFileError, match="export it again"):
        read_midi(path)


def test_a_track_with_controllers_and_no_notes_is_kept(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    notes, gestures = mido.MidiTrack(), mido.MidiTrack()
    notes.append(mido.MetaMessage("track_name", name="piano"))
    notes.append(mido.Message("note_on", note=60, velocity=80, time=0))
    notes.append(mido.Message("note_off", note=60, time=480))
    notes.append(mido.Message("control_change", control=7, value=100, channel=7))  # beside the notes: own name
    gestures.append(mido.MetaMessage("track_name", name="gestures"))
    gestures.append(mido.Message("control_change", control=1, value=10, channel=3, time=240))
    gestures.append(mido.Message("control_change", control=1, value=90, channel=3, time=480))
    gestures.append(mido.Message("program_change", program=5, channel=4, time=0))  # neither notes nor controls
    midi.tracks += [notes, gestures]
    path = tmp_path / "gestures.mid"
    midi.save(str(path))
    score = read_midi(path)
    assert [(t.name, len(t.notes), t.channel, t.source) for t in score.tracks] == [
        ("piano", 1, 0, 0), ("piano ch8", 0, 7, 0), ("gestures", 0, 3, 1)]
    assert [(c.t, c.control, c.value, c.channel) for c in score.tracks[2].controls] == [(0.25, 1, 10, 3),
                                                                                        (0.75, 1, 90, 3)]
    assert [n.pitch for n in score.notes] == [60] and score.duration == 0.5
    only_gestures = tmp_path / "only.mid"
    write_midi(only_gestures, [Track("gestures", (), None, 3, score.tracks[2].controls)])
    [back] = read_midi(only_gestures).tracks
    assert back.notes == () and [c.value for c in back.controls] == [10, 90] and read_midi(only_gestures).notes == []


def test_a_track_on_several_channels_reads_one_track_per_channel_and_writes_each_program(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="band")])
    for channel, program, pitch in ((0, 0, 60), (1, 33, 36)):
        track.append(mido.Message("program_change", program=program, channel=channel))
        track.append(mido.Message("note_on", note=pitch, velocity=90, channel=channel))
        track.append(mido.Message("note_off", note=pitch, channel=channel, time=480))
    midi.tracks.append(track)
    path = tmp_path / "band.mid"
    midi.save(str(path))
    piano, bass = read_midi(path).tracks
    assert (piano.name, piano.program, piano.source) == ("band ch1", 0, 0)
    assert (bass.name, bass.program, bass.channel, bass.source) == ("band ch2", 33, 1, 0)
    merged = Track("band", piano.notes + bass.notes, 0, 0, channel_programs=((0, 0), (1, 33)))
    write_midi(tmp_path / "merged.mid", [merged])
    assert [(t.channel, t.program, [n.pitch for n in t.notes]) for t in read_midi(tmp_path / "merged.mid").tracks] == [
        (0, 0, [60]), (1, 33, [36])]
