"""Finger strikes: a finger comes down onto its key from above just before the note starts, and lifts after it.

Per hand and finger, the frames where the fingering puts the finger on a key are cut into contacts, a new
contact at every onset of that key. Before a struck contact the finger travels over its key, lifted, then
comes down over a short approach, faster and faster, touching the key top exactly at the onset frame; after
a contact it lifts again and drifts back to its resting place when nothing follows soon. When two contacts of
one finger leave no time between them (a repeated note, a legato line by one finger), the first ends early
so the finger can lift and come down again. Lift heights scale with the note's velocity and, per video, with
the player (close legato fingers to high strikes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bridge.synth.style import style_rng

NO_KEY = -1


@dataclass(frozen=True, slots=True)
class StrikeStyle:
    """How one video's pianist strikes: lift before a full-velocity note (mm), descent, lift-off and travel (s)."""

    lift_mm: float
    approach_s: float
    release_s: float
    travel_s: float


# Lift before a full-velocity note, per video, drawn evenly on a log scale: from legato players whose fingers
# stay within 1-3 mm of the keys to players striking from 15 mm.
LIFT_RANGE_MM = (2.0, 15.0)


def strike_style(style_name: str, seed: int) -> StrikeStyle:
    rng = style_rng(style_name + "/strikes", seed)
    lift_mm = float(np.exp(rng.uniform(np.log(LIFT_RANGE_MM[0]), np.log(LIFT_RANGE_MM[1]))))
    return StrikeStyle(lift_mm=lift_mm, approach_s=float(rng.uniform(0.04, 0.08)),
                       release_s=float(rng.uniform(0.05, 0.1)), travel_s=float(rng.uniform(0.06, 0.12)))


@dataclass(slots=True)
class Contact:
    """Frames ``first``..``last`` (inclusive) with the finger on ``pitch``; ``lift_mm``/``approach_s`` > 0 when it
    is struck (starts at a note onset), 0 when the finger takes over a key already down."""

    first: int
    last: int
    pitch: int
    lift_mm: float = 0.0
    approach_s: float = 0.0


def contacts(pitch_track: NDArray[np.int64], onsets: NDArray[np.bool_], velocities: NDArray[np.uint8],
             style: StrikeStyle, rng: np.random.Generator) -> list[Contact]:
    """Runs of one key under one finger (``pitch_track[i]``, NO_KEY when free), split at the key's onsets."""
    n = len(pitch_track)
    frames = np.arange(n)
    on_key = pitch_track != NO_KEY
    keys = np.clip(pitch_track - 21, 0, onsets.shape[1] - 1)
    struck = on_key & onsets[frames, keys]
    changed = np.concatenate([[True], pitch_track[1:] != pitch_track[:-1]])
    starts = np.flatnonzero(on_key & (changed | struck))
    ends = np.flatnonzero(on_key & np.concatenate([pitch_track[1:] != pitch_track[:-1], [True]]))
    found = []
    for k, first in enumerate(starts):
        last = int(ends[np.searchsorted(ends, first)])
        last = min(last, int(starts[k + 1]) - 1) if k + 1 < len(starts) else last
        contact = Contact(int(first), last, int(pitch_track[first]))
        if struck[first]:
            loudness = float(velocities[first, keys[first]]) / 127.0
            contact.lift_mm = style.lift_mm * (0.6 + 0.4 * loudness) * float(rng.uniform(0.85, 1.15))
            contact.approach_s = style.approach_s * float(rng.uniform(0.8, 1.2))
        found.append(contact)
    return found


def make_room(found: list[Contact], times: NDArray[np.float64]) -> None:
    """End a contact early where the next one is struck too soon after it for the finger to lift and come down:
    leave at least one free frame and the approach (at most half the time between the two onsets)."""
    for before, after in itertools.pairwise(found):
        if after.approach_s <= 0:
            continue
        onset = float(times[after.first])
        room = min(after.approach_s, 0.5 * (onset - float(times[before.first])))
        latest = min(int(np.searchsorted(times, onset - room, side="right")) - 1, after.first - 2)
        before.last = max(before.first, min(before.last, latest))


def ease(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """0 to 1, starting slowly and arriving at full speed (a strike read backwards from its impact)."""
    return np.sin(0.5 * np.pi * np.clip(x, 0.0, 1.0))  # type: ignore[no-any-return]


def _smooth(x: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def fingertip_track(found: list[Contact], times: NDArray[np.float64], key_tips: dict[int, tuple[float, float]],
                    rest: NDArray[np.float64], style: StrikeStyle) -> NDArray[np.float64]:
    """Per frame (x, y, height) mm of one fingertip: on its key in a contact, else lifted between contacts and
    blended towards ``rest`` (per frame x, y, height) when no contact is near."""
    n = len(times)
    tips = rest.copy()
    if not found:
        return tips
    firsts = np.array([c.first for c in found])
    lasts = np.array([c.last for c in found])
    xy = np.array([key_tips[c.pitch] for c in found])
    frames = np.arange(n)
    inside = np.zeros(n, bool)
    for contact in found:
        inside[contact.first:contact.last + 1] = True
    after = np.searchsorted(firsts, frames, side="right")  # index of the next contact (len(found): none)
    before = after - 1  # the contact started last (-1: none); free frames lie after its end
    has_next, has_prev = after < len(found), before >= 0
    nxt, prv = np.minimum(after, len(found) - 1), np.maximum(before, 0)
    far = 1e6  # seconds: no contact on that side (finite, so the masked-out arithmetic stays clean)
    next_start = np.where(has_next, times[firsts[nxt]], far)
    prev_end = np.where(has_prev, times[lasts[prv]], -far)
    approach = np.array([c.approach_s for c in found])[nxt]
    lift = np.array([c.lift_mm for c in found])[nxt]
    struck_next = has_next & (approach > 0)
    # height between contacts: up after the last one, down (struck) onto the next; a short gap is shared
    gap = next_start - prev_end
    approach = np.where(struck_next, np.minimum(approach, np.maximum(gap / 2, gap - style.release_s)), 0.0)
    release = np.minimum(style.release_s, np.maximum(gap / 2, gap - approach))
    height_up = np.where(struck_next, lift, style.lift_mm * 0.7)
    since = (times - prev_end) / np.maximum(release, 1e-6)
    until = np.where(struck_next, (next_start - times) / np.maximum(approach, 1e-6), np.inf)
    height = np.minimum(height_up * ease(since), np.where(struck_next, lift * ease(until), np.inf))
    # position: over the last key just after it, over the next key just before it, else towards rest
    near_prev = np.where(has_prev, 1.0 - _smooth((times - prev_end - release) / style.travel_s), 0.0)
    near_next = np.where(struck_next, 1.0 - _smooth((next_start - times) / (approach + style.travel_s)), 0.0)
    weight = np.maximum(near_prev, near_next)
    moving = _smooth((times - prev_end) / np.maximum(next_start - prev_end, 1e-6))
    moving = np.where(has_prev & struck_next, moving, np.where(struck_next, 1.0, 0.0))
    key_xy = xy[prv] + (xy[nxt] - xy[prv]) * moving[:, None]
    free = np.column_stack([key_xy, height])
    tips = np.asarray(weight[:, None] * free + (1.0 - weight[:, None]) * rest, np.float64)
    held = xy[before[inside]]
    tips[inside] = np.column_stack([held, np.zeros(len(held))])
    return tips
