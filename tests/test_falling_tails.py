"""Bar tails followed down the band (bridge.falling_tails): a falling tail times a note's end, glow that stands
still does not, and a key lit on by its neighbour's glow ends when its bar's tail reaches it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.falling import transcribe_falling
from bridge.falling_source import falling_frames, falling_view
from bridge.falling_tails import EMPTY_ROWS, TailTracker, find_tails
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.types import KeyboardGeometry, Note

ROWS = 40


def _column(bar_top: int) -> np.ndarray:
    """One key's band: bar in rows below ``bar_top``, empty above."""
    bar = np.zeros((1, ROWS), bool)
    bar[0, :bar_top] = True
    return bar


def test_the_lowest_bar_end_with_empty_rows_above_is_the_tail() -> None:
    bar = _column(12)
    assert find_tails(bar)[0] == 12.0
    bar[0, 14:20] = True  # the next bar above a 2-row gap: thinner than EMPTY_ROWS, an outline, not a tail
    assert EMPTY_ROWS > 2 and find_tails(bar)[0] == 20.0
    assert np.isnan(find_tails(np.ones((1, ROWS), bool))[0])  # the bar fills the band


def test_only_a_tail_falling_at_the_bars_speed_is_due() -> None:
    speed, hit_row = 300.0, -2.0
    falling = TailTracker(1, hit_row)
    for t, top in ((0.0, 30), (1 / 60, 25)):
        falling.see(t, _column(top), speed)
    assert falling.due[0] == pytest.approx(1 / 60 + (25 - hit_row) / speed)
    still = TailTracker(1, hit_row)  # the edge of a neighbour's glow in the lowest rows
    for t in (0.0, 1 / 60, 2 / 60):
        still.see(t, _column(12), speed)
    assert still.due[0] == -np.inf


# after a lead-in that shows the bars' speed, each white key's note is followed at once by its black neighbour's,
# whose glow spreads over the white key
LEAD_IN = [Note(0.9 + 0.2 * i, 1.1 + 0.2 * i, pitch, 80) for i, pitch in enumerate((50, 55, 59, 62, 57, 53))]
PAIRS = [(2.3, 76, 75), (2.8, 64, 63), (3.3, 71, 70)]
NOTES = LEAD_IN + [Note(start, start + 0.4, white, 90) for start, white, _ in PAIRS] + [
    Note(start + 0.4, start + 0.8, black, 90) for start, _, black in PAIRS]


@pytest.fixture(scope="module")
def glowing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyboardGeometry]:
    video = tmp_path_factory.mktemp("tails") / "hybrid.mp4"
    config = RenderConfig(style="hybrid", seed=7, size=(1280, 720), fps=60, duration=4.5)
    labels = render_to_files(NOTES, config, video, None)
    assert '"glow": true' in str(labels["style_params"])
    return video, true_geometry(labels)


@pytest.mark.parametrize("skip", [None, "bidir"])
def test_a_white_key_ends_with_its_bar_not_with_its_neighbours_glow(glowing: tuple[Path, KeyboardGeometry],
                                                                    skip: str | None) -> None:
    """Every frame, or only I and P frames (about 20 a second: the end is timed between them by the tail). The
    black key's note starts as its white neighbour's ends, whose bar hides its arrival at the keys: its front,
    followed down the band, starts it."""
    video, geometry = glowing
    view = falling_view(geometry)
    frames = falling_frames(video, view, skip_frame="bidir" if skip else None)
    found = transcribe_falling(frames, geometry, points=view.points, frame_interval=1 / 60 if skip else None).notes
    for played in NOTES:
        match = [n for n in found if n.pitch == played.pitch and abs(n.start - played.start) <= 0.05]
        assert len(match) == 1, (played, found)
        assert abs(match[0].end - played.end) <= 0.05, (played, match[0])
