"""Rendering with real plugins: the project's DPF test synth, pedalboard effects, FluidSynth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.errors import PluginError, PresetError
from bridge.instrument_presets import (
    DEFAULT_PRESET,
    EffectSpec,
    InstrumentPreset,
    SoundFontInstrument,
    Vst3Instrument,
    load_preset,
    parse_preset,
)
from bridge.midi import ControlChange, MidiScore, Track
from bridge.plugins import describe, load_vst3
from bridge.render import RenderSettings, make_engine, mix_stems, parts_from_score, render_stems
from bridge.render_engines import SoundFontEngine
from bridge.types import Note
from tests.plugins import SAMPLE_RATE, build_test_plugins, read_audio, synth_preset

SR = SAMPLE_RATE


@pytest.fixture(scope="session")
def synth_dir() -> Path:
    return build_test_plugins()


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


def test_synth_pitch_onsets_and_lengths_across_blocks(synth_dir: Path, tmp_path: Path) -> None:
    settings = RenderSettings(sample_rate=SR, tail=0.5, bit_depth="32f", block_seconds=0.7)
    fractions: list[float] = []
    [result] = render_stems(
        [Track("lead", NOTES)], tmp_path, [synth_preset(synth_dir)], settings, lambda i, f: fractions.append(f)
    )
    assert result.error is None and result.path is not None
    assert result.path.name == "01-lead-vmbtestsynth.wav"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 5  # 3 s in 0.7 s blocks
    audio = read_audio(result.path)
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
    track = Track("a4", (Note(0.1, 0.6, 69, 100),))
    presets = [synth_preset(synth_dir), synth_preset(synth_dir, gain=0.25)]
    results = render_stems([track, track], tmp_path, presets, RenderSettings(tail=0.1, isolate=False))
    loud_peak, quiet_peak = (r.peak_db for r in results)
    assert loud_peak is not None and quiet_peak is not None
    assert loud_peak - quiet_peak == pytest.approx(20 * np.log10(2), abs=0.2)


def test_describe_lists_parameters_with_ranges(synth_dir: Path) -> None:
    info = describe(str(synth_dir / "VmbTestSynth.vst3"))
    assert info.is_instrument and info.name == "VmbTestSynth"
    gain = {p.name: p for p in info.parameters}["gain"]
    assert (gain.minimum, gain.maximum) == (0.0, 1.0)


def test_crash_and_hang_fail_only_their_stems(synth_dir: Path, tmp_path: Path) -> None:
    track = Track("part", (Note(0.1, 0.4, 60, 90),))
    presets = [synth_preset(synth_dir, "VmbCrashSynth"), synth_preset(synth_dir), DEFAULT_PRESET]
    crash, fine, soundfont = render_stems([track] * 3, tmp_path, presets, RenderSettings(tail=0.2, timeout=60))
    assert crash.path is None and crash.error is not None
    assert "VmbCrashSynth" in crash.error and "crashed" in crash.error and "SIGABRT" in crash.error
    assert fine.error is None and soundfont.error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["02-part-vmbtestsynth.wav", "03-part-soundfont.wav"]
    hang_dir = tmp_path / "hang"
    [hang] = render_stems([track], hang_dir, [synth_preset(synth_dir, "VmbHangSynth")], RenderSettings(timeout=3))
    assert hang.path is None and hang.error is not None
    assert "VmbHangSynth" in hang.error and "within 3 s" in hang.error
    assert not hang_dir.exists() or list(hang_dir.iterdir()) == []


def test_silence_is_reported_not_saved(synth_dir: Path, tmp_path: Path) -> None:
    [result] = render_stems(
        [Track("mute", NOTES)], tmp_path, [synth_preset(synth_dir, gain=0.0)], RenderSettings(tail=0, isolate=False)
    )
    assert result.path is None and result.error is not None and "silence" in result.error
    assert list(tmp_path.iterdir()) == []


def test_soundfont_default_stems_and_mix(tmp_path: Path) -> None:
    piano = Track("Piano", (Note(0.0, 1.0, 69, 100),), program=0)
    drums = Track("Drums", (Note(0.0, 0.2, 38, 110), Note(0.5, 0.7, 36, 110)), channel=9)
    settings = RenderSettings(tail=0.5, audio_format="flac", bit_depth="16", isolate=False)
    results = render_stems([piano, drums], tmp_path, None, settings)
    assert [r.error for r in results] == [None, None]
    paths = [r.path for r in results if r.path is not None]
    assert [p.name for p in paths] == ["01-piano-soundfont.flac", "02-drums-soundfont.flac"]
    audio = read_audio(paths[0])
    assert abs(_peak_hz(audio[0, 2400:24000]) - 440.0) < 5.0
    peak = mix_stems(paths, tmp_path / "mix.wav", RenderSettings())
    assert -40 < peak <= 0
    assert read_audio(tmp_path / "mix.wav").shape == (2, round(1.5 * SR))


def test_soundfont_renders_float_not_16_bit(tmp_path: Path) -> None:
    soft = Track("soft", (Note(0.0, 0.5, 60, 20), Note(0.5, 1.0, 64, 20)), controls=(ControlChange(0.0, 7, 10),))
    [result] = render_stems([soft], tmp_path, None, RenderSettings(tail=0.2, bit_depth="32f", isolate=False))
    assert result.path is not None
    audio = read_audio(result.path)
    sounding = audio[np.abs(audio) > 0]
    assert sounding.size > SR // 2
    steps = sounding * 32768.0  # a 16-bit path leaves whole numbers of 1/32768 here
    assert np.mean(np.abs(steps - np.round(steps)) > 1e-3) > 0.5


def test_soundfont_skips_silence_without_changing_the_sound() -> None:
    part = Track("gaps", (Note(0.1, 0.4, 60, 100), Note(4.0, 4.3, 67, 100)))
    frames = 5 * SR

    def render(preset: InstrumentPreset, skip: bool = True) -> NDArray[np.float32]:
        engine = make_engine(part, preset, SR)
        assert isinstance(engine, SoundFontEngine)
        engine.quiet_level = engine.quiet_level if skip else 0.0  # 0: never quiet, FluidSynth renders every sample
        return np.concatenate([engine.render(s / SR, SR) for s in range(0, frames, SR)], axis=1)

    wet = render(DEFAULT_PRESET)
    assert np.max(np.abs(wet[:, round(0.6 * SR) : SR])) > 1e-4  # release and reverb tail are kept
    assert not wet[:, 3 * SR : 4 * SR].any()  # then digital silence until the next note
    for start in (0.0, 3.5):  # each note starts on time, the one after the silence too
        first = start + np.flatnonzero(np.abs(wet[0, round(start * SR) :]) > 1e-3)[0] / SR
        assert first == pytest.approx(0.1 if start == 0 else 4.0, abs=0.003)
    dry = InstrumentPreset("dry", SoundFontInstrument(reverb=False))
    skipped = render(dry)
    assert np.array_equal(skipped, render(dry, skip=False))
    assert np.max(np.abs(wet - skipped)) > 1e-4  # the reverb is on by default


def test_effect_chain_with_builtin_effects(synth_dir: Path, tmp_path: Path) -> None:
    dry = synth_preset(synth_dir)
    wet = InstrumentPreset(
        "wet",
        dry.instrument,
        (
            EffectSpec("compressor", parameters={"threshold_db": -30.0}),
            EffectSpec("reverb", parameters={"room_size": 0.8}),
        ),
    )
    track = Track("lead", (Note(0.1, 0.5, 69, 100),))
    settings = RenderSettings(tail=1.0, bit_depth="32f", isolate=False, block_seconds=0.3)
    results = render_stems([track, track], tmp_path, [dry, wet], settings)
    dry_audio, wet_audio = (read_audio(r.path) for r in results if r.path is not None)
    tail = slice(round(0.7 * SR), round(1.2 * SR))
    assert np.max(np.abs(dry_audio[:, tail])) < 1e-4
    assert np.max(np.abs(wet_audio[:, tail])) > 1e-3


def test_split_by_track_or_channel_names_each_part() -> None:
    right = Track("Right hand", (Note(0.0, 1.0, 72, 90, 0),), program=0, channel=0)
    left = Track("Left hand", (Note(0.0, 1.0, 48, 90, 0),), program=0, channel=0)
    bass = Track("track 2", (Note(0.0, 1.0, 36, 90, 1),), program=33, channel=1)
    drums = Track("", (Note(0.0, 0.1, 36, 90, 9),), channel=9)
    score = MidiScore((right, left, bass, drums, Track("empty", ())))
    by_track = parts_from_score(score, "track")
    assert [p.name for p in by_track] == ["Right hand", "Left hand", "track 2 Electric Bass (finger)", "drums"]
    by_channel = parts_from_score(score, "channel")
    assert [p.name for p in by_channel] == ["ch1 Right hand+Left hand", "ch2 Electric Bass (finger)", "ch10 drums"]
    assert [len(p.notes) for p in by_channel] == [2, 1, 1]
    assert by_channel[2].is_drum and by_channel[1].program == 33
    with pytest.raises(Exception, match="split"):
        parts_from_score(score, "hand")


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
    dry = parse_preset({"instrument": {"kind": "soundfont", "reverb": False, "interpolation": 7}}, "dry", tmp_path)
    assert dry.instrument == SoundFontInstrument(reverb=False, interpolation=7)
    with pytest.raises(PresetError, match="interpolation must be one of"):
        parse_preset({"instrument": {"kind": "soundfont", "interpolation": 2}}, "bad", tmp_path)
    with pytest.raises(PresetError, match="reverb must be true or false"):
        parse_preset({"instrument": {"kind": "soundfont", "reverb": "off"}}, "bad", tmp_path)
    with pytest.raises(PresetError, match="is a plugin, not a preset"):
        load_preset(tmp_path / "Synth.vst3")
    with pytest.raises(PresetError, match="not found"):
        load_preset("no-such-preset")


def test_missing_plugin_lists_installed(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"not found.*Installed"):
        load_vst3(str(tmp_path / "Nope.vst3"))
