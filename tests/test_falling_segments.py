"""Falling notes from time segments read side by side (bridge.falling_segments): the notes of one pass, joined at
the cut without a note lost, doubled or cut short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.falling import FallingSettings
from bridge.falling_segments import FallingRead, _joined, transcribe_segments
from bridge.falling_source import falling_view
from bridge.sources import probe
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.types import KeyboardGeometry, Note

SECONDS = 9.0
CUT = SECONDS / 2  # two segments of at least 4 s: cut in the middle
# a note every 0.4 s (after the video's fade-in, before its fade-out), a note held across the cut, and a legato
# repeat run starting on the cut
ORDINARY = [Note(1.0 + 0.4 * i, 1.25 + 0.4 * i, 48 + (7 * i) % 24, 80) for i in range(18)]
HELD = Note(CUT - 1.2, CUT + 1.0, 79, 90)
REPEATS = [Note(CUT - 0.02 + 0.1 * i, CUT + 0.08 + 0.1 * i, 84, 90) for i in range(4)]
PLAYED = [*ORDINARY, HELD, *REPEATS]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyboardGeometry]:
    video = tmp_path_factory.mktemp("segments") / "synthesia.mp4"
    config = RenderConfig(style="synthesia", seed=4, size=(640, 360), fps=30, duration=SECONDS)
    return video, true_geometry(render_to_files(PLAYED, config, video, None))


def _notes(clip: tuple[Path, KeyboardGeometry], workers: int) -> list[Note]:
    video, geometry = clip
    read = FallingRead(video, falling_view(geometry), FallingSettings())
    done = transcribe_segments(read, 0.0, probe(video).duration, True, workers, min_segment_s=4.0)
    assert done.n_frames == pytest.approx(SECONDS * 30, abs=2)  # each frame counted once
    assert done.n_segments == workers
    return done.result.notes


def test_two_segments_find_every_note_once_and_the_held_note_whole(clip: tuple[Path, KeyboardGeometry]) -> None:
    one, two = _notes(clip, 1), _notes(clip, 2)
    for played in PLAYED:
        found = [n for n in two if n.pitch == played.pitch and abs(n.start - played.start) <= 0.05]
        assert len(found) == 1, played
        assert abs(found[0].end - played.end) <= 0.05, (played, found[0])
    assert len(two) == len(one) == len(PLAYED)
    assert len({n.channel for n in two}) == len({n.channel for n in one})


def test_a_strike_seen_on_both_sides_of_a_cut_is_kept_once() -> None:
    colour = np.zeros(3)
    before = [(9.99, 10.3, 5, colour), (9.5, 9.8, 6, colour)]
    after = [(10.01, 10.3, 5, colour), (10.02, 10.2, 6, colour), (10.4, 10.6, 5, colour)]
    joined = _joined([before, after], [10.0])
    assert [(start, key) for start, _, key, _ in joined] == [(9.99, 5), (9.5, 6), (10.02, 6), (10.4, 5)]


def test_the_cli_refuses_zero_workers(clip: tuple[Path, KeyboardGeometry], tmp_path: Path) -> None:
    video, _ = clip
    done = subprocess.run([sys.executable, "-m", "bridge", "transcribe", str(video), "-o", str(tmp_path / "x.mid"),
                           "--method", "falling", "--workers", "0"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "workers must be at least 1" in done.stderr
    assert not (tmp_path / "x.mid").exists()
