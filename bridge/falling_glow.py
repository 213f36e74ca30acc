"""Re-strikes told by a key's glow: many falling-notes videos light a glow where a bar meets a struck key.

The glow is brightest when the key is struck and fades a step at a time while the note sounds, so a sounding
key whose glow flares again was struck again, also where the outline between two touching bars (a legato
re-strike) is too thin or too hidden (hands, the glow itself) to be followed down the band three times. A flare
alone could be a hand leaving the band or a flicker, so it counts only with a front of the key seen arriving
meanwhile (``bridge.falling_fronts``: seen too rarely to count alone), which also times it, and only when it
stays in the next sample. Faint flares (a re-strike soon after the last, whose glow has hardly faded) count in
videos whose keys glow at all, with a front seen twice: a glow lights the band of the key's white neighbours too,
which a bar (as wide as its key) does not reach.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.falling_fronts import Front
from bridge.falling_sampling import FloatArray, SamplePoints
from bridge.geometry import is_black

LUMA = np.array([0.114, 0.587, 0.299], np.float32)  # BGR weights of brightness
RISE = 0.06  # the glow rows brighten this much (normalised luma) when a sounding key's glow flares again
FAINT_RISE = 0.01  # in videos whose keys glow, a fainter flare counts with a front seen twice
NEIGHBOURS = 2  # a flare is its key's own when no lit key this close brightens clearly more (glows spread)
SHARE = 0.8  # (a black key's column lies at the edge of its white neighbours' glows: about as bright)
COSINE = 0.7  # a glow added to a bar saturates: its colour is the bar's, less exactly
STAYS = 0.9  # a flare keeps this share of its rise in the next sample (a glow fades a step at a time)
VOTES = 20  # the video glows when over a third of the last notes started this many lit their neighbours' bands
NEIGHBOUR_SHARE = 0.15  # a glow lights a white neighbour's glow rows by at least this share of the key's own


@dataclass(frozen=True, slots=True)
class Sounding:
    start: float
    colour: FloatArray  # the bar's normalised colour


class GlowWatch:
    """Per sample, :meth:`see` gives the re-strikes (key, time) that the glow confirmed; :meth:`vote` at each note
    start learns whether the video's keys glow; :meth:`reset` after an unreadable stretch."""

    def __init__(self, points: SamplePoints) -> None:
        n_keys = points.n_keys
        self.rows = points.glow_rows  # the band rows next to the keys that a glow lights
        self.before: FloatArray | None = None  # (K, 3) the glow rows' colour in the sample before
        self.brighter = np.zeros(n_keys)  # how much each key's glow rows brightened since the sample before
        self.peak = np.zeros(n_keys)  # the brightest each key's glow rows were since its note started
        self.flares: dict[int, tuple[float, float, float]] = {}  # per key: re-strike time, brightness and rise
        self.loose: dict[int, list[Front]] = {}  # per key, fronts seen too rarely that reached it lately
        self.votes: deque[bool] = deque(maxlen=VOTES)
        self.glows = False  # whether this video's keys glow when struck
        self.white_neighbours = _white_neighbours(points)

    def reset(self) -> None:
        self.before = None
        self.flares = {}

    def see(self, t: float, gap: float, step: float, band: FloatArray, lit: NDArray[np.bool_],
            sounding: Mapping[int, Sounding], unconfirmed: Mapping[int, list[Front]]) -> list[tuple[int, float]]:
        """Re-strikes (key, time) of sounding keys: the flares of the sample before that stayed; records this
        sample's flares. ``unconfirmed``: the fronts that reached the keys since the sample before without being
        seen often enough to count alone."""
        glow = band[:, :self.rows].mean(axis=1)
        before, self.before = self.before, glow
        for key, fronts in unconfirmed.items():
            self.loose.setdefault(key, []).extend(fronts)
        self.loose = {k: kept for k, f in self.loose.items() if (kept := [x for x in f if x.arrival > t - 2 * gap])}
        flares, self.flares = self.flares, {}
        if before is None:
            return []
        brightness = glow @ LUMA
        self.brighter = brightness - before @ LUMA
        peak = self.peak  # since each sounding note started, up to the sample before
        is_sounding = np.zeros(len(brightness), bool)
        is_sounding[list(sounding)] = True
        self.peak = np.where(is_sounding, np.maximum(peak, brightness), brightness)
        restrikes = [(key, when) for key, (when, level, rise) in flares.items()
                     if key in sounding and sounding[key].start < when and brightness[key] >= level - STAYS * rise]
        for key, _ in restrikes:
            self.peak[key] = brightness[key]
        if sounding:
            self._find_flares(t, gap, step, glow, before, brightness, peak, lit, sounding)
        return restrikes

    def _find_flares(self, t: float, gap: float, step: float, glow: FloatArray, before: FloatArray,
                     brightness: NDArray[np.float32], peak: NDArray[np.float64], lit: NDArray[np.bool_],
                     sounding: Mapping[int, Sounding]) -> None:
        brighter = self.brighter
        # a glow flares back to about where it was when its note started, having faded since: a bar settling
        # (motion blur, a gradient) brightens past what it has shown before
        faded = peak - (brightness - brighter) >= brighter / 2
        own = np.where(lit & faded, brighter, -np.inf)  # only a lit key glows: an unlit neighbour sees the same rise
        flared = own > (FAINT_RISE if self.glows else RISE)
        if not flared.any():
            return
        spread = own.copy()
        for shift in range(1, NEIGHBOURS + 1):
            np.maximum(spread[shift:], own[:-shift], out=spread[shift:])
            np.maximum(spread[:-shift], own[shift:], out=spread[:-shift])
        # the glow flares from the first frame after a strike: a front predicted before the sample before (even by a
        # few milliseconds) is another strike, whose flare that sample showed
        since = t - gap
        for key in np.flatnonzero(flared & (own >= SHARE * spread)).tolist():
            note = sounding.get(key)
            if note is None or note.start > min(since, t - 1.5 * step) or _cosine(glow[key] - before[key],
                                                                                   note.colour) <= COSINE:
                continue
            seen = 1 if own[key] > RISE else 2
            timed = [f for f in self.loose.get(key, []) if since < f.arrival <= t + 0.01 and f.sightings >= seen]
            if timed:
                when = max(timed, key=lambda f: (f.sightings, f.arrival)).arrival
                self.flares[key] = (when, float(brightness[key]), float(brighter[key]))

    def vote(self, key: int, sounding: Collection[int]) -> None:
        """A note started on ``key`` in this sample: did its glow light its white neighbours' bands?"""
        own = float(self.brighter[key])
        neighbours = [k for k in self.white_neighbours[key] if k not in sounding]
        if own < 3 * RISE or not neighbours:
            return
        self.votes.append(float(np.mean(self.brighter[neighbours])) > NEIGHBOUR_SHARE * own)
        self.glows = len(self.votes) >= 5 and sum(self.votes) > len(self.votes) / 3


def _white_neighbours(points: SamplePoints) -> list[list[int]]:
    """Per key, the nearest other white key on either side, where read."""
    index = {pitch: k for k, pitch in enumerate(points.pitches)}
    neighbours: list[list[int]] = []
    for pitch in points.pitches:
        sides = [next(p for p in (pitch + side, pitch + 2 * side) if not is_black(p)) for side in (-1, 1)]
        neighbours.append([index[p] for p in sides if p in index])
    return neighbours


def _cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms > 1e-9 else 0.0
