"""Bar fronts followed down the band above each key: sub-frame onsets and fast re-strikes.

The band above a key is a picture of the near future. Bars fall at one speed along the keyboard plane and
the band's rows are equally spaced on it, so the front of a bar (its lower edge: background below it, or the
darker outline of the bar before it) seen at row r reaches the keys (r - hit_row) / speed seconds later. A
front is found in any frame where it stands in the band, not only when it passes the few rows next to the
keys, so the thin outline between two touching bars that move several rows per frame is not missed, and
its arrival is timed between frames. Sightings of one key whose predicted arrivals agree (within a
fraction of a frame) are one front; a front seen in MIN_SIGHTINGS frames (MANY_SIGHTINGS where the band
shows each front in many of them) arrives when predicted: the median of its last sightings' predictions. Things
that stand still (logos, glow, a gradient, a flaw in the empty look, what shows through a translucent bar)
predict one frame later in each frame and never agree by themselves, and a front where one stood in the
frame before is dropped so that they cannot join a falling one (an edge that first showed and then stood still
for a few frames has that first sighting taken back); sparks and hands do not keep falling at
the bars' speed for that long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

MIN_SIGHTINGS = 3
# where a front stays in the band for at least EXPECTED_FOR_MANY frames, it must be seen in MANY_SIGHTINGS of them:
# a hand edge or an outline the encoder smeared lines up with a fall three times by chance more often in a tall band.
# Not below 7: at 720p25 a front stays about 6.8 samples in the 96-row band, fewer show it where the frame rate varies
# (4 sightings there lost 9 of 128 hybrid fast repeats)
MANY_SIGHTINGS = 4
EXPECTED_FOR_MANY = 7.0
RECENT_SIGHTINGS = 5  # a front arrives when the median of its last sightings predicts
SPEED_ROWS = 8.0  # a front followed this far down the band measures the bars' speed
AGREE_FRAMES = 0.35  # predicted arrivals of one front agree within this share of a frame (or ROW_NOISE rows)
ROW_NOISE = 1.2
STILL_ROWS = 0.6  # a front this close to one of the frame before stands still (if bars fall over twice that a frame)
# or this share of the bars' fall in a frame, where every frame is read: the edges of a watermark under translucent
# bars wobble by a row in H.264 (at 720p25, 13 rows a frame, they made fronts that split notes: hybrid 26.mid). Not
# where frames are skipped: I and P frames lost 7 of 128 fast repeats
STILL_SHARE = 0.1
DARKER = 0.03  # unless it is this much darker below (normalised luma): a bar's outline passing over a still edge
# an edge that first showed where none stood the sample before and then stands still for this many samples was no front:
# its first sighting is taken back. H.264 blocks over a translucent gradient bar step at fixed rows; each step shows
# once the bar's front has passed it, a few rows above the front, so the steps' first showings fall with the bars and
# split notes a frame or two after they start (hybrid 27.mid at 360p30, band of 71 rows: 2 false notes). 1 or 2 samples
# took back fronts that H.264 held still (hybrid 240p24 fast repeats 112 -> 100 and 107)
TAKE_BACK_AFTER = 3
# a dip with rows BELOW_ROWS under it this many times brighter than the bar above is no front: a gradient bar's middle
# (bright half at the keys, darker above; H.264 undershoots at that edge) split notes in two, mostly from I and P
# frames (hybrid 1080p60: 6 false notes in 20 s of miditest 10). Below a real front lie background, an outline or the
# end of the bar before, not a much brighter bar
BRIGHTER_BELOW = 1.5
BELOW_ROWS = (2, 6)
# note names written in the bars (white letters near each bar's front, moving with it): a letter's lower edge is
# darker below (the bar itself, or H.264's undershoot next to a white stroke) and falls at the bars' speed, and split
# the notes it reached a key in (the benchmark's clips with names: onset F1 0.86 synthesia, 0.90 hybrid, onset+offset
# 0.62 and 0.77). Where the rows above an edge are
# WHITER_THAN_BAR whiter than the bar they lie in (their least channel higher: a letter, not glow of the bar's own
# hue), the row below must also be darker than the bar's own brightness (its median over LABEL_MM above the edge,
# while the bar lasts), as an outline between two bars or the background is; WHITE_LETTER whiter, it is a letter
# whatever lies below (H.264 undershoots by a fifth under a white stroke in translucent bars). Not for every edge:
# glow at the keys brightens the rows above a faint translucent outline, and the darkness rule alone lost 2 of 128
# hybrid fast repeats at 720p30
WHITER_THAN_BAR = 0.05
WHITE_LETTER = 0.15
LABEL_MM = 25.0  # a letter about as tall as a white key is wide, with the bar's margin below it

FloatArray = NDArray[np.float32]


def every_frame(interval: float | None, step: float) -> bool:
    """Whether samples ``interval`` apart (None: the video's frame interval ``step``) are the video's every frame:
    the wider still tolerance and 4 sightings hold only there."""
    return interval is None or interval <= 1.25 * step


@dataclass(slots=True)
class Front:
    # the median prediction of its last sightings: the lowest ones are least touched by an error of the speed, and
    # one outlier among them (glow at the keys, a block the encoder kept from the frame before) is outvoted
    arrival: float
    first_arrival: float  # predicted from the first sighting: later ones may not drift away from it
    sightings: int
    seen_at: float
    row: float  # where it was last seen
    colour: FloatArray  # the bar above the front where first seen (normalised colour)
    first_seen_at: float
    first_row: float
    recent: list[tuple[float, float]] = field(default_factory=list)  # (t, row) of its last sightings
    predicted: list[float] = field(default_factory=list)  # and the arrivals they predict

    def seen(self, t: float, row: float, arrival: float) -> None:
        self.recent.append((t, row))
        self.predicted.append(arrival)
        if len(self.recent) > RECENT_SIGHTINGS:
            del self.recent[0], self.predicted[0]
        self.seen_at, self.row = t, row
        self.sightings += 1
        self.arrival = _median(self.predicted)

    def take_back(self, t: float, row: float) -> None:
        """Forget its sighting at ``t`` (at ``row``): what it saw stood still afterwards."""
        self.sightings -= 1
        if (t, row) in self.recent:
            index = self.recent.index((t, row))
            del self.recent[index], self.predicted[index]
            if self.recent:
                self.seen_at, self.row = self.recent[-1]
                self.arrival = _median(self.predicted)

    def predict(self, rows_per_s: float, hit_row: float) -> None:
        """Its arrivals predicted again at this speed (measured better since)."""
        self.predicted = [t + (row - hit_row) / rows_per_s for t, row in self.recent]
        self.arrival = _median(self.predicted)
        self.first_arrival = self.first_seen_at + (self.first_row - hit_row) / rows_per_s

    @property
    def speed(self) -> float | None:
        """Rows per second it fell from its first to its last sighting, if followed far enough."""
        fell = self.first_row - self.row
        return fell / (self.seen_at - self.first_seen_at) if fell >= SPEED_ROWS else None


@dataclass(slots=True)
class _Edge:
    """An edge found in one sample: its row, the luma below it (:func:`dip_luma`) and, while it may be taken back,
    the front its first showing was counted for (the front, the sample's time, the row)."""

    row: float
    dip: float
    counted: tuple[Front, float, float] | None = None
    still_for: int = 0  # samples it has stood at this row since it first showed


def find_fronts(dist: NDArray[np.float32] | NDArray[np.float64], luma: NDArray[np.float32] | NDArray[np.float64],
                threshold: float, ratio: float, band: FloatArray | None = None, label_rows: int = 0,
                absolute: NDArray[np.float32] | NDArray[np.float64] | None = None,
                light: NDArray[np.bool_] | None = None) -> tuple[NDArray[np.intp], NDArray[np.float64],
                                                                 NDArray[np.bool_]]:
    """Bar fronts in a band (row 0 next to the keys): rows where, going up the column, bar starts (the median
    of three rows of ``dist[K, R]``, each cell's distance from its empty look, above ``threshold``) above a row
    whose ``luma[K, R]`` (brightness change from the empty look) is under ``ratio`` times the bar's, and no
    much brighter rows a little further down (BRIGHTER_BELOW). Luma,
    not colour: video keeps colour at half resolution, so a thin dark line between two bars keeps their colour
    and shows only in brightness. Returns the keys and the sub-row positions of the edges, where the luma crosses
    half the bar's (the middle of an outline between two touching bars), and which of them are the lower edges of
    letters written in the bars (:func:`_letters`; only given the band's normalised colours ``band[K, R, 3]`` and
    ``label_rows``, the rows LABEL_MM spans): no fronts, but edges that may stand still (a watermark behind a
    translucent bar looks like letters). Where ``light[K, R]`` marks cells whose empty look is light, the rows
    below those cells are read by ``absolute[K, R]``, the cells' brightness (see the comment there)."""
    n_rows = dist.shape[1]
    if n_rows < 5:
        return np.zeros(0, np.intp), np.zeros(0), np.zeros(0, bool)
    level = _median_of_next3(luma)  # rows r..r+2 for r = 1..R-3
    bar = _median_of_next3(dist) > threshold
    rise = bar & (luma[:, :-3] < ratio * level)  # row r-1 darker
    rise &= ~(_brightest_below(luma[:, :-3]) > BRIGHTER_BELOW * level)
    if light is not None and absolute is not None:
        # over a light background a bar is darker than it, its outline darker still, and a gradient bar's darker
        # half differs more from it: under a front lies background (no bar) or an outline darker than the bar
        # (and the bar reaches three rows up: the median of the top outline, the anti-aliased row above it and the
        # background is bar, darker than the bar's body below it)
        below_darker = absolute[:, :-3] < ratio * _median_of_next3(absolute)
        on_light = light[:, :-3]
        light_rise = bar & (dist[:, 3:] > threshold) & ((dist[:, :-3] < threshold) | below_darker)
        rise[on_light] = light_rise[on_light]
        rise &= on_light == light[:, 1:-2]  # not where the background turns light (a dark case below a light page)
    rise[:, 1:] &= ~rise[:, :-1]  # the lowest row of a rise (an anti-aliased edge rises over two rows)
    keys, index = np.nonzero(rise)
    letters = np.zeros(len(keys), bool)
    if band is not None and label_rows > 0 and len(keys):
        letters = _letters(dist, luma, band, keys, index, threshold, ratio, label_rows)
    half = np.maximum(level[keys, index], level[keys, np.minimum(index + 1, level.shape[1] - 1)]) / 2
    # the crossing lies between row r-1 and r+1 (a median of three is bar one row before the bar starts)
    upper = np.minimum(index[:, None] + np.arange(1, 4), n_rows - 1)
    lower = index + np.argmax(luma[keys[:, None], upper] >= half[:, None], axis=1)
    low, high = luma[keys, lower], luma[keys, lower + 1]
    within = np.clip((half - low) / np.maximum(high - low, 1e-6), 0.0, 1.0)
    return keys.astype(np.intp), lower + within.astype(np.float64), letters


def _letters(dist: NDArray[np.float32] | NDArray[np.float64], luma: NDArray[np.float32] | NDArray[np.float64],
             band: FloatArray, keys: NDArray[np.intp], index: NDArray[np.intp], threshold: float, ratio: float,
             label_rows: int) -> NDArray[np.bool_]:
    """Which rises (``keys``, ``index``: the darker row under each) are a letter's lower edge: the three rows above
    are whiter than the bar (WHITER_THAN_BAR), and the row under them is not darker than ``ratio`` times the bar's
    own brightness over ``label_rows`` above it (while the bar lasts; its first three rows always count)."""
    last = dist.shape[1] - 1
    column = keys[:, None]
    rows = np.minimum(index[:, None] + 1 + np.arange(max(label_rows, 3)), last)
    in_bar = np.cumprod(dist[column, rows] > threshold, axis=1).astype(bool)
    in_bar[:, :3] = True
    cells = band[column, rows]
    above = cells[:, :3].mean(axis=1)
    # no whiter than the bar's least white row past its first (a bound of its median: 3 rows or more): no whiter
    # than the bar. Most edges; the medians cost more (the first row is often the front's dim, anti-aliased one)
    lowest = np.where(in_bar[:, 1:], cells[:, 1:].min(axis=2), np.inf).min(axis=1)
    letters = np.zeros(len(keys), bool)
    maybe = np.flatnonzero(above.min(axis=1) - lowest > WHITER_THAN_BAR)
    if len(maybe):
        # the bar's median colour and brightness (luma as a fourth channel: one median)
        body = median_where(np.concatenate([cells[maybe], luma[column, rows][maybe, :, None]], axis=2),
                            in_bar[maybe, :, None])
        whiteness = above[maybe].min(axis=1) - body[:, :3].min(axis=1)
        darker = luma[keys[maybe], index[maybe]] < ratio * body[:, 3]
        letters[maybe] = (whiteness > WHITER_THAN_BAR) & ~darker | (whiteness > WHITE_LETTER)
    return letters


def median_where(values: NDArray[np.float32] | NDArray[np.float64],
                  valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The median along axis 1 of ``values`` where ``valid`` (broadcast to them; at least one per row): of each
    row's cells, those of one bar."""
    ordered = np.sort(np.where(valid, values, np.inf), axis=1)  # the invalid ones last
    count = valid.sum(axis=1, keepdims=True)
    low = np.take_along_axis(ordered, (count - 1) // 2, axis=1)
    high = np.take_along_axis(ordered, count // 2, axis=1)
    return np.asarray((low + high)[:, 0] / 2, dtype=np.float64)


def dip_luma(luma: NDArray[np.float32] | NDArray[np.float64], keys: NDArray[np.intp],
             edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """The darkest ``luma[K, R]`` of the two rows below each front (``keys``, ``edges`` from :func:`find_fronts`):
    what is below it (an outline, background)."""
    row = edges.astype(np.intp)  # (edges are not negative: the floor)
    cells = luma.ravel()
    index = keys * luma.shape[1] + row
    return np.asarray(np.minimum(cells[index], cells[index - (row > 0)]), dtype=np.float64)


def _brightest_below(luma: NDArray[np.float32] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Per cell of ``luma[K, R]``, the brightest of the cells BELOW_ROWS below it (0 where none)."""
    nearest, farthest = BELOW_ROWS
    brightest = np.zeros(luma.shape)
    for rows in range(nearest, farthest + 1):
        np.maximum(brightest[:, rows:], luma[:, :-rows], out=brightest[:, rows:])
    return brightest


def _median(values: list[float]) -> float:
    """The median of a few values (statistics' and numpy's cost more in overhead)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _median_of_next3(values: NDArray[np.float32] | NDArray[np.float64]) -> NDArray[np.float64]:
    a, b, c = values[:, 1:-2], values[:, 2:-1], values[:, 3:]
    return np.asarray(np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c)), dtype=np.float64)


class FrontTracker:
    """Fronts per key; :meth:`see` each frame's fronts, then take those that reached the keys from :meth:`arrived`.

    ``hit_row``: where on the band's row scale (may be negative, below row 0) a bar's front is when its note
    starts."""

    def __init__(self, n_keys: int, hit_row: float, pair_span: float | None = None) -> None:
        self.hit_row = hit_row
        self.pair_span = pair_span  # two sightings this far apart (seconds) also confirm a front, if given
        self.needed = MIN_SIGHTINGS  # sightings that confirm a front (see :meth:`expect`)
        self.rows_per_s = 0.0  # the speed the fronts' arrivals were predicted at
        self.fronts: list[list[Front]] = [[] for _ in range(n_keys)]
        self.waiting: set[int] = set()  # keys with fronts on the way
        self.before: dict[int, list[_Edge]] = {}  # each key's edges in the frame before
        self.unconfirmed: dict[int, list[Front]] = {}  # per key: fronts seen too rarely that reached it (last call)

    def see(self, t: float, keys: NDArray[np.intp], edges: NDArray[np.float64], band: FloatArray,
            rows_per_s: float, step: float, gap: float | None = None,
            dips: NDArray[np.float64] | None = None, letters: NDArray[np.bool_] | None = None) -> None:
        """Add the fronts found in the frame at ``t`` (``band[K, R, 3]``: its normalised band); ``step`` is the
        video's frame interval, ``gap`` the time since the frame seen before (``step`` when every frame is seen);
        ``dips``: :func:`dip_luma` of each front (a front where one stood before but darker below it is new)."""
        if rows_per_s != self.rows_per_s:  # measured better: a front followed from before the change keeps its arrival
            self.rows_per_s = rows_per_s
            for key in self.waiting:
                for front in self.fronts[key]:
                    front.predict(rows_per_s, self.hit_row)
        agree = min(0.5 * step, max(AGREE_FRAMES * step, ROW_NOISE / rows_per_s))
        arrivals = t + (edges - self.hit_row) / rows_per_s
        last_row = band.shape[1] - 1
        before, self.before = self.before, {}
        fall = rows_per_s * (step if gap is None else gap)  # rows a front falls between this sample and the last
        still_rows = max(STILL_ROWS, STILL_SHARE * fall) if every_frame(gap, step) else STILL_ROWS
        still_check = fall > 2 * still_rows  # else falling fronts look still
        below = [0.0] * len(keys) if dips is None else dips.tolist()
        lettered = [False] * len(keys) if letters is None else letters.tolist()
        for key, edge, arrival, dip, letter in zip(keys.tolist(), edges.tolist(), arrivals.tolist(), below, lettered,
                                                   strict=True):
            near = [b for b in before.get(key, ()) if abs(edge - b.row) <= still_rows]
            current = _Edge(edge, dip)
            self.before.setdefault(key, []).append(current)
            stood = next((b for b in near if dip > b.dip - DARKER), None) if still_check else None
            if stood is not None:  # an edge of what stands behind a translucent bar, a logo, a resting hand
                self._stood_still(key, current, stood)
                continue
            if letter:
                continue
            known = self.fronts[key]
            # the front whose arrival it predicts best: a stray sighting that started a front of its own beside a
            # real one must not take the real one's sightings
            match = min((f for f in known if f.seen_at < t and abs(f.arrival - arrival) <= agree
                         and abs(f.first_arrival - arrival) <= 1.5 * agree),
                        key=lambda f: abs(f.arrival - arrival), default=None)
            if match is None:  # a new front: its colour is read here, away from glow at the keys
                inside = min(int(edge) + 1, last_row - 1)
                match = Front(arrival, arrival, 1, t, edge, band[key, inside: inside + 2].mean(axis=0), t, edge,
                              [(t, edge)], [arrival])
                known.append(match)
                self.waiting.add(key)
            else:
                match.seen(t, edge, arrival)
            if not near:  # showed where nothing stood: taken back if it stands still from now on
                current.counted = (match, t, edge)

    def _stood_still(self, key: int, current: _Edge, stood: _Edge) -> None:
        """``current`` stands where ``stood`` stood the sample before: after TAKE_BACK_AFTER samples, the sighting
        its first showing gave is taken back (a front it alone made is forgotten)."""
        current.counted, current.still_for = stood.counted, stood.still_for + 1
        if current.counted is None or current.still_for < TAKE_BACK_AFTER:
            return
        front, t, row = current.counted
        current.counted = None
        front.take_back(t, row)
        if front.sightings <= 0 and front in self.fronts[key]:
            self.fronts[key].remove(front)

    def expect(self, samples: float, all_frames: bool = True) -> None:
        """A front stays in the band for about ``samples`` samples: ask for more sightings where it is seen in many
        and every frame is read (from reference frames at 720p60, 4 sightings lost 2 of 128 legato repeats)."""
        self.needed = MANY_SIGHTINGS if samples >= EXPECTED_FOR_MANY and all_frames else MIN_SIGHTINGS

    def arrived(self, t: float) -> list[tuple[int, Front]]:
        """(key, front) of the fronts seen often enough that reached the keys by ``t``, in time order; fronts
        that reached them without being seen enough are forgotten (kept in ``unconfirmed`` until the next call)."""
        due: list[tuple[int, Front]] = []
        self.unconfirmed = {}
        for key in list(self.waiting):
            known = self.fronts[key]
            for front in known:
                if front.arrival <= t:
                    if self._confirmed(front):
                        due.append((key, front))
                    else:
                        self.unconfirmed.setdefault(key, []).append(front)
            known[:] = [f for f in known if f.arrival > t]
            if not known:
                self.waiting.discard(key)
        return sorted(due, key=lambda d: d[1].arrival)

    def _confirmed(self, front: Front) -> bool:
        if front.sightings >= self.needed:
            return True
        span = self.pair_span
        return span is not None and front.sightings >= 2 and front.seen_at - front.first_seen_at >= span

    def clear(self) -> None:
        for key in self.waiting:
            self.fronts[key].clear()
        self.waiting.clear()
        self.before.clear()
        self.unconfirmed.clear()
