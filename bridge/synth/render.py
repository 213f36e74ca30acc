"""Rendering notes to frames and labels: the keyboard, key presses, hands, falling bars, light and noise."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from bridge.geometry import WHITE_KEY_LENGTH_MM, apply_homography
from bridge.midi import SUSTAIN_CC, ControlChange, Track, write_midi
from bridge.synth import hands as hand_model
from bridge.synth import strikes
from bridge.synth.bars import BarPainter, TextOverlay, fade_gain
from bridge.synth.camera import pixels_per_mm
from bridge.synth.keyboard import KeyboardLayers, build_layers, compose
from bridge.synth.scene import MIN_SIZE, RenderConfig, Scene, build_scene, clip_notes
from bridge.synth.style import style_rng
from bridge.synth.video import H264Writer, vfr_timing
from bridge.types import KeyboardGeometry, Note

__all__ = ["MIN_SIZE", "RenderConfig", "Scene", "build_scene", "clip_notes", "render_frames", "render_to_files"]

log = logging.getLogger(__name__)
HOVER_MM = 22.0
HOVER_EASE_S = 0.25
SHUTTER = 0.5  # fraction of the frame interval the shutter is open: sets the length of motion blur
BLUR_MIN_PX = 2.0
TITLE_SECONDS = 3.0


def _held(scene: Scene, frame: int) -> list[int]:
    return [21 + int(k) for k in np.flatnonzero(scene.roll.active[frame])]


def _hover(idle: NDArray[np.bool_], times: NDArray[np.float64], hand: int) -> NDArray[np.float64]:
    """Height (mm) an idle hand is lifted by: it comes down in the ~0.25 s before it plays, landing with the first
    note, and rises in the ~0.25 s after, with a slow sway."""
    busy = times[~idle]
    if not len(busy):
        distance = np.full(len(times), np.inf)
    else:
        after = np.clip(np.searchsorted(busy, times), 0, len(busy) - 1)
        before = np.clip(after - 1, 0, len(busy) - 1)
        distance = np.minimum(np.abs(busy[after] - times), np.abs(times - busy[before]))
    # full speed at the keys: the hand lands with its first note (and its resting fingers settle in that frame)
    eased = strikes.ease(distance / HOVER_EASE_S)
    sway = 1.0 + 0.25 * np.sin(2.0 * np.pi * 0.6 * times + 1.7 * hand)
    return np.asarray(HOVER_MM * eased * sway, dtype=np.float64)


def _hand_tracks(scene: Scene) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per frame, both hands: 21 x 3 points in mm (x, y, height) and the pixel landmarks with visibility."""
    n = scene.roll.n_frames
    ppm = pixels_per_mm(scene.homography, scene.layout)
    held = [_held(scene, i) for i in range(n)]
    strike_style = strikes.strike_style(scene.style.name, scene.style.seed)
    rng = style_rng(scene.style.name + "/strike-jitter", scene.style.seed)
    key_tips = {p: hand_model.key_tip_mm(scene.layout, p) for p in scene.layout.pitches}
    mm = np.zeros((n, 2, 21, 3))
    pixels = np.zeros((n, 2, 21, 4))
    for hand in (0, 1):
        per_hand = [[p for p in h if int(scene.hand_of[i, p - 21]) == hand] for i, h in enumerate(held)]
        centres = hand_model.hand_centres(per_hand, scene.layout, hand)
        hover = _hover(np.array([not h for h in per_hand]), scene.timestamps, hand)
        fingering = hand_model.fingering_over_time(per_hand, scene.layout, hand)
        spacing = np.array([hand_model.finger_spacing(f, scene.layout) for f in fingering])
        rest = np.stack([hand_model.rest_tips(float(c), float(s), hand, float(h))
                         for c, s, h in zip(centres, spacing, hover, strict=True)])
        tips = np.zeros((n, 5, 3))
        for finger in range(5):
            pitch_track = np.array([f.get(finger, strikes.NO_KEY) for f in fingering], np.int64)
            found = strikes.contacts(pitch_track, scene.roll.onset, scene.roll.velocity, strike_style, rng)
            strikes.make_room(found, scene.timestamps)
            tips[:, finger] = strikes.fingertip_track(found, scene.timestamps, key_tips, rest[:, finger], strike_style)
        for i in range(n):
            mm[i, hand] = hand_model.skeleton_mm(float(centres[i]), tips[i], float(spacing[i]), hand, float(hover[i]))
            pixels[i, hand, :, :3] = hand_model.project(mm[i, hand], scene.homography, ppm)
    w, h = scene.size
    inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < w) & (pixels[..., 1] >= 0) & (pixels[..., 1] < h)
    pixels[..., 3] = inside.astype(np.float64)
    return mm, pixels


def render_frames(notes: Sequence[Note], config: RenderConfig,
                  ) -> tuple[Scene, Iterator[NDArray[np.uint8]], dict[str, Any]]:
    """The scene, a lazy iterator of BGR frames, and the label arrays (hand landmarks included)."""
    scene = build_scene(notes, config)
    ppm = pixels_per_mm(scene.homography, scene.layout)
    layers = build_layers(scene.layout, scene.style, scene.homography, config.size, ppm)
    _, pixels = _hand_tracks(scene)
    labels = _labels(scene, pixels, config)
    return scene, _frames(scene, layers, pixels, ppm), labels


def _draw_hands(img: NDArray[np.uint8], scene: Scene, pixels: NDArray[np.float64], i: int, ppm: float) -> None:
    style = scene.style
    now = pixels[i, :, :, :2].astype(np.float32)
    for hand in (0, 1):
        hand_model.draw_shadow(img, now[hand], ppm, style.shadow_offset, style.shadow_strength, style.shadow_softness)
    crossed = now[0, 0, 0] > now[1, 0, 0]  # the left hand crossed over the right: it is on top
    for hand in ((1, 0) if crossed else (0, 1)):
        motion = (now[hand] - pixels[i - 1, hand, :, :2]).mean(axis=0) * SHUTTER if i > 0 else np.zeros(2)
        if style.motion_blur and float(np.linalg.norm(motion)) > BLUR_MIN_PX:
            hand_model.draw_hand_blurred(img, now[hand], motion.astype(np.float32), ppm, style.skin_colour,
                                         style.sleeve_colour)
        else:
            hand_model.draw_hand(img, now[hand], ppm, style.skin_colour, style.sleeve_colour)


def _frames(scene: Scene, layers: KeyboardLayers, pixels: NDArray[np.float64],
            ppm: float) -> Iterator[NDArray[np.uint8]]:
    style = scene.style
    rng = style_rng(style.name + "/frames", style.seed)
    width, height = scene.size
    n_frames = scene.roll.n_frames
    noise = [rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(style.noise_sigma)
             for _ in range(4 if style.noise_sigma > 0 else 0)]
    noise_pairs = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)) for n in noise]
    gains = 1.0 + rng.normal(0.0, style.flicker, n_frames)
    picks = rng.integers(0, max(len(noise_pairs), 1), n_frames)
    bars = BarPainter(scene.ahead, scene.layout, scene.homography, style, scene.ahead_hands) if style.bars else None
    title = TextOverlay(style.title, scene.size, "top", 0.07, 0.9) if style.title else None
    mark = TextOverlay(style.watermark, scene.size, "corner", 0.035, 0.45) if style.watermark else None
    duration = float(scene.timestamps[-1]) + (float(np.median(np.diff(scene.timestamps))) if n_frames > 1 else 0.0)
    for i in range(n_frames):
        t = float(scene.timestamps[i])
        img = compose(layers, {p: int(scene.hand_of[i, p - 21]) for p in _held(scene, i)})
        if bars is not None:
            bars.paint(img, t)
        if style.hands:
            _draw_hands(img, scene, pixels, i, ppm)
        if title is not None and t < TITLE_SECONDS:
            title.blend(img, min(1.0, 2.0 * (1.0 - t / TITLE_SECONDS)))
        if mark is not None:
            mark.blend(img)
        gain = float(gains[i]) * fade_gain(t, duration, style.fade_in_s, style.fade_out_s)
        if gain != 1.0:
            img = np.asarray(cv2.convertScaleAbs(img, alpha=gain), dtype=np.uint8)
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
        "vfr": np.bool_(config.vfr),
        "size": np.array(config.size, np.int32),
        "style_params": json.dumps(scene.style.to_dict()),
    }


def true_geometry(labels: Mapping[str, Any]) -> KeyboardGeometry:
    """The exact calibration of a rendered video, from its labels (as returned, or loaded from the ``.npz``)."""
    width, height = (int(v) for v in np.asarray(labels["size"]))
    return KeyboardGeometry.from_homography((width, height), int(labels["lowest_pitch"]), int(labels["key_count"]),
                                            np.asarray(labels["image_to_plane"], np.float64))


def _sustain_in_clip(sustain: Sequence[tuple[float, bool]], start: float, duration: float) -> list[tuple[float, bool]]:
    """Pedal changes in clip time: the state at the clip start first, then every change inside the clip."""
    down_at_start = False
    changes: list[tuple[float, bool]] = []
    for t, down in sorted(sustain):
        if t <= start:
            down_at_start = down
        elif t < start + duration:
            changes.append((t - start, down))
    return [(0.0, down_at_start), *changes] if down_at_start else changes


def write_ground_truth_midi(path: Path, scene: Scene, sustain: Sequence[tuple[float, bool]]) -> None:
    """The clip's notes (times from the first frame): left hand on channel 0, right hand on channel 1."""
    parts = []
    for hand, name in ((0, "left hand"), (1, "right hand")):
        notes = tuple(sorted(Note(n.start, n.end, n.pitch, n.velocity, hand)
                             for n, h in zip(scene.notes, scene.note_hands, strict=True) if h == hand))
        controls = tuple(ControlChange(t, SUSTAIN_CC, 127 if down else 0, hand) for t, down in sustain) if hand else ()
        parts.append(Track(name, notes, 0, hand, controls))
    write_midi(path, parts)


def save_labels(path: Path, labels: dict[str, Any]) -> None:
    """Write the labels as an ``.npz`` that ``np.load`` reads; unlike ``np.savez`` the bytes carry no clock time,
    so the same render gives the same file."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in labels.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)  # type: ignore[no-untyped-call]
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def render_to_files(notes: Sequence[Note], config: RenderConfig, video: Path, labels_path: Path | None,
                    sustain: Sequence[tuple[float, bool]] = (), midi_path: Path | None = None) -> dict[str, Any]:
    """Render and encode the video; write the labels (.npz) and the clip's ground-truth MIDI if asked."""
    scene, frames, labels = render_frames(notes, config)
    times = scene.timestamps + config.start
    pedal = np.zeros(len(times), bool)
    for t, down in sorted(sustain):
        pedal[times >= t] = down
    labels["sustain"] = pedal
    width, height = config.size
    kbps = config.max_bitrate_kbps or max(200, round(scene.style.max_bitrate_kbps * width * height * config.fps
                                                     / (1280 * 720 * 30)))
    crf = config.crf if config.crf is not None else scene.style.crf
    timing = vfr_timing(config.fps, config.seed) if config.vfr else None
    with H264Writer(video, config.size, config.fps, crf, kbps, timing) as writer:
        for frame in frames:
            writer.write(frame)
    if labels_path is not None:
        save_labels(labels_path, labels)
    if midi_path is not None:
        duration = float(times[-1] - config.start) + 1.0 / config.fps
        write_ground_truth_midi(midi_path, scene, _sustain_in_clip(sustain, config.start, duration))
    log.info("wrote %s (%d frames)", video, scene.roll.n_frames)
    return labels
