"""Synthetic performers: keypoint tracks with known note times, to measure music-from-motion timing.

A seated player faces the camera (1280x720, shoulders about 200 px apart); one hand makes the
sound-making motion of a gesture while the rest of the body sways a little:

- ``bow``: the right wrist draws the bow left and right at a steady speed, turning at every note;
- ``strum``: the right wrist sweeps down and up, crossing the strings (fastest) at every note;
- ``pluck``: the right index fingertip flicks quickly at every note and drifts back slowly;
- ``strike``: the hands lift and fall onto a drum, hitting at every note (alternating hands);
- ``tap``: the right index fingertip lifts and taps down at every note, the hand still.

Detection noise (Gaussian jitter in pixels, short dropouts) and the detector's One Euro smoothing are
applied, so the tracks look like ``vmb landmarks`` output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.landmarks import DEFAULT_SMOOTHING, N_POSE_POINTS, POSE_NAMES, LandmarkTracks
from bridge.smoothing import smooth_track

IMAGE_SIZE = (1280, 720)
SHOULDER_PX = 200.0
SYNTH_GESTURES = ("bow", "strum", "pluck", "strike", "tap")
_RIGHT, _LEFT = 1, 0  # hand slots


@dataclass(frozen=True, slots=True)
class SyntheticPerformance:
    gesture: str
    tracks: LandmarkTracks
    onsets: NDArray[np.float64]
    velocities: NDArray[np.int64]


def _rhythm(rng: np.random.Generator, duration: float, gesture: str) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Note times on a beat grid at a random tempo (80-140 BPM), with rests; velocities 40-120."""
    beat = 60.0 / rng.uniform(80, 140)
    choices = [0.5, 1.0, 1.0, 2.0] if gesture in ("bow", "pluck") else [0.5, 0.5, 1.0, 1.0, 2.0]
    last = max(duration - 0.5, 0.5)
    times = [min(0.5, duration / 2)]
    while times[-1] + beat * 0.5 <= last:
        times.append(times[-1] + beat * float(rng.choice(choices)))
    onsets = np.array([t for t in times if t <= last] or times[:1])
    return onsets, rng.integers(40, 121, len(onsets))


def _base_pose() -> NDArray[np.float64]:
    """33 pose points (x, y) of a seated player facing the camera; the player's right is the image left."""
    cx, top = IMAGE_SIZE[0] / 2, 150.0
    half = SHOULDER_PX / 2
    points = {
        "nose": (cx, top), "left_eye_inner": (cx + 10, top - 12), "left_eye": (cx + 20, top - 12),
        "left_eye_outer": (cx + 30, top - 12), "right_eye_inner": (cx - 10, top - 12), "right_eye": (cx - 20, top - 12),
        "right_eye_outer": (cx - 30, top - 12), "left_ear": (cx + 45, top - 5), "right_ear": (cx - 45, top - 5),
        "mouth_left": (cx + 15, top + 25), "mouth_right": (cx - 15, top + 25),
        "left_shoulder": (cx + half, top + 110), "right_shoulder": (cx - half, top + 110),
        "left_elbow": (cx + half + 30, top + 250), "right_elbow": (cx - half - 30, top + 250),
        "left_wrist": (cx + half - 20, top + 330), "right_wrist": (cx - half + 20, top + 330),
        "left_hip": (cx + 70, top + 400), "right_hip": (cx - 70, top + 400),
        "left_knee": (cx + 80, top + 520), "right_knee": (cx - 80, top + 520),
        "left_ankle": (cx + 80, top + 560), "right_ankle": (cx - 80, top + 560),
    }
    pose = np.zeros((N_POSE_POINTS, 2))
    for i, name in enumerate(POSE_NAMES):
        side = name.split("_")[0]
        if name in points:
            pose[i] = points[name]
        elif side in ("left", "right"):  # hand and foot ends sit at the wrist / ankle
            anchor = "wrist" if any(k in name for k in ("pinky", "index", "thumb")) else "ankle"
            pose[i] = points[f"{side}_{anchor}"]
    return pose


def _hand_shape(slot: int) -> NDArray[np.float64]:
    """21 points relative to the wrist (pixels), fingers up, palm length 60 px; the thumb points inwards."""
    side = 1.0 if slot == _RIGHT else -1.0
    shape = np.zeros((21, 2))
    for finger in range(5):
        base = np.array([side * (finger - 2) * 14.0, -60.0 + abs(finger - 2) * 5.0])
        if finger == 0:
            base = np.array([side * -25.0, -30.0])
        direction = np.array([side * (finger - 2) * 0.15, -1.0])
        for joint in range(4):
            shape[1 + 4 * finger + joint] = base + direction * 16.0 * joint
    return shape


def _bow(t: NDArray[np.float64], onsets: NDArray[np.float64], velocity: NDArray[np.int64]) -> NDArray[np.float64]:
    """Bow position (px along x): a constant-speed stroke from each note to the next, turning at notes."""
    length = 160.0 * (0.4 + 0.6 * velocity / 127.0)
    ends = np.append(onsets[1:], onsets[-1] + 1.0)
    knots_t, knots_x, x = [0.0], [0.0], 0.0
    for k, (start, end) in enumerate(zip(onsets, ends, strict=True)):
        stroke_time = min(end - start, 1.2)
        knots_t.append(float(start))
        knots_x.append(x)
        x += (-1) ** k * float(length[k])
        knots_t.append(float(start + stroke_time - 1e-3))
        knots_x.append(x)
    return np.interp(t, knots_t, knots_x) - np.mean(knots_x)


def _sweeps(t: NDArray[np.float64], onsets: NDArray[np.float64], amplitude: NDArray[np.float64],
            duration: float, alternate: bool, back: float) -> NDArray[np.float64]:
    """Half-cosine sweeps centred on each note (fastest there); ``alternate`` flips direction each time,
    else each sweep returns over ``back`` seconds."""
    position = np.zeros_like(t)
    level = 0.0
    gaps = np.diff(np.append(onsets, onsets[-1] + 10.0))
    for k, centre in enumerate(onsets):
        span = min(duration, 0.8 * float(gaps[k]))
        sign = (-1.0) ** k if alternate else 1.0
        target = sign * float(amplitude[k]) if alternate else level + float(amplitude[k])
        u = np.clip((t - (centre - span / 2)) / span, 0.0, 1.0)
        step = (target - level) * (1 - np.cos(np.pi * u)) / 2
        if not alternate:
            ret = min(back, 0.9 * float(gaps[k]) - span / 2)
            r = np.clip((t - (centre + span / 2)) / max(ret, 1e-3), 0.0, 1.0)
            step = step - (target - level) * (1 - np.cos(np.pi * r)) / 2
            target = level
        position += step
        level = target
    return position


def _strikes(t: NDArray[np.float64], onsets: NDArray[np.float64], velocity: NDArray[np.int64],
             height: float) -> NDArray[np.float64]:
    """Lift above the impact line (px, negative = up): the hand rises, then falls faster and faster to hit."""
    lift = np.full_like(t, -height * 0.5)
    for k, hit in enumerate(onsets):
        gap_before = hit - (onsets[k - 1] if k else hit - 1.0)
        fall = min(0.18, 0.45 * gap_before)
        top = -height * (0.3 + 0.7 * velocity[k] / 127.0)
        falling = (t > hit - fall) & (t <= hit)
        lift[falling] = top * ((hit - t[falling]) / fall) ** 2
        rising = (t > hit) & (t <= hit + fall)
        lift[rising] = top * 0.5 * np.sin(np.pi / 2 * (t[rising] - hit) / fall)
    return lift


def _motion(gesture: str, t: NDArray[np.float64], onsets: NDArray[np.float64],
            velocity: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Offsets (px) of the right wrist, the left wrist, and the right index tip relative to its hand."""
    zero = np.zeros((len(t), 2))
    right, left, tip = zero.copy(), zero.copy(), zero.copy()
    scale = 0.4 + 0.6 * velocity / 127.0
    if gesture == "bow":
        right[:, 0] = _bow(t, onsets, velocity)
    elif gesture == "strum":
        right[:, 1] = _sweeps(t, onsets, 70.0 * scale, 0.16, alternate=True, back=0.0)
    elif gesture == "pluck":
        tip[:, 1] = _sweeps(t, onsets, 30.0 * scale, 0.06, alternate=False, back=0.3)
    elif gesture == "strike":
        hands = np.arange(len(onsets)) % 2
        right[:, 1] = _strikes(t, onsets[hands == 0], velocity[hands == 0], 150.0)
        left[:, 1] = _strikes(t, onsets[hands == 1], velocity[hands == 1], 150.0)
    elif gesture == "tap":
        tip[:, 1] = _strikes(t, onsets, velocity, 40.0)
    else:
        raise VmbError(f"synthetic gesture {gesture!r} is unknown: use one of {', '.join(SYNTH_GESTURES)}")
    return right, left, tip


def synthesize(gesture: str, duration: float = 20.0, fps: float = 30.0, seed: int = 0, noise_px: float = 1.5,
               dropout: float = 0.01) -> SyntheticPerformance:
    """Tracks of one synthetic performance and its true note times (``dropout``: chance per frame that a
    2-4 frame detection gap starts)."""
    rng = np.random.default_rng([seed, SYNTH_GESTURES.index(gesture) if gesture in SYNTH_GESTURES else 99])
    onsets, velocity = _rhythm(rng, duration, gesture)
    t = np.arange(round(duration * fps)) / fps
    right, left, tip = _motion(gesture, t, onsets, velocity)
    sway = 6.0 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))[:, None] * np.array([1.0, 0.3])
    pose = np.repeat(_base_pose()[None], len(t), axis=0) + sway[:, None, :]
    for name, offset in (("right", right), ("left", left)):
        for joint in ("wrist", "pinky", "index", "thumb"):
            pose[:, POSE_NAMES.index(f"{name}_{joint}")] += offset
        pose[:, POSE_NAMES.index(f"{name}_elbow")] += offset * 0.4
    hands = np.full((len(t), 2, 21, 3), np.nan)
    for slot, wrist_name in ((_LEFT, "left_wrist"), (_RIGHT, "right_wrist")):
        hands[:, slot, :, :2] = pose[:, POSE_NAMES.index(wrist_name)][:, None, :] + _hand_shape(slot)[None]
        hands[:, slot, :, 2] = 0.0
    hands[:, _RIGHT, 8, :2] += tip
    hands[:, _RIGHT, 7, :2] += tip * 0.5
    pose4 = np.concatenate([pose, np.zeros((len(t), N_POSE_POINTS, 1)), np.ones((len(t), N_POSE_POINTS, 1))], axis=2)
    hands, pose4 = _detector_noise(rng, t, hands, pose4, noise_px, dropout)
    tracks = LandmarkTracks(t, hands.astype(np.float32), np.where(np.isfinite(hands[:, :, 0, 0]), 0.95, 0.0)
                            .astype(np.float32), IMAGE_SIZE, np.full(len(t), 120.0, np.float32),
                            pose4.astype(np.float32))
    return SyntheticPerformance(gesture, tracks, onsets, velocity)


def _detector_noise(rng: np.random.Generator, t: NDArray[np.float64], hands: NDArray[np.float64],
                    pose: NDArray[np.float64], noise_px: float,
                    dropout: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Jitter, short dropouts per hand, then the detector's causal smoothing."""
    hands = hands + rng.normal(0, noise_px, hands.shape) * np.array([1.0, 1.0, 0.0])
    pose = pose.copy()
    pose[..., :2] += rng.normal(0, noise_px, pose[..., :2].shape)
    for slot in range(2):
        for start in np.flatnonzero(rng.random(len(t)) < dropout):
            hands[start:start + int(rng.integers(2, 5)), slot] = np.nan
        hands[:, slot] = smooth_track(t, hands[:, slot], DEFAULT_SMOOTHING)
    pose[..., :3] = smooth_track(t, pose[..., :3], DEFAULT_SMOOTHING)
    return hands, pose


def tracks_from_synth_labels(labels: Path | str | Mapping[str, Any]) -> tuple[LandmarkTracks, NDArray[np.float64]]:
    """The exact hand tracks of ``vmb synth`` labels (a ``.npz`` file or ``render_frames``' dict), as if detected
    perfectly, and the note onset times (notes starting within 30 ms of each other count once)."""
    if not isinstance(labels, Mapping):
        with np.load(labels) as data:
            return tracks_from_synth_labels({k: data[k] for k in data.files})
    t = np.asarray(labels["frame_times"], dtype=np.float64)
    raw = np.asarray(labels["hand_landmarks"], dtype=np.float32)
    hands = raw[..., :3].copy()
    hands[raw[..., 3] < 0.5] = np.nan
    width, height = (int(v) for v in labels["size"])
    times = t[np.flatnonzero(np.asarray(labels["onsets"]).any(axis=1))]
    keep = np.concatenate([[True], np.diff(times) > 0.03]) if len(times) else np.zeros(0, bool)
    found = np.isfinite(hands[..., 0]).any(axis=2)  # any landmark in the picture (the wrist may be outside it)
    tracks = LandmarkTracks(t, hands, found.astype(np.float32), (width, height), np.full(len(t), 120.0, np.float32))
    return tracks, times[keep]
