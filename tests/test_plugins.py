"""VST3 plugins: listing that survives crashing and hanging plugins, saved state, and zam-plugins' ZamVerb."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from bridge.commands import plugins
from bridge.instrument_presets import EffectSpec, InstrumentPreset, SoundFontInstrument, load_preset
from bridge.midi import Track
from bridge.plugins import describe, load_vst3, set_parameters
from bridge.render import RenderSettings, render_stems
from bridge.types import Note
from tests.plugins import build_test_plugins, read_audio, synth_preset

ZAMVERB = Path("/usr/lib/vst3/ZamVerb.vst3")
ZAMCOMPX2 = Path("/usr/lib/vst3/ZamCompX2.vst3")
A4 = Track("a4", (Note(0.05, 0.3, 69, 100),))


@pytest.fixture(scope="session")
def synth_dir() -> Path:
    return build_test_plugins()


def _plugins(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    plugins.add_arguments(parser)
    return plugins.run(parser.parse_args(argv))


def test_listing_survives_crashing_and_hanging_plugins(synth_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _plugins(["--path", str(synth_dir), "--timeout", "8"]) == 1
    out, err = capsys.readouterr()
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("/")}
    crash, hang, fine = (lines[str(synth_dir / f"{n}.vst3")] for n in ("VmbCrashSynth", "VmbHangSynth", "VmbTestSynth"))
    assert "FAILED" in crash and "crashed while loading" in crash and "SIGABRT" in crash
    assert "FAILED" in hang and "within 8 s" in hang
    assert "VmbTestSynth  [instrument]" in fine and "gain" in out and "0..100" in out
    assert "2 of 3 plugins failed to load: VmbCrashSynth.vst3, VmbHangSynth.vst3" in err


def test_raw_state_round_trips_in_process(synth_dir: Path) -> None:
    plugin = load_vst3(str(synth_dir / "VmbTestSynth.vst3"))
    set_parameters(plugin, {"gain": 0.25}, "test")
    plugin([], duration=0.01, sample_rate=48000, num_channels=2, reset=False)  # parameters reach the processor
    fresh = load_vst3(str(synth_dir / "VmbTestSynth.vst3"))
    assert fresh.gain == pytest.approx(0.5)
    fresh.raw_state = bytes(plugin.raw_state)
    assert fresh.gain == pytest.approx(0.25)


@pytest.mark.parametrize("suffix", ["state", "vstpreset"])
def test_saved_state_and_vstpreset_render_quieter(synth_dir: Path, tmp_path: Path, suffix: str) -> None:
    saved = tmp_path / f"quiet.{suffix}"
    argv = ["save-state", str(synth_dir / "VmbTestSynth.vst3"), "-o", str(saved), "--set", "gain=0.25"]
    assert _plugins(argv) == 0
    key = "state" if suffix == "state" else "vstpreset"
    (tmp_path / "quiet.toml").write_text(
        f'[instrument]\nkind = "vst3"\npath = "{synth_dir / "VmbTestSynth.vst3"}"\n{key} = "quiet.{suffix}"\n'
    )
    quiet = load_preset(tmp_path / "quiet.toml")
    settings = RenderSettings(tail=0.1, isolate=False)
    loud_stem, quiet_stem = render_stems([A4, A4], tmp_path / "out", [synth_preset(synth_dir), quiet], settings)
    assert loud_stem.peak_db is not None and quiet_stem.peak_db is not None
    assert loud_stem.peak_db - quiet_stem.peak_db == pytest.approx(20 * np.log10(2), abs=0.2)


def test_save_state_errors_are_one_line(synth_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no parameter 'volume'; valid names: attack_ms, gain"):
        _plugins(["save-state", str(synth_dir / "VmbTestSynth.vst3"), "-o", str(tmp_path / "s"), "--set", "volume=1"])
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(not ZAMCOMPX2.exists(), reason="zam-plugins is not installed (apt-get install zam-plugins)")
def test_dpf_host_internal_parameters_are_hidden() -> None:
    names = [p.name for p in describe(str(ZAMCOMPX2)).parameters]
    assert "threshold_db" in names and "ratio" in names
    assert not {"current_program", "buffer_size_frames", "sample_rate_frames"} & set(names)


@pytest.mark.slow  # loading ZamVerb costs about 3.5 s of CPU (it resamples its impulse responses)
@pytest.mark.skipif(not ZAMVERB.exists(), reason="zam-plugins is not installed (apt-get install zam-plugins)")
def test_zamverb_in_an_effect_chain(tmp_path: Path) -> None:
    bundled = load_preset("piano-zamverb")
    assert [(e.kind, e.path, e.parameters) for e in bundled.effects] == [
        ("vst3", str(ZAMVERB), {"room": 3.0, "wet_dry": 30.0})
    ]
    dry = InstrumentPreset("dry", SoundFontInstrument(program=0))
    verb = EffectSpec("vst3", str(ZAMVERB), parameters={"room": 3.0, "wet_dry": 100.0})
    wet = InstrumentPreset("wet", dry.instrument, (verb,))
    short = Track("piano", (Note(0.05, 0.15, 72, 110),))
    settings = RenderSettings(tail=1.0, isolate=False, block_seconds=0.25)
    dry_stem, wet_stem = render_stems([short, short], tmp_path, [dry, wet], settings)
    assert dry_stem.error is None and wet_stem.error is None, wet_stem.error
    assert dry_stem.path is not None and wet_stem.path is not None
    late = slice(round(0.4 * 48000), round(0.9 * 48000))
    dry_late = float(np.sqrt(np.mean(read_audio(dry_stem.path)[:, late] ** 2)))
    wet_late = float(np.sqrt(np.mean(read_audio(wet_stem.path)[:, late] ** 2)))
    assert wet_late > 5 * dry_late  # the reverb rings on after the piano note has died away
