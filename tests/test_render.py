"""Rendering with real plugins: the project's DPF test synth, zam-plugins effects, FluidSynth."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from pedalboard.io import AudioFile

from bridge.errors import PluginError, PresetError
from bridge.instrument_presets import (
    DEFAULT_PRESET,
    EffectSpec,
    InstrumentPreset,
    Vst3Instrument,
    load_preset,
    parse_preset,
)
from bridge.plugins import describe, load_vst3
from bridge.render import RenderSettings, RenderTrack, mix_stems, render_stems
from bridge.types import Note

PLUGINS = Path(__file__).parent / "plugins"
SR = 48000
ZAMCOMPX2 = Path("/usr/lib/vst3/ZamCompX2.vst3")


@pytest.fixture(scope="session")
def synth_dir() -> Path:
    subprocess.run(["sh", str(PLUGINS / "build.sh")], check=True, capture_output=True)
    return PLUGINS / "build" / "bin"


def _synth(synth_dir: Path, name: str = "VmbTestSynth", **parameters: float | str | bool) -> InstrumentPreset:
    return InstrumentPreset(
        name=name.lower(), instrument=Vst3Instrument(str(synth_dir / f"{name}.vst3"), parameters=parameters)
    )


def _read(path: Path) -> NDArray[np.float32]:
    with AudioFile(str(path)) as f:
        assert f.samplerate == SR
        return np.asarray(f.read(f.frames), dtype=np.float32)


def _peak_hz(signal: NDArray[np.float32]) -> float:
    window = signal * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(window, n=len(signal) * 4))
    return float(np.argmax(spectrum) * SR / (len(signal) * 4))


def _onsets_offsets(mono: NDArray[np.float32], threshold: float = 1e-3) -> tuple[list[float], list[float]]:
    loud = np.abs(mono) > threshold
    # bridge the zero crossings of the sine: a gap shorter than 2 ms is not a note boundary
    smoothed = np.convolve(loud.astype(float), np.ones(96), mode="same") > 0
    edges = np.diff(smoothed.astype(int))
    on = [(i + 1 + 48) / SR for i in np.flatnonzero(edges == 1)]
    off = [(i + 1 - 48) / SR for i in np.flatnonzero(edges == -1)]
    return on, off


NOTES = (Note(0.25, 0.75, 69, 100), Note(1.0, 1.3, 72, 100), Note(1.5, 2.5, 57, 100))


def test_synth_pitch_onsets_and_lengths(synth_dir: Path, tmp_path: Path) -> None:
    settings = RenderSettings(sample_rate=SR, tail=0.5, bit_depth="32f", block_seconds=0.7)
    [result] = render_stems([RenderTrack("lead", NOTES)], tmp_path, [_synth(synth_dir)], settings)
    assert result.error is None and result.path is not None
    assert result.path.name == "01-lead-vmbtestsynth.wav"
    audio = _read(result.path)
    assert audio.shape == (2, round(3.0 * SR))
    onsets, offsets = _onsets_offsets(audio[0])
    assert len(onsets) == 3
    for note, on, off in zip(NOTES, onsets, offsets, strict=True):
        assert abs(on - note.start) < 0.003
        assert abs(off - note.end) < 0.005  # 2 ms release
        mid = audio[0, round((note.start + 0.05) * SR) : round((note.end - 0.05) * SR)]
        want = 440.0 * 2 ** ((note.pitch - 69) / 12)
        assert abs(_peak_hz(mid) - want) < want * 0.003


def test_parameter_change_changes_the_sound(synth_dir: Path, tmp_path: Path) -> None:
    track = RenderTrack("a4", (Note(0.1, 0.6, 69, 100),))
    presets = [_synth(synth_dir), _synth(synth_dir, gain=0.25)]
    results = render_stems([track, track], tmp_path, presets, RenderSettings(tail=0.1))
    loud_peak, quiet_peak = (r.peak_db for r in results)
    assert loud_peak is not None and quiet_peak is not None
    assert loud_peak - quiet_peak == pytest.approx(20 * np.log10(2), abs=0.2)


@pytest.mark.xfail(
    reason="measured: raw_state set on a fresh DPF 1.6 VST3 instance does not change gain; not yet traced"
)
def test_raw_state_round_trips(synth_dir: Path) -> None:
    plugin = load_vst3(str(synth_dir / "VmbTestSynth.vst3"))
    plugin.gain = 0.25
    state = bytes(plugin.raw_state)
    fresh = load_vst3(str(synth_dir / "VmbTestSynth.vst3"))
    assert fresh.gain == pytest.approx(0.5)
    fresh.raw_state = state
    assert fresh.gain == pytest.approx(0.25)


def test_describe_lists_parameters_with_ranges(synth_dir: Path) -> None:
    info = describe(str(synth_dir / "VmbTestSynth.vst3"))
    assert info.is_instrument and info.name == "VmbTestSynth"
    gain = {p.name: p for p in info.parameters}["gain"]
    assert (gain.minimum, gain.maximum) == (0.0, 1.0)


def test_crash_and_hang_fail_only_their_stems(synth_dir: Path, tmp_path: Path) -> None:
    track = RenderTrack("part", (Note(0.1, 0.4, 60, 90),))
    presets = [_synth(synth_dir, "VmbCrashSynth"), _synth(synth_dir, "VmbHangSynth"), _synth(synth_dir), DEFAULT_PRESET]
    results = render_stems([track] * 4, tmp_path, presets, RenderSettings(tail=0.2, timeout=4.0))
    crash, hang, fine, soundfont = results
    assert crash.path is None and crash.error is not None
    assert "VmbCrashSynth" in crash.error and "crashed" in crash.error
    assert hang.path is None and hang.error is not None
    assert "VmbHangSynth" in hang.error and "within 4 s" in hang.error
    assert fine.error is None and soundfont.error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["03-part-vmbtestsynth.wav", "04-part-soundfont.wav"]


def test_silence_is_reported_not_saved(synth_dir: Path, tmp_path: Path) -> None:
    [result] = render_stems(
        [RenderTrack("mute", NOTES)], tmp_path, [_synth(synth_dir, gain=0.0)], RenderSettings(tail=0)
    )
    assert result.path is None and result.error is not None and "silence" in result.error
    assert list(tmp_path.iterdir()) == []


def test_soundfont_default_stems_and_mix(tmp_path: Path) -> None:
    piano = RenderTrack("Piano", (Note(0.0, 1.0, 69, 100),), program=0)
    drums = RenderTrack("Drums", (Note(0.0, 0.2, 38, 110), Note(0.5, 0.7, 36, 110)), is_drum=True)
    results = render_stems(
        [piano, drums], tmp_path, None, RenderSettings(tail=0.5, audio_format="flac", bit_depth="16")
    )
    assert [r.error for r in results] == [None, None]
    paths = [r.path for r in results if r.path is not None]
    assert [p.name for p in paths] == ["01-piano-soundfont.flac", "02-drums-soundfont.flac"]
    audio = _read(paths[0])
    assert abs(_peak_hz(audio[0, 2400:24000]) - 440.0) < 5.0
    peak = mix_stems(paths, tmp_path / "mix.wav", RenderSettings())
    assert -40 < peak <= 0
    assert _read(tmp_path / "mix.wav").shape == (2, round(1.5 * SR))


@pytest.mark.skipif(not ZAMCOMPX2.exists(), reason="zam-plugins is not installed (apt-get install zam-plugins)")
def test_effect_chain_with_zam_plugin_and_builtin_reverb(synth_dir: Path, tmp_path: Path) -> None:
    dry = _synth(synth_dir)
    wet = InstrumentPreset(
        "wet",
        dry.instrument,
        (
            EffectSpec("vst3", str(ZAMCOMPX2), parameters={"threshold_db": -30.0}),
            EffectSpec("reverb", parameters={"room_size": 0.8}),
        ),
    )
    track = RenderTrack("lead", (Note(0.1, 0.5, 69, 100),))
    results = render_stems([track, track], tmp_path, [dry, wet], RenderSettings(tail=1.0, bit_depth="32f"))
    dry_audio, wet_audio = (_read(r.path) for r in results if r.path is not None)
    tail = slice(round(0.7 * SR), round(1.2 * SR))
    assert np.max(np.abs(dry_audio[:, tail])) < 1e-4
    assert np.max(np.abs(wet_audio[:, tail])) > 1e-3


def test_preset_files(tmp_path: Path) -> None:
    preset = load_preset("test-sine")
    assert isinstance(preset.instrument, Vst3Instrument)
    assert preset.instrument.path.endswith("tests/plugins/build/bin/VmbTestSynth.vst3")
    assert preset.instrument.parameters == {"gain": 0.8, "attack_ms": 5.0}
    assert [e.kind for e in preset.effects] == ["reverb"]
    hall = load_preset(Path(__file__).parent.parent / "presets" / "instruments" / "piano-hall.toml")
    assert [e.kind for e in hall.effects] == ["vst3", "reverb"]
    with pytest.raises(PresetError, match="unknown key"):
        parse_preset({"instrument": {"kind": "soundfont", "programme": 3}}, "bad", tmp_path)
    with pytest.raises(PresetError, match="kind"):
        parse_preset({"instrument": {"kind": "lv2"}}, "bad", tmp_path)


def test_missing_plugin_lists_installed(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"not found.*Installed"):
        load_vst3(str(tmp_path / "Nope.vst3"))
