"""Reading the notes and sustain pedal of a MIDI file (private stand-in until bridge.midi exists)."""

from __future__ import annotations

from pathlib import Path

import mido

from bridge.errors import MidiFileError
from bridge.types import Note


def read_notes(path: Path) -> tuple[list[Note], list[tuple[float, bool]]]:
    """All notes of all tracks in absolute seconds, and sustain changes ``(t, down)``."""
    try:
        midi = mido.MidiFile(str(path))
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise MidiFileError(f"cannot read the MIDI file {path}: {exc}; check that it is a standard MIDI file") from exc
    notes: list[Note] = []
    sustain: list[tuple[float, bool]] = []
    open_notes: dict[tuple[int, int], tuple[float, int]] = {}
    t = 0.0
    for msg in midi:
        t += float(msg.time)
        if msg.type == "note_on" and msg.velocity > 0:
            key = (msg.channel, msg.note)
            if key in open_notes:
                _close(notes, open_notes.pop(key), t, key)
            open_notes[key] = (t, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            key = (msg.channel, msg.note)
            if key in open_notes:
                _close(notes, open_notes.pop(key), t, key)
        elif msg.type == "control_change" and msg.control == 64:
            sustain.append((t, msg.value >= 64))
    for key, started in open_notes.items():
        _close(notes, started, t, key)
    return sorted(notes), sustain


def _close(notes: list[Note], started: tuple[float, int], end: float, key: tuple[int, int]) -> None:
    start, velocity = started
    if end > start:
        notes.append(Note(start, end, key[1], velocity, key[0]))
