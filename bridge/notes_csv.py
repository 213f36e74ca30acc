"""Notes as CSV: a header ``onset,offset,pitch,velocity,channel``, one note a row, times in seconds."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from bridge.errors import InputFileError, VmbError
from bridge.types import Note

CSV_HEADER = ("onset", "offset", "pitch", "velocity", "channel")


def write_notes_csv(path: Path | str, notes: Iterable[Note]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for note in sorted(notes):
            writer.writerow([repr(note.start), repr(note.end), note.pitch, note.velocity, note.channel])


def read_notes_csv(path: Path | str) -> list[Note]:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path} does not exist: check the path")
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path} is not a text CSV file: give a notes CSV or a .mid file") from exc
    if not rows or tuple(cell.strip() for cell in rows[0]) != CSV_HEADER:
        raise InputFileError(f"{path} does not start with the header {','.join(CSV_HEADER)}: add it or fix the columns")
    notes = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            onset, offset, pitch, velocity, channel = row
            notes.append(Note(float(onset), float(offset), int(pitch), int(velocity), int(channel)))
        except (ValueError, VmbError) as exc:
            raise InputFileError(f"{path} line {line} is not a valid note ({exc}): fix or remove that row") from exc
    return sorted(notes)
