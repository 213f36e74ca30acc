"""Rendering notes to frames and labels: the keyboard, key presses, hands, falling bars, light and noise."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.geometry import N_PIANO_KEYS, STANDARD_SIZES, WHITE_KEY_LENGTH_MM, KeyLayout, apply_homography
from bridge.synth import hands as hand_model
from bridge.synth.camera import pixels_per_mm, plane_to_image
from bridge.synth.keyboard import KeyboardLayers, build_layers, compose
from bridge.synth.style import StyleParams, sample_style, style_rng
from bridge.synth.video import H264Writer
from bridge.types import Note, PianoRoll

log = logging.getLogger(__name__)
MIN_SIZE = (160, 90)
BAR_SECONDS = 2.5


@dataclass(frozen=True, slots=True)
class RenderConfig:
    style: str = "grand"
    seed: int = 0
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    start: float = 0.0
    duration: float | None = None
    n_keys: int | None = None

    def __post_init__(self) -> None:
        width, height = self.size
        if width < MIN_SIZE[0] or height < MIN_SIZE[1] or width % 2 or height % 2:
            raise VmbError(f"video size {width}x{height} is too small or odd: use even sizes of at least "
                           f"{MIN_SIZE[0]}x{MIN_SIZE[1]}, for example 1280x720")
        if not 1.0 <= self.fps <= 240.0:
            raise VmbError(f"frame rate {self.fps} is out of range: use 1-240, for example 30")
        if self.start < 0 or (self.duration is not None and self.duration <= 0):
            raise VmbError("--start must be >= 0 and --duration > 0 seconds")


@dataclass(frozen=True, slots=True)
class Scene:
    layout: KeyLayout
    style: StyleParams
    homography: NDArray[np.float64]  # plane mm -> image pixels
    roll: PianoRoll  # 88 keys from A0
    hand_of: NDArray[np.int8]  # per frame and key: 0 left, 1 right
    timestamps: NDArray[np.float64]
    size: tuple[int, int]


def _clip_notes(notes: Sequence[Note], start: float, duration: float) -> list[Note]:
    out = []
    for n in notes:
        s, e = max(n.start, start) - start, min(n.end, start + duration) - start
        if e > s:
            out.append(Note(s, e, n.pitch, n.velocity, n.channel))
    return out


def _choose_layout(notes: Sequence[Note], config: RenderConfig, rng: np.random.Generator) -> KeyLayout:
    low = min((n.pitch for n in notes), default=60)
    high = max((n.pitch for n in notes), default=60)
    if config.n_keys is not None:
        layout = KeyLayout.standard(config.n_keys)
        if low < layout.lowest_pitch or high > layout.highest_pitch:
            raise VmbError(f"notes span MIDI {low}-{high}, outside a {config.n_keys}-key keyboard "
                           f"({layout.lowest_pitch}-{layout.highest_pitch}): use more keys or transpose the MIDI")
        return layout
    if low < 21 or high > 108:
        raise VmbError(f"notes span MIDI {low}-{high}, outside the 88 piano keys (21-108): transpose the MIDI")
    fits = [n for n, (lo, hi) in STANDARD_SIZES.items() if lo <= low and high <= hi and n >= 49]
    if config.style in ("grand", "upright", "synthesia", "hybrid") or rng.random() < 0.5:
        return KeyLayout.standard(N_PIANO_KEYS)
    return KeyLayout.standard(int(rng.choice(sorted(fits))))


def build_scene(notes: Sequence[Note], config: RenderConfig) -> Scene:
    """Everything per video that the frames need: layout, style, camera and the labelled roll."""
    if not notes:
        raise VmbError("the MIDI file has no notes: give a file with at least one note")
    end = max(n.end for n in notes)
    duration = config.duration if config.duration is not None else max(end - config.start, 0.0)
    clipped = _clip_notes(notes, config.start, duration)
    if duration <= 0:
        raise VmbError(f"--start {config.start} is after the last note ({end:.2f}s): start earlier")
    style = sample_style(config.style, config.seed)
    rng = style_rng(config.style + "/layout", config.seed)
    layout = _choose_layout(notes, config, rng)
    homography = plane_to_image(layout, config.size, style.fill, style.centre_y, style.tilt_deg, style.roll_deg)
    n_frames = max(1, round(duration * config.fps))
    roll = PianoRoll.from_notes(clipped, config.fps, 21, N_PIANO_KEYS, n_frames)
    for note in notes:  # a note already sounding at --start has no onset in this clip
        if note.start < config.start < note.end and 21 <= note.pitch <= 108:
            roll.onset[0, note.pitch - 21] = False
    hand_of = np.zeros(roll.velocity.shape, np.int8)
    hand_of[:, hand_model.SPLIT_PITCH - 21:] = 1
    timestamps = np.arange(n_frames, dtype=np.float64) / config.fps
    return Scene(layout, style, homography, roll, hand_of, timestamps, config.size)


def _held(scene: Scene, frame: int) -> list[int]:
    return [21 + int(k) for k in np.flatnonzero(scene.roll.active[frame])]


def _hand_tracks(scene: Scene) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per frame, both hands: 21 x 3 points in mm (x, y, height) and the pixel landmarks with visibility."""
    n = scene.roll.n_frames
    ppm = pixels_per_mm(scene.homography, scene.layout)
    held = [_held(scene, i) for i in range(n)]
    mm = np.zeros((n, 2, 21, 3))
    pixels = np.zeros((n, 2, 21, 4))
    for hand in (0, 1):
        per_hand = [[p for p in h if (p >= hand_model.SPLIT_PITCH) == bool(hand)] for h in held]
        centres = hand_model.hand_centres(per_hand, scene.layout, hand)
        for i in range(n):
            fingers = hand_model.assign_fingers(per_hand[i], scene.layout, hand)
            mm[i, hand] = hand_model.skeleton_mm(float(centres[i]), fingers, scene.layout, hand)
            pixels[i, hand, :, :3] = hand_model.project(mm[i, hand], scene.homography, ppm)
    w, h = scene.size
    inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < w) & (pixels[..., 1] >= 0) & (pixels[..., 1] < h)
    pixels[..., 3] = inside.astype(np.float64)
    return mm, pixels


def _draw_bars(img: NDArray[np.uint8], scene: Scene, t: float, fps: float) -> None:
    """Falling note bars above the keyboard: a note reaches the key tops when it starts."""
    top = apply_homography(scene.homography, np.array([[0.0, -6.0], [scene.layout.width_mm, -6.0]]))
    y_keys = float(top[:, 1].min())
    speed = y_keys / BAR_SECONDS
    roll = scene.roll
    first = int(t * fps)
    last = min(roll.n_frames, int((t + BAR_SECONDS) * fps) + 1)
    above = img[: max(int(y_keys), 0)]
    np.right_shift(above, 1, out=above)  # dim the room behind the bars
    active = roll.active[first:last]
    for key in np.flatnonzero(active.any(axis=0)):
        pitch = 21 + int(key)
        if pitch not in scene.layout.pitches:
            continue
        left, right = scene.layout.x_range_mm(pitch)
        xs = apply_homography(scene.homography, np.array([[left, 0.0], [right, 0.0]]))[:, 0]
        column = active[:, key]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], column.astype(np.int8), [0]])))
        colour = scene.style.left_bar_colour if pitch < hand_model.SPLIT_PITCH else scene.style.right_bar_colour
        for s, e in zip(edges[::2], edges[1::2], strict=True):
            y1 = y_keys - ((first + s) / fps - t) * speed
            y0 = y_keys - ((first + e) / fps - t) * speed
            cv2.rectangle(img, (int(xs[0]) + 1, int(max(y0, 0))), (int(xs[1]) - 1, int(y1)), colour, -1, cv2.LINE_AA)


def render_frames(notes: Sequence[Note], config: RenderConfig,
                  ) -> tuple[Scene, Iterator[NDArray[np.uint8]], dict[str, Any]]:
    """The scene, a lazy iterator of BGR frames, and the label arrays (hand landmarks included)."""
    scene = build_scene(notes, config)
    style = scene.style
    ppm = pixels_per_mm(scene.homography, scene.layout)
    layers = build_layers(scene.layout, style, scene.homography, config.size, ppm)
    _, pixels = _hand_tracks(scene)
    labels = _labels(scene, pixels, config)
    return scene, _frames(scene, layers, pixels, ppm, config), labels


def _frames(scene: Scene, layers: KeyboardLayers, pixels: NDArray[np.float64], ppm: float,
            config: RenderConfig) -> Iterator[NDArray[np.uint8]]:
    style = scene.style
    rng = style_rng(style.name + "/frames", style.seed)
    width, height = config.size
    noise = [rng.normal(0.0, style.noise_sigma, (height, width, 3)) for _ in range(4)]
    noise_pairs = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)) for n in noise]
    gains = 1.0 + rng.normal(0.0, style.flicker, scene.roll.n_frames)
    picks = rng.integers(0, len(noise_pairs), scene.roll.n_frames)
    for i in range(scene.roll.n_frames):
        pressed = {p: int(scene.hand_of[i, p - 21]) for p in _held(scene, i)}
        img = compose(layers, pressed)
        if style.bars:
            _draw_bars(img, scene, float(scene.timestamps[i]), config.fps)
        if style.hands:
            for hand in (0, 1):
                hand_model.draw_shadow(img, pixels[i, hand, :, :3].astype(np.float32), ppm, style.shadow_offset,
                                       style.shadow_strength)
            for hand in (0, 1):
                hand_model.draw_hand(img, pixels[i, hand, :, :3].astype(np.float32), ppm, style.skin_colour,
                                     style.sleeve_colour)
        if style.flicker > 0:
            img = np.asarray(cv2.convertScaleAbs(img, alpha=float(gains[i])), dtype=np.uint8)
        if style.noise_sigma > 0:
            plus, minus = noise_pairs[int(picks[i])]
            img = np.asarray(cv2.subtract(cv2.add(img, plus), minus), dtype=np.uint8)
        yield np.asarray(img, dtype=np.uint8)


def _labels(scene: Scene, pixels: NDArray[np.float64], config: RenderConfig) -> dict[str, Any]:
    roll = scene.roll
    active = roll.active
    after = np.zeros_like(active)
    after[:-1] = active[1:]
    offsets = active & (~after | np.roll(roll.onset, -1, axis=0))
    offsets[-1] = False
    corners_mm = np.array([[0.0, 0.0], [scene.layout.width_mm, 0.0], [scene.layout.width_mm, WHITE_KEY_LENGTH_MM],
                           [0.0, WHITE_KEY_LENGTH_MM]])
    return {
        "frame_times": scene.timestamps,
        "key_state": active,
        "onsets": roll.onset,
        "offsets": offsets,
        "velocities": roll.velocity,
        "hand_of_key": scene.hand_of,
        "hand_landmarks": pixels.astype(np.float32),
        "homography": scene.homography,
        "image_to_plane": np.linalg.inv(scene.homography),
        "keyboard_corners": apply_homography(scene.homography, corners_mm),
        "lowest_pitch": np.int32(scene.layout.lowest_pitch),
        "key_count": np.int32(scene.layout.n_keys),
        "fps": np.float64(config.fps),
        "size": np.array(config.size, np.int32),
        "style_params": json.dumps(scene.style.to_dict()),
    }


def render_to_files(notes: Sequence[Note], config: RenderConfig, video: Path, labels_path: Path | None,
                    sustain: Sequence[tuple[float, bool]] = ()) -> dict[str, Any]:
    """Render and encode the video; write the labels (.npz) if asked. Returns the labels."""
    scene, frames, labels = render_frames(notes, config)
    times = scene.timestamps + config.start
    pedal = np.zeros(len(times), bool)
    for t, down in sorted(sustain):
        pedal[times >= t] = down
    labels["sustain"] = pedal
    with H264Writer(video, config.size, config.fps, scene.style.crf) as writer:
        for frame in frames:
            writer.write(frame)
    if labels_path is not None:
        np.savez_compressed(labels_path, **labels)
    log.info("wrote %s (%d frames)", video, scene.roll.n_frames)
    return labels
