"""Offline rendering of MIDI parts to audio stems: one stem per track (or per channel).

Stems that use VST3 plugins render in a child process each: a plugin that crashes or hangs fails only
its stem (with an error naming the plugin). An instrument that renders silence is reported and its file
removed. Audio is rendered and written in blocks, so memory stays bounded on long files.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bridge.errors import PluginError, VmbError
from bridge.instrument_presets import DEFAULT_PRESET, InstrumentPreset, SoundFontInstrument, Vst3Instrument
from bridge.midi import MidiScore, Track, read_midi
from bridge.render_engines import (
    Audio,
    EffectChain,
    Engine,
    SoundFontEngine,
    Vst3Engine,
    note_events,
    soundfont_programs,
)
from bridge.render_isolation import ChildTask, Progress, run_isolated

log = logging.getLogger(__name__)

BIT_DEPTHS = {"16": 16, "24": 24, "32f": 32}
FORMATS = ("wav", "flac")
SPLITS = ("track", "channel")
GENERIC_NAME = re.compile(r"(track|channel|part)?[\s_-]*\d*([\s_-]*ch\d+)?", re.I)


@dataclass(frozen=True, slots=True)
class RenderSettings:
    sample_rate: int = 48000
    audio_format: str = "wav"
    bit_depth: str = "24"
    tail: float = 2.0
    block_seconds: float = 10.0
    timeout: float = 600.0
    isolate: bool = True
    silence_db: float = -90.0
    duration: float | None = None  # default: the last note off over all parts, plus the tail

    def __post_init__(self) -> None:
        if self.audio_format not in FORMATS:
            raise VmbError(f"format {self.audio_format!r} is not supported; use one of {', '.join(FORMATS)}")
        if self.bit_depth not in BIT_DEPTHS:
            raise VmbError(f"bit depth {self.bit_depth!r} is not supported; use one of {', '.join(BIT_DEPTHS)}")
        if self.audio_format == "flac" and self.bit_depth == "32f":
            raise VmbError("FLAC cannot hold 32-bit float; use --bit-depth 24 or --format wav")
        if not 8000 <= self.sample_rate <= 384000:
            raise VmbError(f"sample rate {self.sample_rate} is outside 8000-384000 Hz")
        if self.tail < 0 or self.timeout <= 0:
            raise VmbError("--tail must be 0 or more and --timeout more than 0 seconds")


@dataclass(frozen=True, slots=True)
class StemResult:
    part: str
    preset: str
    path: Path | None
    peak_db: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StemJob:
    part: Track
    preset: InstrumentPreset
    path: Path
    duration: float
    settings: RenderSettings = field(default_factory=RenderSettings)


def end_of(part: Track) -> float:
    return max((note.end for note in part.notes), default=0.0)


def instrument_name(part: Track) -> str:
    """``drums`` on the GM drum channel, else the General MIDI name of the part's program (none: piano)."""
    if part.is_drum:
        return "drums"
    import pretty_midi

    return str(pretty_midi.program_to_instrument_name(part.program or 0))


def _informative(name: str) -> bool:
    return bool(name.strip()) and GENERIC_NAME.fullmatch(name.strip()) is None


def _merge_channel(channel: int, tracks: list[Track]) -> Track:
    bare = (t.name.removesuffix(f" ch{channel + 1}") for t in tracks)  # read_midi's suffix for a track's channels
    names = list(dict.fromkeys(name for name in bare if _informative(name)))
    label = f"ch{channel + 1} " + ("+".join(names) if names else instrument_name(tracks[0]))
    return Track(
        name=label,
        notes=tuple(sorted(n for t in tracks for n in t.notes)),
        program=next((t.program for t in tracks if t.program is not None), None),
        channel=channel,
        controls=tuple(sorted((c for t in tracks for c in t.controls), key=lambda c: c.t)),
    )


def _merge_source(tracks: list[Track]) -> Track:
    """The channels of one MIDI track (read as one Track each) as one part that plays each with its program."""
    first = tracks[0]
    return Track(
        name=first.name.removesuffix(f" ch{first.channel + 1}"),
        notes=tuple(sorted(n for t in tracks for n in t.notes)),
        program=first.program,
        channel=first.channel,
        controls=tuple(sorted((c for t in tracks for c in t.controls), key=lambda c: c.t)),
        channel_programs=tuple((t.channel, t.program) for t in tracks),
        source=first.source,
    )


def _by_source(tracks: list[Track]) -> list[Track]:
    groups: dict[object, list[Track]] = {}
    for index, track in enumerate(tracks):  # tracks made in code (no source) stay parts of their own
        groups.setdefault(track.source if track.source is not None else ("own", index), []).append(track)
    return [group[0] if len(group) == 1 else _merge_source(group) for group in groups.values()]


def parts_from_score(score: MidiScore, split: str = "track") -> list[Track]:
    """The parts to render, each a stem: per MIDI track (a track playing on several channels gives one part
    that plays each channel with its own program), or per MIDI channel (the tracks sharing a channel merged).
    Tracks without notes (controllers only) are left out."""
    if split not in SPLITS:
        raise VmbError(f"split {split!r} is not supported; use one of {', '.join(SPLITS)}")
    tracks = [t for t in score.tracks if t.notes]
    if split == "track":
        return [t if _informative(t.name) else _relabel(t) for t in _by_source(tracks)]
    by_channel: dict[int, list[Track]] = {}
    for track in tracks:
        by_channel.setdefault(track.channel, []).append(track)
    return [_merge_channel(channel, group) for channel, group in sorted(by_channel.items())]


def _relabel(track: Track) -> Track:
    name = f"{track.name} {instrument_name(track)}" if track.name.strip() else instrument_name(track)
    return replace(track, name=name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40].strip("-") or "part"


def stem_filename(index: int, part: Track, preset: InstrumentPreset, audio_format: str) -> str:
    """``01-piano-soundfont.wav``: order, the part's name, the preset that played it."""
    return f"{index + 1:02d}-{_slug(part.name)}-{_slug(preset.name)}.{audio_format}"


def make_engine(part: Track, preset: InstrumentPreset, sample_rate: int) -> Engine:
    """The instrument for one part. A part that spans channels plays each on its own; otherwise the SoundFont
    plays it on channel 0 (10 for drums) and a VST3 instrument gets it on channel 0."""
    instrument = preset.instrument
    if isinstance(instrument, SoundFontInstrument):
        programs = soundfont_programs(part, instrument)
        channel = None if part.channel_programs else next(iter(programs))
        events = note_events(part.notes, part.controls, preset.transpose, channel)
        return SoundFontEngine(instrument, events, programs, sample_rate)
    assert isinstance(instrument, Vst3Instrument)
    events = note_events(part.notes, part.controls, preset.transpose, None if part.channel_programs else 0)
    return Vst3Engine(instrument, events, sample_rate)


def plugin_label(preset: InstrumentPreset) -> str:
    instrument = preset.instrument
    names = [instrument.path if isinstance(instrument, Vst3Instrument) else f"SoundFont {instrument.soundfont}"]
    names += [e.path or e.kind for e in preset.effects]
    return " -> ".join(names)


def uses_plugins(preset: InstrumentPreset) -> bool:
    """Whether ``preset`` loads third-party plugin code (a VST3); only such stems need a child process."""
    return isinstance(preset.instrument, Vst3Instrument) or any(e.kind == "vst3" for e in preset.effects)


def render_stem(job: StemJob, progress: Progress | None = None) -> float:
    """Render one stem to ``job.path`` block by block; returns the peak in dBFS. Raises on silence."""
    from pedalboard.io import AudioFile

    settings = job.settings
    engine = make_engine(job.part, job.preset, settings.sample_rate)
    chain = EffectChain(job.preset.effects, settings.sample_rate)
    total = round(job.duration * settings.sample_rate)
    block = max(1024, round(settings.block_seconds * settings.sample_rate))
    peak = 0.0
    job.path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(
        str(job.path), "w", settings.sample_rate, num_channels=2, bit_depth=BIT_DEPTHS[settings.bit_depth]
    ) as out:
        for start in range(0, total, block):
            frames = min(block, total - start)
            audio: Audio = chain.process(engine.render(start / settings.sample_rate, frames))
            block_peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0
            peak = max(peak, block_peak)
            if block_peak > 1.0 and settings.bit_depth != "32f":
                np.clip(audio, -1.0, 1.0, out=audio)
            out.write(audio)
            if progress is not None:
                progress((start + frames) / max(total, 1))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if job.part.notes and peak_db < settings.silence_db:
        job.path.unlink(missing_ok=True)
        raise PluginError(
            f"{plugin_label(job.preset)} rendered silence for {job.part.name!r} (peak {peak_db:.0f} dBFS):"
            " check the plugin is licensed/activated, its preset and state, and that it is an instrument"
        )
    return float(peak_db)


def _render_isolated(job: StemJob, progress: Progress | None) -> float:
    task = ChildTask(
        render_stem, (job,), plugin_label(job.preset), f"rendering {job.part.name!r}",
        "try another plugin, preset or state",
    )
    try:
        return float(run_isolated(task, job.settings.timeout, progress))
    except VmbError:
        job.path.unlink(missing_ok=True)
        raise


def render_stems(
    parts: Sequence[Track],
    out_dir: Path,
    presets: Sequence[InstrumentPreset] | None = None,
    settings: RenderSettings | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> list[StemResult]:
    """Render each part to its own stem in ``out_dir``; a failing stem is reported, the rest complete.

    ``progress(index, fraction)`` is called as each stem advances.
    """
    settings = settings or RenderSettings()
    chosen = list(presets) if presets is not None else [DEFAULT_PRESET] * len(parts)
    if len(chosen) != len(parts):
        raise VmbError(f"{len(parts)} parts but {len(chosen)} presets: give one preset per part")
    end = max((end_of(p) for p in parts), default=0.0)
    duration = settings.duration if settings.duration is not None else end + settings.tail
    results = []
    for index, (part, preset) in enumerate(zip(parts, chosen, strict=True)):
        path = out_dir / stem_filename(index, part, preset, settings.audio_format)
        job = StemJob(part, preset, path, duration, settings)
        report = (lambda f, i=index: progress(i, f)) if progress is not None else None
        began = time.perf_counter()
        try:
            isolate = settings.isolate and uses_plugins(preset)
            peak = _render_isolated(job, report) if isolate else render_stem(job, report)
            results.append(StemResult(part.name, preset.name, path, peak, time.perf_counter() - began))
            log.info("rendered %s with %s to %s (peak %.1f dBFS)", part.name, preset.name, path, peak)
        except VmbError as exc:
            log.info("stem %s failed: %s", part.name, exc)  # reported in the result; the caller shows it
            results.append(StemResult(part.name, preset.name, None, None, time.perf_counter() - began, str(exc)))
    return results


def mix_stems(paths: Sequence[Path], out: Path, settings: RenderSettings | None = None) -> float:
    """Sum stems block by block into ``out``; returns the mix peak in dBFS (clipped to 0 dBFS unless 32f)."""
    from pedalboard.io import AudioFile

    settings = settings or RenderSettings()
    if not paths:
        raise VmbError("no stems to mix: every stem failed; see the errors above")
    readers = [AudioFile(str(p)) for p in paths]
    peak = 0.0
    try:
        frames = max(r.frames for r in readers)
        block = round(settings.block_seconds * settings.sample_rate)
        with AudioFile(
            str(out), "w", settings.sample_rate, num_channels=2, bit_depth=BIT_DEPTHS[settings.bit_depth]
        ) as writer:
            for start in range(0, frames, block):
                total = np.zeros((2, min(block, frames - start)), dtype=np.float32)
                for reader in readers:
                    chunk = np.asarray(reader.read(block), dtype=np.float32)
                    total[:, : chunk.shape[1]] += chunk[:2] if chunk.shape[0] >= 2 else chunk[[0, 0]]
                peak = max(peak, float(np.max(np.abs(total))) if total.size else 0.0)
                writer.write(total if settings.bit_depth == "32f" else np.clip(total, -1.0, 1.0))
    finally:
        for reader in readers:
            reader.close()
    if peak > 1.0 and settings.bit_depth != "32f":
        log.warning("mix peaks at %.1f dBFS and was clipped; lower the stems' gain", 20 * np.log10(peak))
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def render_midi_mix(midi: Path, out: Path, settings: RenderSettings | None = None) -> float:
    """Render every part of a MIDI file with the default SoundFont and write their mix to ``out``
    (format from its suffix: .wav or .flac); returns the mix peak in dBFS."""
    audio_format = out.suffix.lower().lstrip(".")
    if audio_format not in FORMATS:
        raise VmbError(f"{out}: write the mix as .wav or .flac")
    parts = parts_from_score(read_midi(midi))
    if not parts:
        raise VmbError(f"{midi} has no notes: nothing to render")
    settings = replace(settings or RenderSettings(isolate=False), audio_format=audio_format)
    with tempfile.TemporaryDirectory(prefix="vmb-render-") as tmp:
        results = render_stems(parts, Path(tmp), None, settings)
        failed = [r for r in results if r.error]
        if failed:
            raise VmbError(f"rendering {midi} failed: {failed[0].error}")
        return mix_stems([r.path for r in results if r.path is not None], out, settings)
