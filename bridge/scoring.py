"""Transcription scores with mir_eval: onset F1 at 50 and 100 ms, onset+offset F1, frame F1, velocity error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bridge.errors import InputFileError
from bridge.midi import read_midi
from bridge.notes_csv import read_notes_csv
from bridge.types import Note, PianoRoll

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")


@dataclass(frozen=True, slots=True)
class PRF:
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True, slots=True)
class Scores:
    onset_50ms: PRF
    onset_100ms: PRF
    onset_offset_50ms: PRF
    frame: PRF
    frame_fps: float
    velocity_mae: float | None
    n_reference: int
    n_estimate: int
    shift: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def load_notes(path: Path | str) -> list[Note]:
    """Notes from a MIDI file or a notes CSV, told apart by the suffix."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_notes_csv(path)
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi(path).notes
    raise InputFileError(f"{path} is neither a MIDI file ({', '.join(MIDI_SUFFIXES)}) nor a .csv of notes: convert it")


def shift_notes(notes: Sequence[Note], shift: float) -> list[Note]:
    """Notes moved by ``shift`` seconds; notes that would start before 0 are dropped."""
    return [replace(n, start=n.start + shift, end=n.end + shift) for n in notes if n.start + shift >= 0]


def _intervals(notes: Sequence[Note]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not notes:
        return np.zeros((0, 2)), np.zeros(0)
    intervals = np.array([[n.start, n.end] for n in notes], dtype=float)
    pitches_hz = 440.0 * 2.0 ** ((np.array([n.pitch for n in notes], dtype=float) - 69.0) / 12.0)
    return intervals, pitches_hz


def _note_prf(ref: Sequence[Note], est: Sequence[Note], onset_tolerance: float, with_offset: bool) -> PRF:
    if not ref or not est:
        return PRF(0.0, 0.0, 0.0) if ref or est else PRF(1.0, 1.0, 1.0)
    import mir_eval  # imported on use: it pulls scipy.stats, a second of start-up for every vmb command

    ref_i, ref_p = _intervals(ref)
    est_i, est_p = _intervals(est)
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_i, ref_p, est_i, est_p, onset_tolerance=onset_tolerance,
        offset_ratio=0.2 if with_offset else None, offset_min_tolerance=0.05)
    return PRF(float(p), float(r), float(f))


def _frame_prf(ref: Sequence[Note], est: Sequence[Note], fps: float) -> PRF:
    n_frames = 1 + int(np.ceil(fps * max([n.end for n in [*ref, *est]], default=0.0)))
    ref_roll = PianoRoll.from_notes(ref, fps, 0, 128, n_frames).active
    est_roll = PianoRoll.from_notes(est, fps, 0, 128, n_frames).active
    true_pos = float(np.sum(ref_roll & est_roll))
    n_ref, n_est = float(ref_roll.sum()), float(est_roll.sum())
    if n_ref == 0 and n_est == 0:
        return PRF(1.0, 1.0, 1.0)
    precision = true_pos / n_est if n_est else 0.0
    recall = true_pos / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1)


def match_onsets(ref: Sequence[Note], est: Sequence[Note], tolerance: float = 0.05) -> list[tuple[int, int]]:
    """Index pairs (reference, estimate) of notes matched one to one by pitch and onset within ``tolerance``."""
    if not ref or not est:
        return []
    import mir_eval

    ref_i, ref_p = _intervals(ref)
    est_i, est_p = _intervals(est)
    pairs = mir_eval.transcription.match_notes(ref_i, ref_p, est_i, est_p, onset_tolerance=tolerance,
                                               offset_ratio=None)
    return [(int(i), int(j)) for i, j in pairs]


def _velocity_mae(ref: Sequence[Note], est: Sequence[Note]) -> float | None:
    """Mean absolute velocity difference (MIDI units) over notes matched by onset at 50 ms."""
    pairs = match_onsets(ref, est)
    if not pairs:
        return None
    return float(np.mean([abs(ref[i].velocity - est[j].velocity) for i, j in pairs]))


def score(reference: Sequence[Note], estimate: Sequence[Note], fps: float = 30.0, shift: float = 0.0) -> Scores:
    """Score ``estimate`` (moved by ``shift`` seconds) against ``reference``."""
    est = shift_notes(estimate, shift) if shift else list(estimate)
    ref = list(reference)
    return Scores(
        onset_50ms=_note_prf(ref, est, 0.05, with_offset=False),
        onset_100ms=_note_prf(ref, est, 0.10, with_offset=False),
        onset_offset_50ms=_note_prf(ref, est, 0.05, with_offset=True),
        frame=_frame_prf(ref, est, fps),
        frame_fps=fps,
        velocity_mae=_velocity_mae(ref, est),
        n_reference=len(ref),
        n_estimate=len(est),
        shift=shift,
    )


def best_shift(reference: Sequence[Note], estimate: Sequence[Note], max_shift: float = 1.0,
               step: float = 0.005) -> float:
    """The constant offset (seconds) to add to the estimate that best lines its onsets up with the reference.

    A coarse search counting onsets that line up within 25 ms, then the median residual of the matched onsets.
    """
    if not reference or not estimate:
        return 0.0
    ref_on = np.sort(np.array([n.start for n in reference]))
    est_on = np.array([n.start for n in estimate])
    candidates = np.arange(-max_shift, max_shift + step / 2, step)
    counts = [int(np.sum(_nearest_gap(ref_on, est_on + s) <= 0.025)) for s in candidates]
    coarse = float(candidates[int(np.argmax(counts))])
    # Refine: the median residual of the onsets that the coarse shift matched within 50 ms.
    moved = est_on + coarse
    gaps = _nearest_signed_gap(ref_on, moved)
    matched = np.abs(gaps) <= 0.05
    fine = coarse + (float(np.median(gaps[matched])) if matched.any() else 0.0)
    return round(fine, 3)


def _nearest_signed_gap(ref_sorted: NDArray[np.float64], onsets: NDArray[np.float64]) -> NDArray[np.float64]:
    """For each onset, the reference onset nearest to it minus the onset."""
    idx = np.clip(np.searchsorted(ref_sorted, onsets), 0, len(ref_sorted) - 1)
    left = np.clip(idx - 1, 0, len(ref_sorted) - 1)
    right_gap = ref_sorted[idx] - onsets
    left_gap = ref_sorted[left] - onsets
    return np.where(np.abs(left_gap) < np.abs(right_gap), left_gap, right_gap)


def _nearest_gap(ref_sorted: NDArray[np.float64], onsets: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.abs(_nearest_signed_gap(ref_sorted, onsets))
