"""Per-key note tracking over the samples of a falling-notes video (see bridge/falling.py for the method).

A note starts when a bar that was seen coming down a key's column reaches the key (same colour) while
the key is lit; it lasts while a bar of that colour stands on the key; the front of the key's next bar
reaching it (``bridge.falling_fronts``) is a re-strike, and a note's own front times its onset between
frames; where keys glow when struck, a sounding key whose glow flares again is re-struck (``bridge.falling_glow``).
The unlit and empty looks are learned from the first second of
readable frames (per-cell median, so a logo or watermark is part of the look and a passing bar is not),
then follow slow changes; the empty looks are learned again every second from the band remembered over
the last seconds, and a band cell that stays changed without a note is learned again.

Samples may skip frames (only the reference frames decoded: ``frame_interval`` gives the video's own frame
interval): the tests then use the time since the sample before, several fronts may reach a key between two
samples, and a key that changed between two samples changed, most likely, halfway between them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from bridge.falling_fronts import (
    LABEL_MM,
    Front,
    FrontTracker,
    dip_luma,
    every_frame,
    find_fronts,
    median_where,
)
from bridge.falling_glow import LUMA, GlowWatch, Sounding
from bridge.falling_lines import hide_score_lines
from bridge.falling_sampling import LINE_ROWS, FloatArray, FrameSample, SamplePoints
from bridge.falling_tails import TailTracker

ARRIVAL_ROWS = 3  # rows of an arriving bar whose colour it is known by
PALER_ROW = 0.15  # a row of an arriving bar this much paler than the bar is no part of its colour (_bar_colours)
FRONT_ROWS = 6  # rows of bar that make a bar's front above glow at the keys
MAX_SPEEDS = 200
SPEED_AGREEMENT = 0.25  # fronts' speed is trusted within this share of the arriving bars' speed
# arriving bars followed down the band that give a first speed: fronts are followed from then on (and predicted again
# when the speed is measured better). 3 left the first 2.9 s of a hybrid video without fronts from I and P frames
FIRST_SPEEDS = 2
MIN_DESCENT_ROWS = 3  # an arriving bar's front followed this far down the band gives a speed
# a descent ends where the lowest bar row comes down this many frames' fall further than a bar falls: a hand 3 rows
# above the keys under a bar just followed at the band's top gave a note 120 ms early (hybrid 27.mid at 360p30, band
# of 71 rows; at 1080p60 from I and P frames, 3 times the fall since the sample before missed such a hand two frames
# later). Not less: H.264 holds a front still for a frame or two at 240p24 before it moves on (2: 5 of 128 fast
# repeats lost)
JUMP_FRAMES = 2.5
# and, once the speed is known from fronts, shows a bar falling onto the key only if it came down at that speed within
# this share: a hand reaching for a key also comes down its column (hybrid 1080p60, miditest 27: 6 false notes in 20 s)
FOLLOW_SPEED_AGREEMENT = 0.5
LIGHT_BACKGROUND = 0.6  # normalised luma of the empty band above which bars fall over a light background
MIN_REPEAT_S = 0.04  # a front reaching a key this soon after its note started is that note's own front
RELEASE_FRAMES = 2.0  # a key that went dark this close to its bar's tail arriving was released, not re-struck
TAIL_LATE_FRAMES = 2.0  # a note still sounding this long after its bar's tail reached the keys ends there
# the band is remembered this often for learning its empty look again, over 10 s (the median over them every second
# is a fixed cost per second of video: 10 ms at 1080p)
REMEMBER_EVERY_S = 0.5
REMEMBER_SAMPLES = 20
RELEARN_EVERY_S = 1.0
LEARN_FADE = 0.5  # (0.8 lost the notes struck while a fade-in was a quarter from its end)
Vector = NDArray[np.float32]
TrackedNote = tuple[float, float, int, NDArray[np.float64]]  # start, end, key index, the bar's colour


@dataclass(frozen=True, slots=True)
class FallingSettings:
    """Thresholds in normalised colour units (unlit white key = 1, unlit black key = 0 in every channel)."""

    lit_threshold: float = 0.35
    strike_threshold: float = 0.65  # a note starts only on a key this clearly lit (a hand over a key is less)
    bar_threshold: float = 0.3
    front_ratio: float = 0.85  # below a bar's front: darker (closer to empty) than this share of the bar
    same_bar_cosine: float = 0.85  # a bar keeps its colour direction (cosine) from arrival to its end
    min_contrast: float = 40.0  # white minus black keys (0-255) below which no keyboard is visible
    fade_ratio: float = 0.35  # a frame whose keyboard contrast is below this share of the video's best is a fade
    learn_seconds: float = 1.0  # the first readable stretch the unlit and empty looks are learned from
    relearn_seconds: float = 4.0  # a band cell changed this long without a note is learned again
    learn_rate: float = 0.02
    velocity: int = 80
    max_parts: int = 4


@dataclass
class _OpenNote:
    start: float
    bar: Vector  # the bar's colour at the keys minus the empty look: the direction the note keeps
    colour: Vector  # the arriving bar's own (normalised) colour, away from glow at the keys: names the part
    timed_by: int = 0  # sightings of the front that timed its start (0: timed by the frame that showed it)
    last_front: float = -np.inf  # when the last of its own fronts reached the key

    def is_own(self, when: float) -> bool:
        """Whether a front reaching the key at ``when`` is this note's own (soon after it started or after another
        of its own fronts), not the next bar's."""
        return when - max(self.start, self.last_front) < MIN_REPEAT_S

    def own_front(self, when: float, sightings: int, earliest: float) -> None:
        """One of its own fronts reached the key: it times the onset between frames. Of two (a bar's front and a
        hand's edge falling through a translucent bar), the one seen more often, else the first, which the note
        already keeps."""
        self.last_front = max(self.last_front, when)
        if sightings > self.timed_by:
            self.start = max(when, earliest)
            self.timed_by = sightings


def _cosine(a: NDArray[np.float32] | NDArray[np.float64], b: NDArray[np.float32] | NDArray[np.float64]) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms > 1e-9 else 0.0


class Tracker:
    """Feed samples in time order with :meth:`push`, then :meth:`close`; ``finished`` holds the notes."""

    def __init__(self, points: SamplePoints, settings: FallingSettings, frame_interval: float | None = None) -> None:
        self.points = points
        self.settings = settings
        n_keys = points.n_keys
        self.key_ref = np.zeros((n_keys, 3), np.float32)
        self.key_back_ref = np.zeros((n_keys, 3), np.float32)
        self.band_ref = np.zeros((n_keys, points.n_rows, 3), np.float32)
        self.pending: list[tuple[float, FrameSample]] = []  # readable samples before the looks are learned
        self.learned = False
        self.band_changed_since = np.full((n_keys, points.n_rows), np.inf)
        self.remembered: deque[FloatArray] = deque(maxlen=REMEMBER_SAMPLES)
        self.remembered_at = -np.inf
        self.relearned_at = -np.inf
        self.best: FrameSample | None = None
        self.open: dict[int, _OpenNote] = {}
        self.fronts = FrontTracker(n_keys, points.hit_row)
        self.label_rows = math.ceil(LABEL_MM / points.row_mm)  # how far up the band a letter in a bar reaches
        self.tails = TailTracker(n_keys, points.hit_row)
        self.front_at = np.full(n_keys, -np.inf)  # when the last front reached each key that was not sounding
        self.front_seen = np.zeros(n_keys, np.int64)  # and in how many samples that front was seen
        self.next_fronts: dict[int, list[Front]] = {}  # per key whose front_at this sample set: the fronts after it
        self.ended_at = np.full(n_keys, -np.inf)  # when each key's last note ended
        self.followed_at = np.full(n_keys, -np.inf)  # when a bar was last seen falling down each key's band
        self.bar_due = np.full(n_keys, -np.inf)  # when the bar last seen arriving reaches each key
        self.arrived_at = np.full(n_keys, -np.inf)
        self.arrival_paint = np.zeros((n_keys, 3), np.float32)  # as seen
        self.arrival_row = np.full(n_keys, -1)
        self.glow_front = np.full(n_keys, -1)  # the front of a bar above a dip, per key, in the last frame
        self.dark_at = np.full(n_keys, -np.inf)  # when a sounding key last went dark under its bar
        self.speeds: list[float] = []  # bar speeds seen (rows per second), from arriving bars followed down
        self.front_speeds: deque[float] = deque(maxlen=MAX_SPEEDS)  # and from fronts followed down: finer
        self.descent = np.full((n_keys, 4), np.nan)  # t and row where each arriving bar was first and last seen
        self.finished: list[TrackedNote] = []  # colours normalised
        self.just_finished: dict[int, int] = {}  # per key whose note ended in this sample: its index in finished
        self.last_t = 0.0
        self.gap = 1 / 30  # seconds since the sample before
        self.recent_t: deque[float] = deque(maxlen=3)  # the times of the last samples, this one included
        self.frame_dt: list[float] = []
        # the video's frame interval: given (samples may skip frames), else the median interval of the first samples
        self.fixed_step = frame_interval is not None
        self.step = frame_interval if frame_interval is not None else 1 / 30
        self.sample_interval = self.step  # the median time between two samples
        self.rows_per_s: float | None = None  # how fast bars fall, once measured
        self.speed_from_fronts = False  # measured from fronts followed down (finer: arriving bars alone can be 3x off)
        self.already: set[int] = set()  # keys lit when the video became readable: notes whose start was not seen
        self.readable = False  # whether the sample before was readable (and read)
        self.glow = GlowWatch(points)
        # band cells whose empty look is light (a light theme: bars darker than it)
        self.light_cells = np.zeros((n_keys, points.n_rows), bool)

    def push(self, t: float, sample: FrameSample) -> None:
        if len(self.frame_dt) < 50 and t > self.last_t:
            self.frame_dt.append(t - self.last_t)
            self.sample_interval = float(np.median(self.frame_dt))
            if not self.fixed_step:
                self.step = self.sample_interval
            elif self.sample_interval >= 2.5 * self.step:
                # samples mostly 3 or more frames apart see a front in too few of them to ask for 3 sightings: two as
                # far apart as three successive frames confirm it (closer samples: 3 sightings, hands and glow
                # split fewer held notes)
                self.fronts.pair_span = 1.5 * self.step
            else:
                self.fronts.pair_span = None
        if t > self.last_t:
            self.gap = t - self.last_t
        self.last_t = t
        self.recent_t.append(t)
        if self.best is None or sample.contrast > self.best.contrast:
            self.best = sample
        if sample.contrast < max(self.settings.min_contrast, self.settings.fade_ratio * self.best.contrast):
            self._close_all(t)  # title card, fade or cut: nothing is readable
            return
        if self.learned:
            self._read(t, sample)
            return
        # learn from the brightest stretch: samples of a fade-in that is still going on, under LEARN_FADE of a later
        # one's contrast, are dropped (above it, normalising cancels the fade, and the notes struck there are seen)
        self.pending = [(u, s) for u, s in self.pending if s.contrast >= LEARN_FADE * sample.contrast]
        self.pending.append((t, sample))
        if t - self.pending[0][0] >= self.settings.learn_seconds:
            self._learn_looks()

    def _learn_looks(self) -> None:
        samples = [s for _, s in self.pending]
        self.key_ref, lit_all_along = _unlit_looks(np.median([s.keys for s in samples], axis=0), self.points)
        self.key_back_ref, _ = _unlit_looks(np.median([s.keys_back for s in samples], axis=0), self.points)
        self.band_ref, known = _empty_looks(np.array([s.band for s in samples]), self.points.black,
                                            self.settings.bar_threshold)
        covered = ~known & lit_all_along[:, None]  # above a key lit all along: the other keys' look
        self.band_ref[covered] = _typical_looks(self.band_ref, self.points.black)[covered]
        self._note_light_cells()
        self.learned = True
        pending, self.pending = self.pending, []
        for (before, _), (t, sample) in zip([pending[0], *pending[:-1]], pending, strict=True):
            if self.fixed_step:  # samples that skip frames: the tests use the times of the samples before this one
                self.gap = t - before if t > before else self.gap
                self.recent_t.append(t)
            self._read(t, sample)

    def _read(self, t: float, sample: FrameSample) -> None:
        self.just_finished = {}
        # a key is lit when its front or its back differs from its unlit look: fingers hide one of them
        key_dist = np.maximum(np.linalg.norm(sample.keys - self.key_ref, axis=1),
                              np.linalg.norm(sample.keys_back - self.key_back_ref, axis=1))
        band_diff = sample.band - self.band_ref
        cleaned = hide_score_lines(sample.band, band_diff)  # measure lines are no bars: gone before anything reads
        if cleaned is not sample.band:
            sample = replace(sample, band=cleaned)
            band_diff = cleaned - self.band_ref
        band_dist = _colour_distance(band_diff)
        bar_rows = band_dist > self.settings.bar_threshold
        at_line = bar_rows[:, :LINE_ROWS].sum(axis=1) >= 2
        line_bar = band_diff[:, :LINE_ROWS].sum(axis=1) / LINE_ROWS  # their mean (np.mean costs more in overhead)
        self._note_arrivals(t, bar_rows, band_dist, sample.band)
        lit = key_dist > self.settings.lit_threshold
        self.tails.see(t, bar_rows, self.rows_per_s)
        if not self.readable:  # the first sample read (after the looks were learned, a fade or a cut)
            self.already = set(np.flatnonzero(lit & at_line).tolist())
            self.readable = True
        if self.already:
            self.already -= set(np.flatnonzero(~lit).tolist())
        changed = self._changed_at(t)
        for key in list(self.open):
            tail = float(self.tails.due[key])
            followed = tail > self.open[key].start + MIN_REPEAT_S  # the tail of this note's bar was followed down
            if followed and tail <= t - TAIL_LATE_FRAMES * self.step:  # lit after its bar ended: a neighbour's glow
                self._finish(key, tail)
                continue
            # a key released between two samples was released when its bar's tail arrived
            end = tail if followed and t - self.gap - self.step <= tail <= t else changed
            if not lit[key]:  # the key shows its unlit look: released, perhaps for one frame before a re-strike
                self.dark_at[key] = t
                self.arrival_paint[key] = self.open[key].colour
                self._finish(key, end)
            elif not (at_line[key] and _cosine(self.open[key].bar, line_bar[key]) > self.settings.same_bar_cosine):
                self._finish(key, end)
        self._follow_fronts(t, bar_rows, band_dist, band_diff, sample.band)
        self._glow_restrikes(t, sample, lit)
        # the bar was seen falling in the last frames (at least the last two samples, when samples skip frames)
        window = max(3.5 * self.step, 0.1, t - self.recent_t[0] + self.step / 2)
        # (or a front followed down the band reached it: a neighbour's bar or glow may hide the arrival at the line)
        recent = (t - self.arrived_at <= window) | (t - self.dark_at <= window) | (t - self.front_at <= window)
        sounding = np.zeros(len(lit), bool)
        sounding[list(self.open)] = True
        struck = key_dist > self.settings.strike_threshold
        for key in np.flatnonzero(at_line & ~sounding & struck & recent):
            self._start(int(key), t, window, line_bar[key], sample.line[key])
        self._follow(sample, key_dist, band_dist, band_diff, bar_rows, t)

    def _note_arrivals(self, t: float, bar_rows: NDArray[np.bool_], band_dist: FloatArray,
                       band: NDArray[np.float32]) -> None:
        """Remember, per key, when a bar was last seen above an empty line, its colour and how fast it falls."""
        above = band_dist[:, LINE_ROWS:].max(axis=1)
        # a bar above and (almost) nothing at the keys yet: glow from a neighbour may tint the line a little
        arriving = bar_rows[:, LINE_ROWS:].any(axis=1) & (band_dist[:, :LINE_ROWS].max(axis=1) < 0.5 * above)
        fronts = np.where(arriving, LINE_ROWS + np.argmax(bar_rows[:, LINE_ROWS:], axis=1), -1)
        # or the front of a bar above a dip, with glow (a neighbour's, fading upwards) standing at the keys
        closed = np.ones(len(arriving), bool)
        closed[list(self.open)] = False
        glow_front = _front_above_dip(band_dist, np.maximum(0.5 * above, self.settings.bar_threshold))
        over_glow = ~arriving & closed & (glow_front >= 0) & (self.glow_front > glow_front)  # falling, not a spark
        self.glow_front = glow_front
        fronts[over_glow] = glow_front[over_glow]
        arriving |= over_glow
        keys = np.flatnonzero(arriving)
        if len(keys):
            self.arrival_paint[keys] = self._bar_colours(keys, fronts[keys], bar_rows, band)
        for key in keys:
            first = int(fronts[key])
            since = t - self.arrived_at[key]  # seen arriving in the sample before, and no lower than now
            falling = 0 < since <= max(1.5 * self.step, self.gap) and self.arrival_row[key] >= first
            if falling and self._jumped(float(self.arrival_row[key]) - first, since):
                falling = False
                self.followed_at[key] = -np.inf  # the bar followed is still on its way: what is lower is not it
            if not falling:
                self._end_descent(int(key))
                self.descent[key, :2] = t, first
            self.descent[key, 2:] = t, first
            fell = self.descent[key, 1] - first
            if fell >= MIN_DESCENT_ROWS and self._at_bar_speed(fell, t - self.descent[key, 0]):
                self.followed_at[key] = t
            if self.rows_per_s is not None:
                self.bar_due[key] = t + (first - self.points.hit_row) / self.rows_per_s
            self.arrived_at[key] = t
            self.arrival_row[key] = first
        for key in np.flatnonzero(~arriving & ~np.isnan(self.descent[:, 0])):
            self._end_descent(int(key))
        self.arrival_row[~arriving] = -1

    def _bar_colours(self, keys: NDArray[np.intp], fronts: NDArray[np.intp], bar_rows: NDArray[np.bool_],
                     band: FloatArray) -> FloatArray:
        """The (normalised) colour of the bars arriving at ``keys`` with their fronts at ``fronts``: the mean of
        their ARRIVAL_ROWS rows nearest the front past its outline, of those no paler than the bar (a note name
        written there: at 240p it filled the three rows, and whitish notes made a third part of a hybrid video).
        Paler: a least-to-greatest channel ratio PALER_ROW above the bar's median one over twice the rows a name
        spans (or up to the bar's end); a gradient bar, darker away from the keys, keeps its ratio."""
        n_rows = bar_rows.shape[1]
        inside = np.minimum(fronts + ARRIVAL_ROWS // 2 + 1, n_rows - ARRIVAL_ROWS)
        reach = inside[:, None] + np.arange(max(ARRIVAL_ROWS, 2 * self.label_rows))
        rows = np.minimum(reach, n_rows - 1)
        in_bar = np.cumprod(bar_rows[keys[:, None], rows], axis=1).astype(bool) & (reach < n_rows)
        in_bar[:, :ARRIVAL_ROWS] = True
        cells = band[keys[:, None], rows]
        positive = np.maximum(cells, 0.0)
        ratio = positive.min(axis=2) / np.maximum(positive.max(axis=2), 1e-3)
        usual = median_where(ratio, in_bar)
        kept = in_bar & (ratio <= usual[:, None] + PALER_ROW)
        kept &= np.cumsum(kept, axis=1) <= ARRIVAL_ROWS
        kept[kept.sum(axis=1) == 0, :ARRIVAL_ROWS] = True
        weights = kept[:, :, None].astype(np.float32)
        return np.asarray((cells * weights).sum(axis=1) / weights.sum(axis=1), dtype=np.float32)

    def _end_descent(self, key: int) -> None:
        """An arriving bar's front was followed down from one row to another: a bar speed (rows per second)."""
        t0, row0, t1, row1 = self.descent[key]
        if t1 - t0 >= 1.5 * self.step and row0 - row1 >= MIN_DESCENT_ROWS and len(self.speeds) < MAX_SPEEDS:
            self.speeds.append(float((row0 - row1) / (t1 - t0)))
            self._measure_speed()
        self.descent[key] = np.nan

    def _jumped(self, rows: float, seconds: float) -> bool:
        """Whether the lowest bar row above a key came ``rows`` down in ``seconds``, more than JUMP_FRAMES frames' fall
        further than a bar falls: a hand or glow at the keys appeared below the bar that was being followed. Until the
        speed is known from fronts, only a jump over half the band: a first speed from arriving bars alone can be 3x
        off, and taking every descent for a jump would keep it so (synthesia 27.mid at 1080p60 from I and P frames:
        no note at all)."""
        speed = self.rows_per_s
        if speed is None:
            return False
        limit = speed * (seconds + JUMP_FRAMES * self.step) + 1.0
        return rows > (limit if self.speed_from_fronts else max(limit, self.points.n_rows / 2))

    def _at_bar_speed(self, rows: float, seconds: float) -> bool:
        """Whether something that came ``rows`` down a key's column in ``seconds`` (more than 0: a descent spans two
        samples) fell like a bar (always, until the speed is known from fronts)."""
        speed = self.rows_per_s
        if speed is None or not self.speed_from_fronts:
            return True
        return abs(rows / seconds / speed - 1.0) <= FOLLOW_SPEED_AGREEMENT

    def _measure_speed(self) -> None:
        """How fast bars fall: the median of what fronts followed down the band showed, where it agrees with what
        arriving bars showed (coarser, but never locked in: fronts are only matched at the speed already known,
        so a wrong early speed could otherwise confirm itself); else what arriving bars showed."""
        if len(self.speeds) < FIRST_SPEEDS:
            return
        arrivals = float(np.median(self.speeds))
        fronts = float(np.median(self.front_speeds)) if len(self.front_speeds) >= 3 else None
        agree = fronts is not None and abs(fronts / arrivals - 1.0) <= SPEED_AGREEMENT
        self.rows_per_s = fronts if agree and fronts is not None else arrivals
        self.speed_from_fronts = agree

    def _follow_fronts(self, t: float, bar_rows: NDArray[np.bool_], band_dist: FloatArray,
                       band_diff: FloatArray, band: FloatArray) -> None:
        """Follow the bars' fronts down the band; a front reaching a sounding key splits its note there."""
        speed = self.rows_per_s
        if speed is None:
            return
        busy = np.flatnonzero(bar_rows.any(axis=1))  # keys with a bar in their band
        self.fronts.expect((self.points.n_rows - self.points.hit_row) / (speed * self.sample_interval),
                           all_frames=every_frame(self.sample_interval, self.step))
        luma = np.abs(band_diff[busy] @ LUMA)
        light = self.light_cells[busy] if self.light_cells.any() else None
        absolute = None if light is None else band[busy] @ LUMA
        keys, edges, letters = find_fronts(band_dist[busy], luma, self.settings.bar_threshold,
                                           self.settings.front_ratio, band[busy], self.label_rows, absolute, light)
        dips = dip_luma(luma, keys, edges)
        if absolute is not None and light is not None:  # over a light background, darker below is less bright
            on_light = light[keys, edges.astype(np.intp)]
            dips[on_light] = dip_luma(absolute, keys, edges)[on_light]
        self.fronts.see(t, busy[keys], edges, band, speed, self.step, self.gap, dips, letters)
        self.next_fronts = {}
        for key, front in self.fronts.arrived(t + self.step / 2):  # the frame nearest its arrival shows it
            when = front.arrival
            if front.speed is not None:
                self.front_speeds.append(front.speed)
                self._measure_speed()
            note = self.open.get(key)
            # (not where samples skip frames: there hands and glow made such fronts split held notes, hybrid 1080p60)
            if note is None and not self.fixed_step and self._struck_before_release(key, front):
                continue
            if note is None:
                if key in self.next_fronts:  # samples that skip frames: more fronts reached the key since the last
                    self.next_fronts[key].append(front)
                else:
                    self.front_at[key] = when
                    self.front_seen[key] = front.sightings
                    if self.fixed_step or self.gap > 1.5 * self.step:  # (else the last front that reached it starts)
                        self.next_fronts[key] = []
            elif note.is_own(when):
                note.own_front(when, front.sightings, float(self.ended_at[key]))
            else:
                self._restrike(key, front)

    def _glow_restrikes(self, t: float, sample: FrameSample, lit: NDArray[np.bool_]) -> None:
        """A sounding key whose glow flared again in the sample before, timed by a front (bridge.falling_glow)."""
        sounding = {key: Sounding(note.start, note.colour) for key, note in self.open.items()}
        for key, when in self.glow.see(t, self.gap, self.step, sample.band, lit, sounding, self.fronts.unconfirmed):
            note = self.open[key]
            self._finish(key, when)
            self.open[key] = _OpenNote(when, note.bar, note.colour)

    def _restrike(self, key: int, front: Front) -> None:
        """A front reaching a sounding key well after its note started, in its colour: the key's next bar."""
        note = self.open[key]
        if _cosine(note.colour, front.colour) > self.settings.same_bar_cosine:
            self._finish(key, front.arrival)
            self.open[key] = _OpenNote(front.arrival, note.bar, front.colour, front.sightings)

    def _start(self, key: int, t: float, window: float, line_bar: Vector, line: Vector) -> None:
        if _cosine(self.arrival_paint[key], line) <= self.settings.same_bar_cosine:
            return  # what stands on the key is not the bar that came down (glow, a hand, a logo)
        fronted = min(t - 1.5 * self.step, t - self.gap - self.step / 2) <= self.front_at[key] <= t + self.step / 2
        # dark for a moment under a standing bar; not as its tail reached the key (released: the glow of a neighbour
        # struck next, in the same colour, may light it again)
        released = abs(float(self.tails.due[key]) - float(self.dark_at[key])) <= RELEASE_FRAMES * self.step
        restruck = t - self.dark_at[key] <= window and not released
        if key in self.already and not (fronted or restruck):
            return  # lit since the video became readable: its start was not seen
        if not (fronted or restruck or t - self.followed_at[key] <= window or self.rows_per_s is None):
            return  # nothing was seen falling onto the key (sparks, glow or a hand at the keys)
        if not (fronted or restruck) and t < self.bar_due[key] - 1.5 * self.step:
            return  # the bar is still on its way: a hand or glow is at the key
        start = self._changed_at(t)  # or, between frames, when the bar's front was seen reaching the key
        if fronted:
            start = max(float(self.front_at[key]), float(self.ended_at[key]))
        self.front_at[key] = -np.inf
        self.open[key] = _OpenNote(start, line_bar.copy(), self.arrival_paint[key].copy(),
                                   int(self.front_seen[key]) if fronted else 0)
        self.glow.vote(key, self.open)
        for front in self.next_fronts.pop(key, []) if fronted else []:
            if front.arrival - self.open[key].start >= MIN_REPEAT_S:
                self._restrike(key, front)

    def _changed_at(self, t: float) -> float:
        """When a key that changed between the sample before and this one most likely changed: keys light from the
        frame nearest an onset, so the change lies between the frames after the sample before and this one."""
        return t - (self.gap - self.step) / 2 if self.fixed_step and self.gap > 1.5 * self.step else t

    def _finish(self, key: int, t: float) -> None:
        note = self.open.pop(key)
        self.ended_at[key] = t
        if t > note.start:
            self.finished.append((note.start, t, key, note.colour.astype(np.float64)))
            self.just_finished[key] = len(self.finished) - 1

    def _struck_before_release(self, key: int, front: Front) -> bool:
        """A front that reached the key before its note ended in this sample, well after the note started and in its
        colour: the key was struck again there and released before this sample (a gap between two samples longer than
        the last note of a run: the note is split, as a re-strike seen while the key was lit)."""
        index = self.just_finished.get(key)
        if index is None:
            return False
        start, end, _, colour = self.finished[index]
        same_bar = _cosine(colour, front.colour) > self.settings.same_bar_cosine
        if not (same_bar and start + MIN_REPEAT_S <= front.arrival < end):
            return False
        self.finished[index] = (start, front.arrival, key, colour)
        self.finished.append((front.arrival, end, key, colour))
        self.just_finished[key] = len(self.finished) - 1
        return True

    def _close_all(self, t: float) -> None:
        for key in list(self.open):
            self._finish(key, t)
        self.fronts.clear()
        self.glow.reset()
        self.readable = False

    def _follow(self, sample: FrameSample, key_dist: NDArray[np.float64], band_dist: FloatArray,
                band_diff: FloatArray, bar_rows: NDArray[np.bool_], t: float) -> None:
        """Follow slow changes of the unlit and empty looks; learn again a band cell that changed for good."""
        rate = self.settings.learn_rate
        calm_keys = (key_dist < self.settings.lit_threshold / 2)[:, None]
        self.key_ref += (rate * calm_keys) * (sample.keys - self.key_ref)
        self.key_back_ref += (rate * calm_keys) * (sample.keys_back - self.key_back_ref)
        calm_band = (band_dist < self.settings.bar_threshold)[:, :, None]
        band_diff *= calm_band  # (the band minus the empty look, as in _read: not needed after this)
        band_diff *= np.float32(rate)
        self.band_ref += band_diff
        stray = bar_rows.copy()
        stray[list(self.open)] = False
        since = self.band_changed_since
        since[:] = np.where(stray, np.minimum(since, t), np.inf)
        stale = t - since > self.settings.relearn_seconds
        if stale.any():
            self.band_ref[stale] = sample.band[stale]
            since[stale] = np.inf
        self._relearn_empty_looks(t, sample)

    def _relearn_empty_looks(self, t: float, sample: FrameSample) -> None:
        """Every second, learn the empty looks again from the bands remembered over the last seconds, so a bar
        that stood in the band while they were first learned, slow lighting changes and gradients are
        forgotten. Cells that no remembered moment shows empty (a long note, a logo) keep their look."""
        if t - self.remembered_at >= REMEMBER_EVERY_S:
            self.remembered_at = t
            self.remembered.append(sample.band)
        if t - self.relearned_at < RELEARN_EVERY_S or len(self.remembered) < REMEMBER_SAMPLES // 5:
            return
        self.relearned_at = t
        looks, known = _empty_looks(np.array(self.remembered), self.points.black, self.settings.bar_threshold)
        self.band_ref[known] = looks[known]
        self._note_light_cells()

    def _note_light_cells(self) -> None:
        self.light_cells = (self.band_ref @ LUMA) > LIGHT_BACKGROUND

    def close(self) -> None:
        if not self.learned and self.pending:
            self._learn_looks()
        self._close_all(self.last_t + self.step)

    def finished_in_bgr(self) -> list[TrackedNote]:
        """The finished notes with their bars' colours in the pixel values of the brightest frame."""
        return [(start, end, key, self.to_bgr(colour)) for start, end, key, colour in self.finished]

    def to_bgr(self, colour: NDArray[np.float64]) -> NDArray[np.float64]:
        """A normalised colour in the pixel values of the brightest (unfaded) frame."""
        assert self.best is not None
        return np.asarray(self.best.black + colour * self.best.span, dtype=np.float64)


def _colour_distance(diff: FloatArray) -> FloatArray:
    """``np.linalg.norm(diff, axis=-1)`` of BGR differences, the same sums in the same order without its overhead."""
    blue, green, red = diff[..., 0], diff[..., 1], diff[..., 2]
    return np.asarray(np.sqrt(blue * blue + green * green + red * red), dtype=np.float32)


def _front_above_dip(band_dist: FloatArray, strong: FloatArray) -> NDArray[np.intp]:
    """Per key, the lowest row above the keys' line where FRONT_ROWS rows stronger than ``strong[K]`` start
    above a weaker row, or -1 (sparks are shorter)."""
    is_strong = band_dist > strong[:, None]
    n_rows = band_dist.shape[1]
    run = np.ones((len(band_dist), n_rows - LINE_ROWS - FRONT_ROWS + 1), bool)
    for i in range(FRONT_ROWS):
        run &= is_strong[:, LINE_ROWS + i: n_rows - FRONT_ROWS + 1 + i]
    starts = run & ~is_strong[:, LINE_ROWS - 1: n_rows - FRONT_ROWS]
    return np.where(starts.any(axis=1), LINE_ROWS + np.argmax(starts, axis=1), -1)


def _empty_looks(bands: NDArray[np.float32], black: NDArray[np.bool_],
                 threshold: float) -> tuple[Vector, NDArray[np.bool_]]:
    """Per-cell empty look from ``bands[T, K, R, 3]``, and which cells it is known for. The look is the cell's
    median over time, unless a bar stood there most of the time (it differs from the same row of the other
    keys of its colour, whose columns lie elsewhere): then the moment it looked most like them. A cell that
    never did (a logo, a bar standing all along) keeps its median and is not known."""
    median = np.median(bands, axis=0)
    typical = _typical_looks(median, black)  # most columns are empty most of the time
    odd = np.linalg.norm(median - typical, axis=2) > threshold
    known = ~odd
    if odd.any():
        distance = np.linalg.norm(bands - typical, axis=3)  # (T, K, R)
        closest = np.argmin(distance, axis=0)
        chosen = np.take_along_axis(bands, closest[None, :, :, None], axis=0)[0]
        usable = odd & (np.min(distance, axis=0) <= threshold)
        median[usable] = chosen[usable]
        known |= usable
    return np.asarray(median, dtype=np.float32), known


def _typical_looks(looks: Vector, black: NDArray[np.bool_]) -> Vector:
    """(K, R, 3) the median look of each row over the keys of the same colour."""
    typical = np.empty_like(looks)
    for group in (black, ~black):  # black keys' columns lie elsewhere (between white keys) and may look different
        typical[group] = np.median(looks[group], axis=0)
    return typical


def _unlit_looks(keys: NDArray[np.float32] | NDArray[np.float64],
                 points: SamplePoints) -> tuple[Vector, NDArray[np.bool_]]:
    """Per-key unlit look, and which keys were lit all along the learning stretch: those differ from their
    neighbours of the same colour and take the neighbours' median instead."""
    looks = np.asarray(keys, dtype=np.float32).copy()
    lit = np.zeros(len(looks), bool)
    for black in (False, True):
        index = np.flatnonzero(points.black == black)
        typical = np.array([np.median(looks[index[max(0, i - 4): i + 5]], axis=0) for i in range(len(index))])
        odd = np.linalg.norm(looks[index] - typical, axis=1) > 0.25
        looks[index[odd]] = typical[odd]
        lit[index[odd]] = True
    return looks, lit
