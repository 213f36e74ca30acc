"""The project's test VST3 instruments (built by build.sh) and helpers shared by the rendering tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge.instrument_presets import InstrumentPreset, Vst3Instrument

HERE = Path(__file__).parent
SAMPLE_RATE = 48000


def build_test_plugins() -> Path:
    """Build VmbTestSynth, VmbCrashSynth and VmbHangSynth (once; later calls return at once); their folder."""
    subprocess.run(["sh", str(HERE / "build.sh")], check=True, capture_output=True)
    return HERE / "build" / "bin"


def synth_preset(synth_dir: Path, name: str = "VmbTestSynth", **parameters: float | str | bool) -> InstrumentPreset:
    return InstrumentPreset(
        name=name.lower(), instrument=Vst3Instrument(str(synth_dir / f"{name}.vst3"), parameters=parameters)
    )


def read_audio(path: Path) -> NDArray[np.float32]:
    from pedalboard.io import AudioFile

    with AudioFile(str(path)) as f:
        assert f.samplerate == SAMPLE_RATE
        return np.asarray(f.read(f.frames), dtype=np.float32)
