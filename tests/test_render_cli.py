"""``vmb render`` end to end on MIDI files written with mido, and restyling."""

from __future__ import annotations

import argparse
from pathlib import Path

import mido
import numpy as np
import pytest

from bridge.commands import render
from bridge.errors import PresetError, VmbError
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


def _band(path: Path) -> Path:
    """One MIDI track playing a piano on channel 1 and a bass (program 33) on channel 2."""
    mid = mido.MidiFile()
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Band")])
    track.append(mido.Message("program_change", program=0, channel=0))
    track.append(mido.Message("program_change", program=33, channel=1))
    for i in range(4):
        track.append(mido.Message("note_on", note=60 + i, velocity=90, channel=0))
        track.append(mido.Message("note_on", note=36 + i, velocity=90, channel=1))
        track.append(mido.Message("note_off", note=60 + i, channel=0, time=240))
        track.append(mido.Message("note_off", note=36 + i, channel=1, time=0))
    mid.tracks.append(track)
    mid.save(str(path))
    return path


def test_one_track_on_two_channels_is_one_stem_by_track_and_two_by_channel(tmp_path: Path) -> None:
    song = _band(tmp_path / "band.mid")
    dry = tmp_path / "dry.toml"  # without reverb the stems add up exactly: one FluidSynth is two on 2 channels
    dry.write_text('[instrument]\nkind = "soundfont"\nreverb = false\n')
    common = ["--tail", "0.3", "--bit-depth", "32f", "--preset", str(dry)]
    assert _run([str(song), "-o", str(tmp_path / "t"), *common]) == 0
    assert _run([str(song), "-o", str(tmp_path / "c"), "--split", "channel", *common]) == 0
    [track_stem] = sorted((tmp_path / "t").iterdir())
    assert track_stem.name == "01-band-dry.wav"
    channel_stems = sorted((tmp_path / "c").iterdir())
    assert [p.name for p in channel_stems] == ["01-ch1-band-dry.wav", "02-ch2-band-dry.wav"]
    piano, bass = (read_audio(p) for p in channel_stems)
    both = read_audio(track_stem)
    assert np.max(np.abs(piano)) > 0.01 and np.max(np.abs(bass)) > 0.01
    assert np.max(np.abs(both - (piano + bass))) < 1e-5 * np.max(np.abs(both))
    as_piano = tmp_path / "p"  # the bass channel really plays program 33, not the track's first program
    assert _run([str(song), "-o", str(as_piano), "--split", "channel", *common, "--track-preset", "2=gm-piano"]) == 0
    assert np.max(np.abs(read_audio(sorted(as_piano.iterdir())[1])[:, :24000] - bass[:, :24000])) > 0.01


def test_controller_only_tracks_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = _song(tmp_path / "song.mid")
    mid = mido.MidiFile(str(song))
    gestures = mido.MidiTrack([mido.MetaMessage("track_name", name="Gestures")])
    gestures += [mido.Message("control_change", control=1, value=v, channel=2, time=120) for v in (0, 64, 127)]
    mid.tracks.append(gestures)
    mid.save(str(song))
    assert _run([str(song), "-o", str(tmp_path / "a"), "--tail", "0.2"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["01-piano-soundfont.wav", "02-bass-soundfont.wav"]
    only = mido.MidiFile()
    only.tracks.append(gestures)
    only.save(str(tmp_path / "only.mid"))
    assert _run([str(tmp_path / "only.mid"), "-o", str(tmp_path / "b")]) == 1
    assert "has no notes" in capsys.readouterr().err
    with pytest.raises(VmbError, match="has no notes"):
        render_midi_mix(tmp_path / "only.mid", tmp_path / "mix.wav")


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
    kit = tuple(Note(t, t + 0.1, 36, 90, 9) for t in (0.0, 0.5, 1.0))  # a part on two channels: its drums do not count
    band = Track("Band", melody.notes + kit, program=0, channel_programs=((0, 0), (9, 0)))
    assert octave_shift(band, (36, 76)) == -12


def test_render_midi_mix_for_transcribe(tmp_path: Path) -> None:
    song = _song(tmp_path / "song.mid")
    peak = render_midi_mix(song, tmp_path / "mix.flac")
    assert -40 < peak <= 0
    audio = read_audio(tmp_path / "mix.flac")
    assert audio.shape == (2, 48000 * (1.75 + 2.0))  # the last note off plus the tail
    assert float(np.max(np.abs(audio))) > 0.01
