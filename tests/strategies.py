"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bridge.types import Note


@st.composite
def grid_notes(draw: st.DrawFn, fps: float = 30.0, max_notes: int = 30) -> list[Note]:
    """Notes on a frame grid that never overlap on one pitch (they may touch: a re-strike)."""
    n = draw(st.integers(0, max_notes))
    free_from: dict[int, int] = {}
    notes = []
    for _ in range(n):
        pitch = draw(st.integers(21, 108))
        first = free_from.get(pitch, 0) + draw(st.integers(0, 40))
        length = draw(st.integers(1, 30))
        free_from[pitch] = first + length
        notes.append(Note(first / fps, (first + length) / fps, pitch, draw(st.integers(1, 127)),
                          draw(st.integers(0, 15))))
    return sorted(notes)


@st.composite
def free_notes(draw: st.DrawFn, max_notes: int = 30) -> list[Note]:
    """Notes at any times (milliseconds), never overlapping on one pitch and channel."""
    n = draw(st.integers(0, max_notes))
    free_from: dict[tuple[int, int], float] = {}
    notes = []
    for _ in range(n):
        pitch = draw(st.integers(0, 127))
        channel = draw(st.integers(0, 15))
        start = free_from.get((pitch, channel), 0.0) + draw(st.integers(0, 2000)) / 1000
        end = start + draw(st.integers(1, 3000)) / 1000
        free_from[(pitch, channel)] = end
        notes.append(Note(start, end, pitch, draw(st.integers(1, 127)), channel))
    return sorted(notes)


def floats(*args: Any, **kwargs: Any) -> st.SearchStrategy[float]:
    """``st.floats`` without subnormals: a library in the suite (compiled with fast-math) flushes them to
    zero process-wide, and hypothesis refuses to draw subnormals then."""
    return st.floats(*args, allow_subnormal=False, **kwargs)
