"""``vmb render`` end to end on MIDI files written with mido, and restyling."""

from __future__ import annotations

import argparse
from pathlib import Path

import mido
import numpy as np
import pytest

from bridge.commands import render
from bridge.errors import PresetError
from bridge.instrument_presets import DEFAULT_PRESET, SoundFontInstrument
from bridge.midi import Track
from bridge.render import render_midi_mix
from bridge.render_restyle import gm_program, octave_shift, restyle
from bridge.types import Note
from tests.plugins import read_audio


def _song(path: Path, channels: tuple[int, int] = (0, 1)) -> Path:
    mid = mido.MidiFile()
    for (name, program, base), channel in zip((("Piano", 0, 60), ("Bass", 33, 36)), channels, strict=True):
        track = mido.MidiTrack()
        mid.tracks.append(track)
        track.append(mido.MetaMessage("track_name", name=name))
        track.append(mido.Message("program_change", program=program, channel=channel))
        for i in range(4):
            on = mido.Message("note_on", note=base + i, velocity=90, time=0 if i == 0 else 240, channel=channel)
            track.append(on)
            track.append(mido.Message("note_off", note=base + i, time=240, channel=channel))
    mid.save(str(path))
    return path


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    return render.run(parser.parse_args(argv))


def test_render_default_restyle_and_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = _song(tmp_path / "song.mid")
    assert _run([str(song), "-o", str(tmp_path / "a"), "--mix", "--tail", "0.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "01-piano-soundfont.wav",
        "02-bass-soundfont.wav",
        "mix.wav",
    ]
    assert _run([str(song), "-o", str(tmp_path / "b"), "--restyle", "violin,gm-piano", "--format", "flac"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["01-piano-violin.flac", "02-bass-gm-piano.flac"]
    assert "peak" in capsys.readouterr().out


def test_split_by_channel_merges_tracks_on_one_channel(tmp_path: Path) -> None:
    song = _song(tmp_path / "song.mid", channels=(0, 0))
    assert _run([str(song), "-o", str(tmp_path / "t"), "--tail", "0.2"]) == 0
    assert len(list((tmp_path / "t").iterdir())) == 2
    assert _run([str(song), "-o", str(tmp_path / "c"), "--split", "channel", "--tail", "0.2"]) == 0
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["01-ch1-piano-bass-soundfont.wav"]


def test_bad_preset_and_restyle_names_are_errors(tmp_path: Path) -> None:
    song = _song(tmp_path / "song.mid")
    with pytest.raises(PresetError, match="neither a preset nor a General MIDI"):
        _run([str(song), "-o", str(tmp_path / "x"), "--restyle", "kazooo"])
    with pytest.raises(PresetError, match="no part 'Drums'; parts: Piano, Bass"):
        _run([str(song), "-o", str(tmp_path / "x"), "--track-preset", "Drums=gm-piano"])
    assert not (tmp_path / "x").exists()


def test_restyle_moves_parts_by_octaves_into_range() -> None:
    bass = Track("Bass", tuple(Note(i * 0.5, i * 0.5 + 0.4, 36 + i, 90) for i in range(5)), program=33)
    melody = Track("Melody", (Note(0.0, 1.0, 84, 90), Note(1.0, 2.0, 88, 90)), program=0)
    drums = Track("Drums", (Note(0.0, 0.1, 36, 90),), channel=9)
    presets = restyle([bass, drums, melody], ["violin", "cello"], [DEFAULT_PRESET] * 3)
    violin, kept, cello = presets
    assert kept is DEFAULT_PRESET
    assert isinstance(violin.instrument, SoundFontInstrument)
    assert violin.instrument.program == gm_program("violin") == 40
    assert violin.transpose == 24  # median 38 -> 62, inside the violin's 55-103
    assert cello.transpose == -12  # median 86 -> 74, inside the cello's 36-76
    assert octave_shift(melody, (21, 108)) == 0


def test_render_midi_mix_for_transcribe(tmp_path: Path) -> None:
    song = _song(tmp_path / "song.mid")
    peak = render_midi_mix(song, tmp_path / "mix.flac")
    assert -40 < peak <= 0
    audio = read_audio(tmp_path / "mix.flac")
    assert audio.shape == (2, 48000 * (1.75 + 2.0))  # the last note off plus the tail
    assert float(np.max(np.abs(audio))) > 0.01
