"""``vmb render`` and ``vmb plugins`` end to end, on a MIDI file written with mido."""

from __future__ import annotations

import argparse
from pathlib import Path

import mido
import pytest

from bridge.commands import plugins, render


def _song(path: Path) -> Path:
    mid = mido.MidiFile()
    for name, program, base in (("Piano", 0, 60), ("Bass", 33, 36)):
        track = mido.MidiTrack()
        mid.tracks.append(track)
        track.append(mido.MetaMessage("track_name", name=name))
        track.append(mido.Message("program_change", program=program))
        for i in range(4):
            track.append(mido.Message("note_on", note=base + i, velocity=90, time=0 if i == 0 else 240))
            track.append(mido.Message("note_off", note=base + i, time=240))
    mid.save(str(path))
    return path


def _run(module: object, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)  # type: ignore[attr-defined]
    code: int = module.run(parser.parse_args(argv))  # type: ignore[attr-defined]
    return code


def test_render_default_restyle_and_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = _song(tmp_path / "song.mid")
    assert _run(render, [str(song), "-o", str(tmp_path / "a"), "--mix", "--tail", "0.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "01-piano-soundfont.wav",
        "02-bass-soundfont.wav",
        "mix.wav",
    ]
    assert _run(render, [str(song), "-o", str(tmp_path / "b"), "--restyle", "violin,cello", "--format", "flac"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["01-piano-violin.flac", "02-bass-cello.flac"]
    assert "peak" in capsys.readouterr().out


def test_plugins_lists_the_test_synth(capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path(__file__).parent / "plugins" / "build" / "bin"
    if not (folder / "VmbTestSynth.vst3").exists():
        pytest.skip("run tests/plugins/build.sh (tests/test_render.py does)")
    assert _run(plugins, ["--path", str(folder), "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "VmbTestSynth  [instrument]" in out and "gain" in out
