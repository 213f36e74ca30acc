"""Block renderers for one part: a SoundFont through FluidSynth, or a VST3 instrument, then effects.

Every engine renders ``frames`` samples starting at ``start`` seconds into a float32 array
``(2, frames)``; called block after block it keeps its state, so memory stays bounded on long files.
"""

from __future__ import annotations

import bisect
import ctypes
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from bridge.errors import PluginError, SystemDependencyError
from bridge.instrument_presets import SOUNDFONT_DEFAULT, EffectSpec, SoundFontInstrument, Vst3Instrument
from bridge.midi import ControlChange, Track
from bridge.plugins import load_vst3, set_parameters
from bridge.types import Note

log = logging.getLogger(__name__)

Audio = NDArray[np.float32]
DRUM_CHANNEL = 9
DRUM_BANK = 128
MIDI_CHANNELS = 16  # one part per synth; pyfluidsynth would allocate 256 channels
FLUID_BLOCK = 64  # FluidSynth renders 64 samples at a time and applies events between them
QUIET_CHUNK = 64 * FLUID_BLOCK  # with no voice left, render the reverb tail in these steps, watching it decay
QUIET_LEVEL = 1e-7  # below one step of 24-bit audio (2**-23)
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)


@dataclass(frozen=True, slots=True, order=True)
class Event:
    """A MIDI event at an absolute time: note on/off (``kind`` 0x90/0x80) or a control change (0xB0)."""

    t: float
    order: int  # note offs (0) before controls (1) before note ons (2) at the same time
    kind: int
    data1: int
    data2: int
    channel: int = 0


def note_events(notes: Iterable[Note], controls: Iterable[ControlChange] = (), transpose: int = 0,
                channel: int | None = 0) -> list[Event]:
    """Events sorted by time, all on ``channel``, or with ``channel=None`` each on its note's or control's own
    channel (a part that spans channels; its drum channel is not transposed)."""
    events: list[Event] = []
    for note in notes:
        on = note.channel if channel is None else channel
        shift = 0 if channel is None and on == DRUM_CHANNEL else transpose
        pitch = min(127, max(0, note.pitch + shift))
        events.append(Event(note.start, 2, 0x90, pitch, note.velocity, on))
        events.append(Event(note.end, 0, 0x80, pitch, 0, on))
    events.extend(Event(c.t, 1, 0xB0, c.control, c.value, c.channel if channel is None else channel)
                  for c in controls)
    return sorted(events)


class Engine(Protocol):
    def render(self, start: float, frames: int) -> Audio: ...


def _window(events: list[Event], start: float, end: float) -> list[Event]:
    lo = bisect.bisect_left(events, Event(start, -1, 0, 0, 0))
    hi = bisect.bisect_left(events, Event(end, -1, 0, 0, 0))
    return events[lo:hi]


def default_soundfont() -> Path:
    """The best General MIDI bank installed: FluidR3 if present, else the TimGM6mb that pretty_midi carries."""
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    try:
        import pretty_midi
    except ImportError as exc:
        raise PluginError("no General MIDI SoundFont found: apt-get install fluid-soundfont-gm, or give one") from exc
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def _fluidsynth() -> Any:
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise SystemDependencyError(
            f"FluidSynth is not usable ({exc}); install libfluidsynth3 (Debian) or fluid-synth (Homebrew)"
        ) from exc
    library = fluidsynth._fl  # pyfluidsynth only wraps the 16-bit writer; use the float one of the same library
    library.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int,
                                                                                    ctypes.c_int] * 2
    library.fluid_synth_write_float.restype = ctypes.c_int
    library.fluid_synth_set_interp_method.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    library.fluid_synth_get_active_voice_count.argtypes = [ctypes.c_void_p]
    library.fluid_synth_get_active_voice_count.restype = ctypes.c_int
    return fluidsynth


def soundfont_programs(part: Track, spec: SoundFontInstrument) -> dict[int, int]:
    """FluidSynth channel -> GM program for ``part``: one channel (9 for drums, else 0), or each of the channels of
    a part that spans several; a preset's program replaces the part's (on a multi-channel part, not its drums)."""
    if not part.channel_programs:
        program = spec.program if spec.program is not None else part.program or 0
        return {DRUM_CHANNEL if part.is_drum else 0: program}
    return {
        channel: (program or 0) if spec.program is None or channel == DRUM_CHANNEL else spec.program
        for channel, program in part.channel_programs
    }


class SoundFontEngine:
    """FluidSynth rendering float samples straight into the block (no 16-bit path, no copies).

    Once every voice has ended and the reverb tail has decayed below a 24-bit step, FluidSynth is not called until
    the next event: a part's rests and the silence after its last note cost nothing.
    """

    def __init__(self, spec: SoundFontInstrument, events: list[Event], programs: dict[int, int], sample_rate: int):
        fluidsynth = _fluidsynth()
        path = default_soundfont() if spec.soundfont == SOUNDFONT_DEFAULT else Path(spec.soundfont)
        if not path.is_file():
            raise PluginError(f'SoundFont {path} not found; give an existing .sf2 file or soundfont = "default"')
        # dynamic sample loading reads only the samples of the programs played: 0.1 s instead of about 1 s for
        # the whole 140 MB FluidR3 bank, paid by every stem
        self.synth = fluidsynth.Synth(
            gain=spec.gain, samplerate=float(sample_rate), channels=MIDI_CHANNELS,
            **{"synth.dynamic-sample-loading": 1, "synth.reverb.active": int(spec.reverb)},
        )
        fluidsynth._fl.fluid_synth_set_interp_method(self.synth.synth, -1, spec.interpolation)
        self.write = fluidsynth._fl.fluid_synth_write_float
        self.active_voices = fluidsynth._fl.fluid_synth_get_active_voice_count
        sfid = self.synth.sfload(str(path))
        if sfid < 0:
            raise PluginError(f"SoundFont {path} could not be loaded; check it is a valid .sf2 file")
        for channel, program in programs.items():
            bank = DRUM_BANK if channel == DRUM_CHANNEL else spec.bank
            self.synth.program_select(channel, sfid, bank, program)
        self.events = events
        self.sample_rate = sample_rate
        self.quiet = True  # no voice sounding and the output below quiet_level
        self.quiet_level = QUIET_LEVEL  # 0 turns skipping off

    def _apply(self, event: Event) -> None:
        if event.kind == 0x90:
            self.synth.noteon(event.channel, event.data1, event.data2)
        elif event.kind == 0x80:
            self.synth.noteoff(event.channel, event.data1)
        else:
            self.synth.cc(event.channel, event.data1, event.data2)

    def _synthesize(self, out: Audio, begin: int, end: int) -> None:
        while begin < end:
            idle = self.active_voices(self.synth.synth) == 0
            if idle and self.quiet:
                # skip whole FluidSynth blocks only, so later events fall on the same sample grid as without skipping
                begin += (end - begin) // FLUID_BLOCK * FLUID_BLOCK
                step = end - begin
                if step == 0:
                    return
            else:
                step = min(end - begin, QUIET_CHUNK) if idle else end - begin
            left = out.ctypes.data + begin * out.itemsize  # planar: left row then right row, stride 1
            self.write(self.synth.synth, step, left, 0, 1, left + out.shape[1] * out.itemsize, 0, 1)
            block = out[:, begin:begin + step]
            self.quiet = idle and max(float(block.max()), -float(block.min())) < self.quiet_level
            begin += step

    def render(self, start: float, frames: int) -> Audio:
        out = np.zeros((2, frames), dtype=np.float32)
        done = 0
        for event in _window(self.events, start, start + frames / self.sample_rate):
            at = min(frames, max(done, round((event.t - start) * self.sample_rate)))
            self._synthesize(out, done, at)
            done = at
            self._apply(event)
        self._synthesize(out, done, frames)
        return out


class Vst3Engine:
    def __init__(self, spec: Vst3Instrument, events: list[Event], sample_rate: int):
        self.plugin = load_vst3(spec.path, spec.plugin_name)
        if not self.plugin.is_instrument:
            raise PluginError(f"{spec.path} is an effect, not an instrument; put it under [[effects]]")
        if spec.state is not None:
            try:
                self.plugin.raw_state = Path(spec.state).read_bytes()
            except OSError as exc:
                raise PluginError(
                    f"state file {spec.state} cannot be read ({exc}); save one with vmb plugins save-state"
                ) from exc
        if spec.vstpreset is not None:
            if not Path(spec.vstpreset).is_file():
                raise PluginError(f"vstpreset {spec.vstpreset} not found; give an existing .vstpreset file")
            self.plugin.load_preset(spec.vstpreset)
        set_parameters(self.plugin, spec.parameters, spec.path)
        self.events = events
        self.sample_rate = sample_rate

    def render(self, start: float, frames: int) -> Audio:
        duration = frames / self.sample_rate
        messages = [
            (bytes([event.kind | event.channel, event.data1, event.data2]), max(0.0, event.t - start))
            for event in _window(self.events, start, start + duration)
        ]
        audio = self.plugin(
            messages,
            duration=duration,
            sample_rate=self.sample_rate,
            num_channels=2,
            buffer_size=8192,
            reset=False,  # see EffectChain.process
        )
        return _stereo(np.asarray(audio, dtype=np.float32), frames)


def _stereo(audio: Audio, frames: int) -> Audio:
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.shape == (2, frames):
        return audio
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    out = np.zeros((2, frames), dtype=np.float32)
    n = min(frames, audio.shape[1])
    out[:, :n] = audio[:2, :n]
    return out


def build_effect(spec: EffectSpec) -> Any:
    import pedalboard

    if spec.kind == "vst3":
        assert spec.path is not None
        plugin = load_vst3(spec.path, spec.plugin_name)
        set_parameters(plugin, spec.parameters, spec.path)
        return plugin
    builtins = {name.lower(): getattr(pedalboard, name) for name in dir(pedalboard) if not name.startswith("_")}
    cls = builtins.get(spec.kind.lower())
    if cls is None or not isinstance(cls, type) or not issubclass(cls, pedalboard.Plugin):
        raise PluginError(
            f'unknown effect kind {spec.kind!r}; use "vst3" or a pedalboard effect'
            " such as reverb, delay, compressor, gain"
        )
    try:
        return cls(**spec.parameters)
    except TypeError as exc:
        raise PluginError(f"effect {spec.kind}: bad parameters {sorted(spec.parameters)} ({exc})") from exc


class EffectChain:
    """Effects run on the instrument's blocks in order; mono effects get the mix and are spread to stereo."""

    def __init__(self, specs: tuple[EffectSpec, ...], sample_rate: int):
        self.effects = [build_effect(spec) for spec in specs]
        self.names = [spec.path or spec.kind for spec in specs]
        self.sample_rate = sample_rate

    def process(self, audio: Audio) -> Audio:
        # Never reset: plugins are fresh when loaded, blocks must flow into each other, and for instruments and
        # plugins that keep audio across a reset (ZamVerb) pedalboard's reset reloads the whole plugin, which
        # costs the load time again and, for an instrument that stays silent, a 10 s warm-up wait.
        for effect in self.effects:
            processed = effect.process(audio, self.sample_rate, reset=False)
            audio = _stereo(np.asarray(processed, dtype=np.float32), audio.shape[1])
        return audio
