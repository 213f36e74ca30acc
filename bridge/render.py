"""Offline rendering of MIDI tracks to audio stems: one stem per track, each in its own child process.

A plugin that crashes or hangs fails only its stem (with an error naming the plugin); an instrument
that renders silence is reported and its file removed. Audio is rendered and written in blocks, so
memory stays bounded on long files.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from bridge.errors import PluginError, VmbError
from bridge.instrument_presets import DEFAULT_PRESET, InstrumentPreset, SoundFontInstrument, Vst3Instrument
from bridge.render_engines import Audio, EffectChain, Engine, SoundFontEngine, Vst3Engine, note_events
from bridge.types import Note

log = logging.getLogger(__name__)

BIT_DEPTHS = {"16": 16, "24": 24, "32f": 32}
FORMATS = ("wav", "flac")


@dataclass(frozen=True, slots=True)
class RenderTrack:
    """One part to render: its notes, GM program (None: piano), whether it is drums, its controls."""

    name: str
    notes: tuple[Note, ...]
    program: int | None = None
    channel: int = 0
    is_drum: bool = False
    controls: tuple[tuple[float, int, int], ...] = ()

    @property
    def end(self) -> float:
        return max((note.end for note in self.notes), default=0.0)


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
    duration: float | None = None  # default: the last note off over all tracks, plus the tail

    def __post_init__(self) -> None:
        if self.audio_format not in FORMATS:
            raise VmbError(f"format {self.audio_format!r} is not supported; use one of {', '.join(FORMATS)}")
        if self.bit_depth not in BIT_DEPTHS:
            raise VmbError(f"bit depth {self.bit_depth!r} is not supported; use one of {', '.join(BIT_DEPTHS)}")
        if self.audio_format == "flac" and self.bit_depth == "32f":
            raise VmbError("FLAC cannot hold 32-bit float; use --bit-depth 24 or --format wav")
        if not 8000 <= self.sample_rate <= 384000:
            raise VmbError(f"sample rate {self.sample_rate} is outside 8000-384000 Hz")


@dataclass(frozen=True, slots=True)
class StemResult:
    track: str
    preset: str
    path: Path | None
    peak_db: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StemJob:
    track: RenderTrack
    preset: InstrumentPreset
    path: Path
    duration: float
    settings: RenderSettings = field(default_factory=RenderSettings)


def tracks_from_score(score: Any) -> list[RenderTrack]:
    """Adapter from :func:`bridge.midi.read_midi`'s score; tracks without notes are left out."""
    tracks = []
    for track in score.tracks:
        if not track.notes:
            continue
        controls = tuple((c.t, c.control, c.value) for c in getattr(track, "controls", ()))
        tracks.append(
            RenderTrack(
                name=track.name or f"channel{track.channel + 1}",
                notes=tuple(track.notes),
                program=track.program,
                channel=track.channel,
                is_drum=track.is_drum,
                controls=controls,
            )
        )
    return tracks


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "track"


def stem_filename(index: int, track: RenderTrack, preset: InstrumentPreset, audio_format: str) -> str:
    """``01-piano-soundfont.wav``: order, the track's name, the preset that played it."""
    return f"{index + 1:02d}-{_slug(track.name)}-{_slug(preset.name)}.{audio_format}"


def make_engine(track: RenderTrack, preset: InstrumentPreset, sample_rate: int) -> Engine:
    events = note_events(track.notes, track.controls, preset.transpose)
    instrument = preset.instrument
    if isinstance(instrument, SoundFontInstrument):
        return SoundFontEngine(instrument, events, track.program or 0, track.is_drum, sample_rate)
    assert isinstance(instrument, Vst3Instrument)
    return Vst3Engine(instrument, events, sample_rate)


def _plugin_label(preset: InstrumentPreset) -> str:
    instrument = preset.instrument
    names = [instrument.path if isinstance(instrument, Vst3Instrument) else f"SoundFont {instrument.soundfont}"]
    names += [e.path or e.kind for e in preset.effects]
    return " -> ".join(names)


def render_stem(job: StemJob, progress: Callable[[float], None] | None = None) -> float:
    """Render one stem to ``job.path`` block by block; returns the peak in dBFS. Raises on silence."""
    from pedalboard.io import AudioFile

    settings = job.settings
    engine = make_engine(job.track, job.preset, settings.sample_rate)
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
            peak = max(peak, float(np.max(np.abs(audio))) if audio.size else 0.0)
            if settings.bit_depth != "32f":
                audio = np.clip(audio, -1.0, 1.0)
            out.write(audio)
            if progress is not None:
                progress((start + frames) / max(total, 1))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if job.track.notes and peak_db < settings.silence_db:
        job.path.unlink(missing_ok=True)
        raise PluginError(
            f"{_plugin_label(job.preset)} rendered silence for track {job.track.name!r} (peak {peak_db:.0f} dBFS):"
            " check the plugin is licensed/activated, its preset and state, and that it is an instrument"
        )
    return float(peak_db)


def _child(job: StemJob, conn: Connection) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        peak = render_stem(job, lambda fraction: conn.send(("progress", fraction)))
        conn.send(("ok", peak))
    except VmbError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:
        conn.send(("error", f"{_plugin_label(job.preset)} failed: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _run_isolated(job: StemJob, progress: Callable[[float], None] | None) -> float:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(job, child), daemon=True)
    process.start()
    child.close()
    deadline = time.monotonic() + job.settings.timeout
    label = _plugin_label(job.preset)
    finished = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                process.kill()
                raise PluginError(
                    f"{label} did not finish track {job.track.name!r} within {job.settings.timeout:.0f} s and was"
                    " stopped; the plugin may hang: try another plugin or raise --timeout"
                )
            if not parent.poll(min(left, 0.5)):
                if not process.is_alive() and not parent.poll(0):
                    break
                continue
            try:
                kind, value = parent.recv()
            except EOFError:
                break
            if kind == "progress" and progress is not None:
                progress(float(value))
            elif kind == "ok":
                finished = True
                return float(value)
            elif kind == "error":
                raise PluginError(str(value))
        process.join(5)
        raise PluginError(
            f"{label} crashed while rendering track {job.track.name!r} (exit code {process.exitcode});"
            " the plugin or its preset/state is faulty: try another plugin, preset or state"
        )
    finally:
        process.join(5 if finished else 0.1)
        if process.is_alive():
            process.kill()
            process.join(5)
        parent.close()
        if not finished:
            job.path.unlink(missing_ok=True)


def render_stems(
    tracks: Sequence[RenderTrack],
    out_dir: Path,
    presets: Sequence[InstrumentPreset] | None = None,
    settings: RenderSettings | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[StemResult]:
    """Render each track to its own stem in ``out_dir``; a failing stem is reported, the rest complete."""
    settings = settings or RenderSettings()
    chosen = list(presets) if presets is not None else [DEFAULT_PRESET] * len(tracks)
    if len(chosen) != len(tracks):
        raise VmbError(f"{len(tracks)} tracks but {len(chosen)} presets: give one preset per track")
    end = max((t.end for t in tracks), default=0.0)
    duration = settings.duration if settings.duration is not None else end + settings.tail
    results = []
    for index, (track, preset) in enumerate(zip(tracks, chosen, strict=True)):
        job = StemJob(
            track, preset, out_dir / stem_filename(index, track, preset, settings.audio_format), duration, settings
        )
        report = (lambda f, name=track.name: progress(name, f)) if progress is not None else None
        began = time.perf_counter()
        try:
            peak = _run_isolated(job, report) if settings.isolate else render_stem(job, report)
            results.append(StemResult(track.name, preset.name, job.path, peak, time.perf_counter() - began))
            log.info("rendered %s with %s to %s (peak %.1f dBFS)", track.name, preset.name, job.path, peak)
        except VmbError as exc:
            log.error("stem %s failed: %s", track.name, exc)
            results.append(StemResult(track.name, preset.name, None, None, time.perf_counter() - began, str(exc)))
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
        frames = max((r.frames for r in readers), default=0)
        block = round(settings.block_seconds * settings.sample_rate)
        with AudioFile(
            str(out), "w", settings.sample_rate, num_channels=2, bit_depth=BIT_DEPTHS[settings.bit_depth]
        ) as writer:
            for _ in range(0, frames, block):
                total = np.zeros((2, 0), dtype=np.float32)
                for reader in readers:
                    chunk = np.asarray(reader.read(block), dtype=np.float32)
                    if total.shape[1] < chunk.shape[1]:
                        total = np.pad(total, ((0, 0), (0, chunk.shape[1] - total.shape[1])))
                    total[:, : chunk.shape[1]] += chunk[:2]
                peak = max(peak, float(np.max(np.abs(total))) if total.size else 0.0)
                writer.write(total if settings.bit_depth == "32f" else np.clip(total, -1.0, 1.0))
    finally:
        for reader in readers:
            reader.close()
    if peak > 1.0:
        log.warning("mix peaks at %.1f dBFS and was clipped; lower the stems' gain", 20 * np.log10(peak))
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")


def with_program(preset: InstrumentPreset, program: int, transpose: int) -> InstrumentPreset:
    """A copy of ``preset`` for restyling: a SoundFont plays ``program``; any preset gets ``transpose``."""
    instrument = preset.instrument
    if isinstance(instrument, SoundFontInstrument):
        instrument = replace(instrument, program=program)
    return replace(preset, instrument=instrument, transpose=preset.transpose + transpose)
