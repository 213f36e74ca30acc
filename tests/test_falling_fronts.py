"""Bar fronts followed down the band (bridge.falling_fronts): fast repeated notes and sub-frame onsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bridge.falling import transcribe_falling
from bridge.falling_fronts import (
    DARKER,
    EXPECTED_FOR_MANY,
    MANY_SIGHTINGS,
    MIN_SIGHTINGS,
    FrontTracker,
    dip_luma,
    find_fronts,
)
from bridge.falling_glow import LUMA
from bridge.sources import VideoFileSource
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.types import Note


def _fronts(column: list[float]) -> list[float]:
    values = np.array([column])
    keys, edges, _ = find_fronts(values, values, 0.3, 0.85)
    assert keys.tolist() == [0] * len(edges)
    return [round(float(e), 2) for e in edges]


def test_fronts_are_where_bar_starts_above_a_darker_row() -> None:
    assert _fronts([0, 0, 0, 1, 1, 1, 1, 1, 0, 0]) == [2.5]  # a bar above background: the edge between rows 2 and 3
    assert _fronts([1, 1, 1, 0.5, 1, 1, 1, 1, 1, 1]) == [3.0]  # the outline between two touching bars: its middle
    assert _fronts([0, 0, 0.2, 0.6, 1, 1, 1, 0, 0]) == [2.75]  # an anti-aliased edge: one front, at half height
    assert _fronts([1, 1, 1, 1, 0.65, 0.65, 0.65, 0.65, 0, 0]) == []  # a gradient bar, brighter at the keys
    assert _fronts([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]) == []  # the end of a bar
    assert _fronts([0, 0, 0, 0, 1, 0, 0, 0, 0, 0]) == []  # a spark: too short for a bar
    assert _fronts([0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0]) == []  # a little brighter is no front


def test_the_middle_of_a_gradient_bar_is_no_front() -> None:
    """A gradient bar is bright in its half at the keys and darker above; H.264 undershoots at that edge, which made a
    dip falling at the bars' speed: a front that split notes (hybrid 1080p60 from I and P frames: 6 in 20 s)."""
    assert _fronts([1, 1, 1, 1, 1, 1, 0.5, 0.6, 0.65, 0.65, 0.65, 0.65, 0.65, 0, 0]) == []
    assert _fronts([0.65, 0.65, 0.65, 0.65, 0.3, 1, 1, 1, 1, 0.65, 0.65]) == [4.29]  # the next bar's outline is one
    assert _fronts([0.8, 0.8, 0.8, 0, 0, 0.6, 0.6, 0.6, 0.6, 0.6]) == [4.5]  # so is a bar a little darker


BLUE_BAR = (0.9, 0.57, 0.2)  # normalised BGR: white keys 1, black keys 0


def _lettered(column: list[tuple[float, float, float]]) -> list[tuple[float, bool]]:
    """Fronts (row, whether a letter's lower edge) of one key's band of normalised colours over an empty look of 0."""
    band = np.array([column], np.float32)
    luma = np.abs(band @ LUMA)
    keys, edges, letters = find_fronts(np.linalg.norm(band, axis=2), luma, 0.3, 0.85, band, label_rows=12)
    assert keys.tolist() == [0] * len(edges)
    return [(round(float(e), 1), bool(letter)) for e, letter in zip(edges, letters, strict=True)]


def test_the_lower_edge_of_a_white_letter_in_a_bar_is_no_front() -> None:
    """A note name in white inside a bar: below a stroke's lower edge lies the bar itself, a letter. A stroke blurred
    into the bar is only a little whiter than it: a letter where the row below is no darker than the bar's own
    brightness. A bar's front, the outline between two bars, and an outline under rows that glow in the bar's hue
    (a little whiter too) are fronts."""
    bar, white, empty = BLUE_BAR, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
    blurred = (0.95, 0.8, 0.3)  # brighter, least channel 0.1 up
    glow = tuple(min(1.3 * c, 1.0) for c in BLUE_BAR)  # least channel 0.06 up
    outline = tuple(0.8 * c for c in BLUE_BAR)  # a faint one (translucent bars)
    strokes = [empty] * 3 + [bar] * 6 + [white] * 2 + [bar] * 3 + [white] * 2 + [bar] * 14
    assert _lettered(strokes) == [(2.5, False), (8.0, True), (13.0, True)]
    assert _lettered([empty] * 3 + [bar] * 6 + [blurred] * 3 + [bar] * 18) == [(2.5, False), (7.0, True)]
    assert _lettered([empty] * 3 + [bar] * 6 + [outline] + [glow] * 3 + [bar] * 17) == [(2.5, False), (8.0, False)]
    assert _lettered([empty] * 3 + [bar] * 6 + [outline] + [bar] * 20) == [(2.5, False), (9.0, False)]
    band = np.array([strokes], np.float32)  # without the band's colours, no edge is taken for a letter
    assert not find_fronts(np.linalg.norm(band, axis=2), np.abs(band @ LUMA), 0.3, 0.85)[2].any()


def test_letter_edges_make_no_front_but_may_stand_still() -> None:
    """A letter's edge falling with its bar never arrives as a front; an edge standing where a letter's stood in the
    sample before (a watermark behind a translucent bar looks like letters in some samples) is not a new front."""
    tracker = FrontTracker(1, hit_row=-2.0)
    band = np.ones((1, 40, 3), np.float32)
    arrived = []
    for i in range(8):
        t = 1.0 + i / 30
        tracker.see(t, np.array([0]), np.array([30.0 - 3.0 * i]), band, 90.0, 1 / 30, letters=np.array([True]))
        arrived += tracker.arrived(t)
    assert arrived == [] and tracker.waiting == set()
    for i, letter in enumerate([True, False, False, False]):
        tracker.see(2.0 + i / 30, np.array([0]), np.array([20.0]), band, 90.0, 1 / 30, letters=np.array([letter]))
    assert tracker.waiting == set()


def _tracker_sees(rows_at: list[tuple[float, float]], speed: float = 100.0,
                  step: float = 1 / 30, samples_in_band: float = 3.0) -> list[float]:
    """Arrival times of the fronts confirmed when one key's front is seen at (t, row) moments."""
    tracker = FrontTracker(1, hit_row=-2.0)
    tracker.expect(samples_in_band)
    band = np.ones((1, 30, 3), np.float32)
    arrived: list[float] = []
    for t, row in rows_at:
        tracker.see(t, np.array([0]), np.array([row]), band, speed, step)
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    for t in (10.0,):
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    return arrived


@given(st.floats(0.0, 0.9), st.floats(60.0, 300.0), st.sampled_from([1 / 24, 1 / 30, 1 / 60]))
def test_a_falling_front_arrives_when_predicted(phase: float, speed: float, step: float) -> None:
    arrival = 1.0 + phase * step  # between two frames
    sightings = [(t, -2.0 + (arrival - t) * speed) for t in np.arange(0.4, 1.0, step)]
    sightings = [(float(t), row) for t, row in sightings if 1.0 <= row <= 28.0]
    found = _tracker_sees(sightings, speed, step)
    if len(sightings) >= MIN_SIGHTINGS:
        assert len(found) == 1 and abs(found[0] - arrival) < 1e-6
    else:
        assert found == []


def test_a_front_arrives_when_most_of_its_last_sightings_predict() -> None:
    """Sightings of a front falling 100 rows/s that predict 1.000 s, then one, at the glow next to the keys, that
    predicts 10 ms later (or a block the encoder left from the frame before): it still arrives at 1.000 s (it
    arrived when the last sighting predicted; at 240p such a shift put a bar's front 40 ms after a stray front that
    had timed the note, which split it)."""
    rows = [(0.8 + i / 30, -2.0 + (1.0 - 0.8 - i / 30) * 100.0) for i in range(5)]
    rows.append((0.8 + 5 / 30, rows[-1][1] - 100.0 / 30 + 1.0))
    assert [round(a, 6) for a in _tracker_sees(rows)] == [1.0]


def test_a_sighting_joins_the_front_whose_arrival_it_predicts_best() -> None:
    """Two fronts of one key predicted 15 ms apart (a stray edge beside a bar's front): a sighting predicting 1.010
    s joins the one predicting 1.015 s, not the one first found (1.000 s)."""
    tracker = FrontTracker(1, hit_row=0.0)
    band = np.ones((1, 30, 3), np.float32)
    tracker.see(0.80, np.array([0, 0]), np.array([20.0, 21.5]), band, 100.0, 1 / 30)
    tracker.see(0.84, np.array([0]), np.array([17.0]), band, 100.0, 1 / 30)
    assert [f.sightings for f in tracker.fronts[0]] == [1, 2]


def test_a_front_in_a_tall_band_needs_more_sightings() -> None:
    """Where a front stays in the band for many samples (a taller band at low resolution), a stray edge lining up
    with the bars' fall in three of them is not a front; a fourth sighting confirms it."""
    falling = [(0.8 + i / 30, 20.0 - i * 100.0 / 30) for i in range(MANY_SIGHTINGS)]
    assert _tracker_sees(falling[:MIN_SIGHTINGS], samples_in_band=EXPECTED_FOR_MANY) == []
    assert len(_tracker_sees(falling, samples_in_band=EXPECTED_FOR_MANY)) == 1
    assert len(_tracker_sees(falling[:MIN_SIGHTINGS], samples_in_band=EXPECTED_FOR_MANY - 1)) == 1


def test_fronts_are_predicted_again_when_the_speed_is_measured_better() -> None:
    """A front falling 68 rows/s at 30 fps, seen four times while the bars' speed is still taken for 60 rows/s (the
    first arriving bars, during a fade-in), then nine times at 68: one front, arriving when it does (predicted at 60
    it arrived 70 ms late, beside a second front: a note split in two)."""
    tracker = FrontTracker(1, hit_row=-2.0)
    band = np.ones((1, 50, 3), np.float32)
    arrival, arrived = 1.6, []
    for i in range(13):
        t = 1.0 + i / 30
        tracker.see(t, np.array([0]), np.array([-2.0 + (arrival - t) * 68.0]), band, 60.0 if i < 4 else 68.0, 1 / 30)
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    arrived += [front.arrival for _, front in tracker.arrived(10.0)]
    assert [round(a, 6) for a in arrived] == [arrival]


def test_things_that_stand_still_or_rise_never_arrive() -> None:
    frames = [float(t) for t in np.arange(0.0, 1.0, 1 / 30)]
    assert _tracker_sees([(t, 12.0) for t in frames]) == []  # a logo or a flaw in the empty look
    assert _tracker_sees([(t, 5.0 + 60 * t) for t in frames]) == []  # a spark flying up


def test_edges_of_a_watermark_that_wobble_by_a_row_never_arrive() -> None:
    """At 720p25 bars fall 13.4 rows a frame. The letters of a watermark under translucent bars stand at rows 45,
    32, 19 and 6, one row lower in every other frame (H.264): each frame's edges line up with the fall from the
    last frame's edge a row away, a front seen four times that split held notes (hybrid 26.mid). A row is a tenth
    of the fall: they stand still."""
    tracker = FrontTracker(1, hit_row=0.0)
    band = np.ones((1, 50, 3), np.float32)
    arrived: list[float] = []
    for i in range(8):
        t = 1.0 + i / 25
        edges = np.array([45.0, 32.0, 19.0, 6.0]) + i % 2
        tracker.see(t, np.zeros(4, np.intp), edges, band, 335.0, 1 / 25)
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    assert arrived + [front.arrival for _, front in tracker.arrived(10.0)] == []


def _passing_over_a_still_edge(dip_at_still_row: float) -> list[float]:
    """Arrivals confirmed when a front falls 6 rows a frame (rows 24, 18, 12, then hidden by glow at the keys) while
    a hand seen through the translucent bars stands at row 12 in every frame (dip 0.20 below it)."""
    speed, step = 180.0, 1 / 30
    tracker = FrontTracker(1, hit_row=-2.0)
    band = np.ones((1, 30, 3), np.float32)
    arrived: list[float] = []
    for i in range(6):
        t = 1.0 + i * step
        falling = {0: 24.0, 1: 18.0, 2: 12.0}.get(i)
        edges = [12.0] if falling is None else sorted({12.0, falling})
        dips = [dip_at_still_row if e == 12.0 and falling == 12.0 else 0.2 for e in edges]
        tracker.see(t, np.zeros(len(edges), np.intp), np.array(edges), band, speed, step, step, np.array(dips))
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    return arrived + [front.arrival for _, front in tracker.arrived(10.0)]


def test_a_front_passing_over_an_edge_that_stands_still_is_followed() -> None:
    """At 360p a legato outline falls about 6 rows a frame and is seen in three frames at most; where one of them
    falls on an edge that stands still (a hand under a translucent bar), only its darker dip tells it apart. It is
    followed there (three sightings: it arrives when predicted); no darker, the edge is what stood there and the
    front, seen twice, is not confirmed; the edge itself never arrives."""
    arrival = 1.0 + 26.0 / 180.0
    assert [round(a, 6) for a in _passing_over_a_still_edge(0.2 - 2 * DARKER)] == [round(arrival, 6)]
    assert _passing_over_a_still_edge(0.2 - DARKER / 2) == []


def test_dip_below_a_front_is_the_darker_of_the_two_rows_below_it() -> None:
    luma = np.array([[0.3, 0.1, 0.2, 0.5, 0.5, 0.5]])
    assert dip_luma(luma, np.array([0, 0]), np.array([2.5, 0.4])).tolist() == [0.1, 0.3]


def test_fast_repeats_at_30_fps_are_each_found(tmp_path: Path) -> None:
    """Runs of 8 strikes 60 ms apart at 640x360, 30 fps (H.264): touching bars (only their outline tells them
    apart, and each moves 3 rows a frame) and detached ones (the key is dark for less than a frame). Every
    strike is found within 30 ms, and nothing else."""
    lead_in = [Note(0.6 + 0.25 * i, 0.8 + 0.25 * i, pitch, 80) for i, pitch in enumerate((50, 55, 59, 62, 57, 53))]
    legato = [Note(2.2 + 0.06 * i, 2.26 + 0.06 * i, 64, 90) for i in range(8)]
    detached = [Note(2.3 + 0.06 * i, 2.34 + 0.06 * i, 72, 90) for i in range(8)]
    notes = lead_in + legato + detached
    config = RenderConfig(style="synthesia", seed=7, size=(640, 360), fps=30, duration=3.2)
    labels = render_to_files(notes, config, tmp_path / "repeats.mp4", None)
    found = transcribe_falling(VideoFileSource(tmp_path / "repeats.mp4"), true_geometry(labels)).notes
    for run in (legato, detached):
        on_key = [e for e in found if e.pitch == run[0].pitch]
        assert len(on_key) == len(run)
        assert all(abs(e.start - n.start) <= 0.03 for e, n in zip(on_key, run, strict=True))


def _front_over_steps(rows: list[float], revealed_at: float) -> list[float]:
    """Arrivals confirmed when a front falls 6.5 rows a frame at 30 fps (arriving at 1.0 s) through a translucent
    gradient bar that H.264 coded in blocks: each block steps at one of ``rows``, shown from the first frame the front
    is ``revealed_at`` rows below it on, and then standing there."""
    speed, step, hit_row = 195.0, 1 / 30, -2.0
    tracker = FrontTracker(1, hit_row)
    tracker.expect(11.0)
    band = np.ones((1, 72, 3), np.float32)
    arrived: list[float] = []
    for i in range(16):
        t = 1.0 - 11 * step + i * step
        front = hit_row + (1.0 - t) * speed
        edges = sorted([front] * (front >= 0) + [r for r in rows if r - front >= revealed_at])
        tracker.see(t, np.zeros(len(edges), np.intp), np.array(edges), band, speed, step, step, np.zeros(len(edges)))
        arrived += [front.arrival for _, front in tracker.arrived(t)]
    return [round(a, 3) for a in arrived + [front.arrival for _, front in tracker.arrived(10.0)]]


def test_steps_that_show_behind_a_front_and_stand_still_are_no_front() -> None:
    """The steps show one after another a few rows behind the front, so their first showings fall with it: a second
    front a frame and a half behind, which split the note the first had started (hybrid 27.mid at 360p30: 2 notes).
    Each step then stands still: its first showing is taken back, and only the front arrives."""
    steps = [62.0, 56.0, 50.0, 44.0, 38.0, 32.0, 26.0, 20.0, 14.0]
    assert _front_over_steps(steps, revealed_at=8.0) == [1.0]
    assert _front_over_steps([], revealed_at=8.0) == [1.0]


def test_a_front_in_the_band_for_under_seven_samples_needs_three_sightings() -> None:
    """At 720p25 bars fall 15 rows a frame through the 96-row band: about 6.8 samples, some of them hiding the front
    behind glow or hands (a variable frame rate shows it in fewer): three sightings confirm it (four lost 9 of 128 fast
    repeats in a hybrid render with a variable frame rate)."""
    tracker = FrontTracker(1, hit_row=-3.5)
    tracker.expect(99.5 / 14.6)
    assert tracker.needed == MIN_SIGHTINGS
    tracker.expect(EXPECTED_FOR_MANY)
    assert tracker.needed == MANY_SIGHTINGS
