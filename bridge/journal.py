"""Crash-safe recording: every note edge is appended to a journal as it happens, a MIDI file made at the end.

A take is ``DIR/take-YYYYmmdd-HHMMSS.vmbj`` (text, one event a line: ``on T PITCH VELOCITY CHANNEL``,
``off T PITCH CHANNEL``, ``cc T CONTROL VALUE CHANNEL``, ``t T`` heartbeats, ``end T`` when closed).
Each line goes to the operating system with an unbuffered write as it happens, so a killed process
loses nothing; a background thread fsyncs every 50 ms so that even a power cut loses at most 100 ms.
After a crash, :func:`recover` turns every unfinished take into its MIDI file; notes still sounding end
at the last time the journal saw.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from bridge.errors import InputFileError
from bridge.midi import ControlChange, Track, tracks_by_channel, write_midi
from bridge.types import Note, NoteEdge, NoteOn

log = logging.getLogger(__name__)

SUFFIX = ".vmbj"
HEADER = "vmb-journal 1"
FSYNC_INTERVAL_S = 0.05
HEARTBEAT_INTERVAL_S = 0.05


class Journal:
    """Append-only journal of one take; :meth:`close` writes ``<take>.mid`` beside it."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"cannot create the recording folder {self.folder} ({exc.strerror}): "
                                 "give a writable --record folder") from exc
        recovered = recover(self.folder)
        if recovered:
            log.warning("recovered %d unfinished take(s) in %s", len(recovered), self.folder)
        self.path = _new_take_path(self.folder)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._dirty = False
        self._last_t = 0.0
        self._last_heartbeat = -1.0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._write(f"{HEADER} {time.time():.3f}\n")
        self._flusher = threading.Thread(target=self._flush_loop, name="journal-fsync", daemon=True)
        self._flusher.start()

    @property
    def midi_path(self) -> Path:
        return self.path.with_suffix(".mid")

    def _write(self, line: str) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            os.write(self._fd, line.encode())
            self._dirty = True

    def _flush_loop(self) -> None:
        while not self._closed.wait(FSYNC_INTERVAL_S):
            with self._lock:
                if self._dirty and not self._closed.is_set():
                    os.fsync(self._fd)
                    self._dirty = False

    def edge(self, edge: NoteEdge) -> None:
        self._last_t = max(self._last_t, edge.t)
        if isinstance(edge, NoteOn):
            self._write(f"on {edge.t!r} {edge.pitch} {edge.velocity} {edge.channel}\n")
        else:
            self._write(f"off {edge.t!r} {edge.pitch} {edge.channel}\n")

    def control(self, t: float, control: int, value: int, channel: int) -> None:
        self._last_t = max(self._last_t, t)
        self._write(f"cc {t!r} {control} {value} {channel}\n")

    def heartbeat(self, t: float) -> None:
        """The source reached ``t``: recovery ends sounding notes here at the latest."""
        self._last_t = max(self._last_t, t)
        if t - self._last_heartbeat >= HEARTBEAT_INTERVAL_S:
            self._last_heartbeat = t
            self._write(f"t {t!r}\n")

    def pitch_bend(self, t: float, value: int, channel: int) -> None:
        """Not journaled: a take keeps notes and controllers (sustain, gesture CCs)."""

    def panic(self) -> None:
        """Nothing to silence in a file: the runner journals a note off for every note it silences."""

    def poll(self) -> None:
        return None

    def close(self) -> Path:
        """End the take and write its MIDI file; returns the MIDI path."""
        self._write(f"end {self._last_t!r}\n")
        with self._lock:
            self._closed.set()
            os.fsync(self._fd)
            os.close(self._fd)
        self._flusher.join(timeout=1)
        take_to_midi(self.path)
        return self.midi_path


def _new_take_path(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"take-{stamp}{SUFFIX}"
    n = 2
    while path.exists():
        path = folder / f"take-{stamp}-{n}{SUFFIX}"
        n += 1
    return path


def read_take(path: Path) -> tuple[list[Note], list[ControlChange], bool]:
    """Notes and controllers of a journal, and whether the take was closed cleanly.

    A torn last line (the process died mid-write) is ignored; notes left sounding end at the last time seen.
    """
    lines = path.read_text(errors="replace").splitlines()
    if not lines or not lines[0].startswith(HEADER):
        raise InputFileError(f"{path} is not a vmb journal: give a folder made by vmb live --record")
    open_notes: dict[tuple[int, int], tuple[float, int]] = {}
    notes: list[Note] = []
    controls: list[ControlChange] = []
    last_t, finished = 0.0, False
    arity = {"on": 3, "off": 2, "cc": 3, "t": 0, "end": 0}
    for line in lines[1:]:
        fields = line.split()
        try:
            kind, t = fields[0], float(fields[1])
            values = [int(v) for v in fields[2:]]
        except (IndexError, ValueError):
            values, kind, t = [], "", 0.0
        if arity.get(kind) != len(values):
            log.warning("%s: skipping a torn or unknown line %r", path, line)
            continue
        last_t = max(last_t, t)
        if kind == "on":
            _end_note(open_notes, notes, (values[2], values[0]), t)
            open_notes[(values[2], values[0])] = (t, values[1])
        elif kind == "off":
            _end_note(open_notes, notes, (values[1], values[0]), t)
        elif kind == "cc":
            controls.append(ControlChange(t, values[0], values[1], values[2]))
        elif kind == "end":
            finished = True
    for key in list(open_notes):
        _end_note(open_notes, notes, key, last_t)
    return sorted(notes), controls, finished


def _end_note(open_notes: dict[tuple[int, int], tuple[float, int]], notes: list[Note], key: tuple[int, int],
              t: float) -> None:
    started = open_notes.pop(key, None)
    if started is None:
        return
    start, velocity = started
    channel, pitch = key
    notes.append(Note(start, max(t, start + 1e-3), pitch, velocity, channel))


def take_to_midi(path: Path) -> Path:
    notes, controls, _ = read_take(path)
    tracks = tracks_by_channel(notes, names={0: "left hand", 1: "right hand"})
    by_channel = {t.channel: t for t in tracks}
    for channel in sorted({c.channel for c in controls} - set(by_channel)):
        by_channel[channel] = Track(f"channel {channel + 1}", (), 0, channel)
    merged = [Track(t.name, t.notes, t.program, t.channel, tuple(c for c in controls if c.channel == t.channel))
              for _, t in sorted(by_channel.items())]
    midi_path = path.with_suffix(".mid")
    write_midi(midi_path, merged)
    return midi_path


def recover(folder: Path | str) -> list[Path]:
    """Make the MIDI file of every take in ``folder`` that has none (the process died); returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder: give the folder passed to vmb live --record")
    made = []
    for take in sorted(folder.glob(f"*{SUFFIX}")):
        midi_path = take.with_suffix(".mid")
        if midi_path.exists() and midi_path.stat().st_mtime >= take.stat().st_mtime:
            continue
        made.append(take_to_midi(take))
        log.info("recovered %s", made[-1])
    return made
