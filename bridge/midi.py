"""Standard MIDI files to notes and back, with absolute times in seconds.

Reading handles type 0 and 1 files, running status (mido), note on with velocity 0, overlapping
re-strikes of one pitch (each note off closes the oldest open note of its pitch) and tempo changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from bridge.errors import MidiFileError
from bridge.types import Note

log = logging.getLogger(__name__)

SUSTAIN_CC = 64
DRUM_CHANNEL = 9
DEFAULT_TEMPO_BPM = 120.0


@dataclass(frozen=True, slots=True)
class ControlChange:
    t: float
    control: int
    value: int
    channel: int = 0


@dataclass(frozen=True, slots=True)
class Track:
    """One part: its notes, GM program (None when the file sets none) and controller events.

    A part plays on ``channel``, whatever its notes' own channel field says, unless ``channel_programs`` lists
    its channels: then each note and control plays on its own channel, with that channel's program (a MIDI
    track that uses several channels, rendered as one stem). ``source`` is the index of the file's track it
    was read from. A track may hold controllers and no notes (a gesture-only recording).
    """

    name: str
    notes: tuple[Note, ...]
    program: int | None = None
    channel: int = 0
    controls: tuple[ControlChange, ...] = ()
    channel_programs: tuple[tuple[int, int | None], ...] = ()
    source: int | None = None

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL


@dataclass(frozen=True, slots=True)
class MidiScore:
    tracks: tuple[Track, ...]
    tempo_bpm: float = DEFAULT_TEMPO_BPM
    tempo_changes: tuple[tuple[float, float], ...] = field(default=())

    @property
    def notes(self) -> list[Note]:
        return sorted(n for track in self.tracks for n in track.notes)

    @property
    def duration(self) -> float:
        return max((n.end for n in self.notes), default=0.0)


def read_midi(path: Path | str) -> MidiScore:
    """Read a standard MIDI file; raises MidiFileError with advice when it is not one."""
    midi = _open_midi(Path(path))
    tempo_changes = _tempo_map(midi)
    tracks = [t for i, raw in enumerate(midi.tracks) for t in _read_track(raw, i, midi, tempo_changes)]
    bpm = tempo_changes[0][1] if tempo_changes else DEFAULT_TEMPO_BPM
    return MidiScore(tuple(tracks), bpm, tuple(tempo_changes))


def _open_midi(path: Path) -> mido.MidiFile:
    if not path.exists():
        raise MidiFileError(f"{path} does not exist: check the path")
    if path.is_dir():
        raise MidiFileError(f"{path} is a folder: give a .mid file")
    if path.stat().st_size == 0:
        raise MidiFileError(f"{path} is empty: give a standard MIDI file (.mid)")
    try:
        midi = mido.MidiFile(str(path), clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        reason = str(exc) or type(exc).__name__
        raise MidiFileError(f"{path} is not a readable standard MIDI file ({reason}): export it again as .mid") from exc
    if midi.type == 2:
        raise MidiFileError(f"{path} is a type 2 MIDI file (independent patterns): convert it to type 0 or 1")
    return midi


def _tempo_map(midi: mido.MidiFile) -> list[tuple[float, float]]:
    """(time in seconds, bpm) of every tempo change, from the merged tracks."""
    changes: list[tuple[float, float]] = []
    now = 0.0
    for message in midi:  # iterating a MidiFile yields delta times in seconds, tempo applied
        now += message.time
        if message.type == "set_tempo":
            changes.append((now, mido.tempo2bpm(message.tempo)))
    return changes


def _tempo_by_tick(midi: mido.MidiFile) -> dict[int, int]:
    """Tempo (microseconds per beat) set at each tick, from every track."""
    tempo_events: list[tuple[int, int]] = []
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "set_tempo":
                tempo_events.append((tick, message.tempo))
    tempo_events.sort()
    return dict(tempo_events)  # last tempo set at a tick wins


def _read_track(raw: mido.MidiTrack, index: int, midi: mido.MidiFile,
                tempo_changes: Sequence[tuple[float, float]]) -> list[Track]:
    """A MIDI track becomes one Track per channel that plays notes or sends controllers (type 0 files hold all
    channels in one); a channel with controllers only gives a Track without notes."""
    clock = _TickClock(midi)
    name = raw.name.strip() if raw.name else ""
    open_notes: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    notes: dict[int, list[Note]] = defaultdict(list)
    programs: dict[int, int] = {}
    controls: dict[int, list[ControlChange]] = defaultdict(list)
    tick = 0
    for message in raw:
        tick += message.time
        if not hasattr(message, "channel"):
            continue
        now = clock.seconds(tick)
        ch = message.channel
        if message.type == "note_on" and message.velocity > 0:
            open_notes[(ch, message.note)].append((now, message.velocity))
        elif message.type in ("note_off", "note_on"):
            stack = open_notes.get((ch, message.note))
            if stack:
                start, velocity = stack.pop(0)
                _append_note(notes[ch], start, now, message.note, velocity, ch)
        elif message.type == "program_change":
            programs.setdefault(ch, message.program)
        elif message.type == "control_change":
            controls[ch].append(ControlChange(now, message.control, message.value, ch))
    end_of_track = clock.seconds(tick)
    for (ch, pitch), stack in open_notes.items():
        for start, velocity in stack:
            log.warning("track %d: note %d at %.3fs has no note off; ending it at the end of the track", index, pitch,
                        start)
            _append_note(notes[ch], start, max(end_of_track, start + 0.05), pitch, velocity, ch)
    playing = [ch for ch in sorted(notes) if notes[ch]]
    channels = sorted(set(playing) | {ch for ch in controls if controls[ch]})
    tracks = []
    for ch in channels:
        label = name or f"track {index}"
        if len(playing) > 1 or (len(channels) > 1 and ch not in playing):  # a controllers-only channel beside others
            label = f"{label} ch{ch + 1}"
        tracks.append(Track(label, tuple(sorted(notes[ch])), programs.get(ch), ch, tuple(controls[ch]), source=index))
    return tracks


def _append_note(bucket: list[Note], start: float, end: float, pitch: int, velocity: int, channel: int) -> None:
    if end <= start:
        log.debug("dropping zero-length note %d at %.3fs", pitch, start)
        return
    bucket.append(Note(start, end, pitch, velocity, channel))


class _TickClock:
    """Converts absolute ticks to seconds using the file's global tempo map."""

    def __init__(self, midi: mido.MidiFile) -> None:
        self._tpb = midi.ticks_per_beat
        tempos = sorted(_tempo_by_tick(midi).items())
        self._ticks = [0]
        self._seconds = [0.0]
        self._tempos = [500000]
        for tick, tempo in tempos:
            if tick == 0:
                self._tempos[0] = tempo
                continue
            self._seconds.append(self._at(tick))
            self._ticks.append(tick)
            self._tempos.append(tempo)

    def _at(self, tick: int) -> float:
        i = len(self._ticks) - 1
        return self._seconds[i] + float(mido.tick2second(tick - self._ticks[i], self._tpb, self._tempos[i]))

    def seconds(self, tick: int) -> float:
        lo, hi = 0, len(self._ticks) - 1
        while lo < hi:  # last segment starting at or before tick
            mid = (lo + hi + 1) // 2
            if self._ticks[mid] <= tick:
                lo = mid
            else:
                hi = mid - 1
        return self._seconds[lo] + float(mido.tick2second(tick - self._ticks[lo], self._tpb, self._tempos[lo]))


def write_midi(path: Path | str, tracks: Sequence[Track], tempo_bpm: float = DEFAULT_TEMPO_BPM,
               ticks_per_beat: int = 960) -> None:
    """Write a type 1 file: a tempo track, then one named track per part with its program, controls and notes."""
    if tempo_bpm <= 0:
        raise MidiFileError(f"tempo {tempo_bpm} BPM is not positive: give a tempo above 0")
    tempo = mido.bpm2tempo(tempo_bpm)
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    midi.tracks.append(conductor)

    def ticks(seconds: float) -> int:
        return round(float(mido.second2tick(seconds, ticks_per_beat, tempo)))

    for track in tracks:
        events: list[tuple[int, int, mido.Message]] = []
        programs = dict(track.channel_programs) if track.channel_programs else {track.channel: track.program}
        for channel, program in sorted(programs.items()):
            if program is not None:
                events.append((0, 0, mido.Message("program_change", program=program, channel=channel)))
        for cc in track.controls:
            events.append((ticks(cc.t), 1, mido.Message("control_change", control=cc.control, value=cc.value,
                                                        channel=cc.channel)))
        for note in track.notes:
            # Note offs sort before note ons at one tick so a re-strike is not swallowed.
            events.append((ticks(note.end), 2, mido.Message("note_off", note=note.pitch, velocity=0,
                                                            channel=note.channel)))
            events.append((ticks(note.start), 3, mido.Message("note_on", note=note.pitch, velocity=note.velocity,
                                                              channel=note.channel)))
        events.sort(key=lambda e: (e[0], e[1]))
        raw = mido.MidiTrack([mido.MetaMessage("track_name", name=track.name, time=0)])
        last = 0
        for tick, _, message in events:
            raw.append(message.copy(time=tick - last))
            last = tick
        raw.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(raw)
    try:
        midi.save(str(path))
    except OSError as exc:
        raise MidiFileError(f"cannot write {path} ({exc.strerror}): check the folder exists and is writable") from exc


def tracks_by_channel(notes: Iterable[Note], names: dict[int, str] | None = None,
                      programs: dict[int, int] | None = None) -> list[Track]:
    """Group notes into one Track per channel, e.g. left hand on channel 0 and right hand on channel 1."""
    grouped: dict[int, list[Note]] = defaultdict(list)
    for note in notes:
        grouped[note.channel].append(note)
    names = names or {}
    programs = programs or {}
    return [Track(names.get(ch, f"channel {ch + 1}"), tuple(sorted(grouped[ch])), programs.get(ch, 0), ch)
            for ch in sorted(grouped)]
