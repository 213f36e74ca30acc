"""The notes and sustain pedal of a MIDI file, as the renderer wants them."""

from __future__ import annotations

from pathlib import Path

from bridge.midi import SUSTAIN_CC, read_midi
from bridge.types import Note


def read_notes(path: Path) -> tuple[list[Note], list[tuple[float, bool]]]:
    """All notes of all tracks in absolute seconds, and sustain changes ``(t, down)`` in time order."""
    score = read_midi(path)
    sustain = sorted((cc.t, cc.value >= 64) for track in score.tracks for cc in track.controls
                     if cc.control == SUSTAIN_CC)
    return score.notes, sustain
