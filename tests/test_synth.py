"""Tests of the synthetic video renderer: labels agree with pixels, determinism, encoding, errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import mido
import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.commands import synth as synth_command
from bridge.errors import VmbError
from bridge.geometry import KeyLayout, apply_homography
from bridge.midi import read_midi
from bridge.synth import RenderConfig, render_frames, render_to_files, sample_style
from bridge.synth.camera import pixels_per_mm, plane_to_image
from bridge.synth.keyboard import build_layers, compose
from bridge.types import Note

SMALL = (320, 180)
NOTES = [Note(0.0, 0.5, 60, 90), Note(0.25, 1.0, 64, 70), Note(0.5, 1.0, 43, 60), Note(0.6, 0.9, 70, 100)]


def _frames(style: str, seed: int, duration: float = 0.5, fps: float = 20.0) -> list[NDArray[np.uint8]]:
    _, frames, _ = render_frames(NOTES, RenderConfig(style=style, seed=seed, size=SMALL, fps=fps, duration=duration))
    return list(frames)


@pytest.mark.parametrize("style", ["grand", "upright", "digital", "synthesia", "hybrid"])
def test_same_seed_same_frames_and_other_seed_differs(style: str) -> None:
    first, again, other = _frames(style, 3), _frames(style, 3), _frames(style, 4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert first[0].dtype == np.uint8 and first[0].shape == (SMALL[1], SMALL[0], 3)


@pytest.mark.parametrize(("fps", "duration"), [(24.0, 1.0), (25.0, 0.8), (30.0, 1.0), (60.0, 0.5)])
def test_frame_count_and_timestamps_match_fps_and_duration(fps: float, duration: float) -> None:
    _, frames, labels = render_frames(NOTES, RenderConfig(style="digital", size=SMALL, fps=fps, duration=duration))
    n = round(fps * duration)
    assert len(list(frames)) == n
    assert labels["key_state"].shape == (n, 88)
    np.testing.assert_allclose(labels["frame_times"], np.arange(n) / fps)


def test_pressed_key_region_changes_and_unpressed_keys_do_not() -> None:
    layout = KeyLayout.standard(88)
    for style_name in ("grand", "digital"):
        style = sample_style(style_name, 1)
        homography = plane_to_image(layout, (640, 360), 0.95, 0.5, 25.0, 3.0)
        layers = build_layers(layout, style, homography, (640, 360), pixels_per_mm(homography, layout))
        up = compose(layers, {})
        for pitch in (60, 61):
            down = compose(layers, {pitch: 1})
            changed = np.any(down != up, axis=2)
            key = layers.masks[pitch]
            y0, y1, x0, x1 = key.box
            inside = np.zeros_like(changed)
            inside[y0:y1, x0:x1] = key.mask
            assert changed[inside].mean() > 0.1, (style_name, pitch)
            assert not changed[~inside].any()


def _plain_seed(style: str) -> int:
    """The first seed whose look has no glow, particles, fades or text over the keys."""
    return next(seed for seed in range(200) if not any(
        (p := sample_style(style, seed)).glow or p.particles or p.fade_in_s or p.fade_out_s or p.title or p.watermark
        for _ in [0]))


def test_unpressed_keys_stay_still_in_a_rendered_video() -> None:
    config = RenderConfig(style="synthesia", seed=_plain_seed("synthesia"), size=(640, 360), fps=20, duration=1.0)
    scene, frames, labels = render_frames(NOTES, config)
    images = list(frames)
    layers = build_layers(scene.layout, scene.style, scene.homography, (640, 360),
                          pixels_per_mm(scene.homography, scene.layout))
    state = labels["key_state"]
    for pitch in (62, 48, 84):  # never played
        y0, y1, x0, x1 = layers.masks[pitch].box
        mask = layers.masks[pitch].mask
        assert all(np.array_equal(img[y0:y1, x0:x1][mask], images[0][y0:y1, x0:x1][mask]) for img in images)
    pitch = 64
    y0, y1, x0, x1 = layers.masks[pitch].box
    mask = layers.masks[pitch].mask
    held = [i for i in range(len(images)) if state[i, pitch - 21]]
    idle = [i for i in range(len(images)) if not state[i, pitch - 21]]
    diff = np.abs(images[held[0]][y0:y1, x0:x1][mask].astype(int) - images[idle[0]][y0:y1, x0:x1][mask].astype(int))
    assert diff.mean() > 10


def test_fingertip_lies_inside_the_key_it_holds() -> None:
    scene, _, labels = render_frames([Note(0.0, 1.0, 64, 80)], RenderConfig(style="grand", seed=2, size=(640, 360),
                                                                             fps=10, duration=1.0))
    polygon = apply_homography(scene.homography, scene.layout.polygon_mm(64)).astype(np.float32)
    tips = labels["hand_landmarks"][:, 1, [4, 8, 12, 16, 20], :2]
    for frame_tips in tips:
        assert any(cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0 for x, y in frame_tips)


def test_video_decodes_with_opencv_and_labels_are_complete(tmp_path: Path) -> None:
    video, labels_path = tmp_path / "out.mp4", tmp_path / "out.npz"
    config = RenderConfig(style="hybrid", seed=5, size=SMALL, fps=25, duration=1.0)
    render_to_files(NOTES, config, video, labels_path, sustain=[(0.5, True)])
    capture = cv2.VideoCapture(str(video))
    count = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert image.shape == (SMALL[1], SMALL[0], 3)
        count += 1
    assert count == 25
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    labels = np.load(labels_path)
    for name in ("key_state", "onsets", "offsets", "velocities", "frame_times", "homography", "lowest_pitch",
                 "key_count", "style_params", "hand_landmarks", "keyboard_corners", "sustain"):
        assert name in labels.files
    assert labels["hand_landmarks"].shape == (25, 2, 21, 4)
    assert labels["onsets"][0, 60 - 21] and labels["velocities"][0, 60 - 21] == 90
    assert labels["sustain"][:12].sum() == 0 and labels["sustain"][13:].all()


def _write_midi(path: Path, pitches: list[int]) -> None:
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for pitch in pitches:
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=240))
    midi.save(str(path))


def _args(midi: Path, out: Path, **extra: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    synth_command.add_arguments(parser)
    argv = [str(midi), "-o", str(out), "--size", "320x180", "--fps", "10"]
    for name, value in extra.items():
        argv += [f"--{name}"] + ([str(value)] if value != "" else [])
    return parser.parse_args(argv)


def test_command_writes_video_and_labels(tmp_path: Path) -> None:
    midi = tmp_path / "a.mid"
    _write_midi(midi, [60, 62, 64])
    assert synth_command.run(_args(midi, tmp_path / "a.mp4", labels=tmp_path / "a.npz", style="upright")) == 0
    assert (tmp_path / "a.mp4").stat().st_size > 0
    assert np.load(tmp_path / "a.npz")["key_state"].any()
    truth = tmp_path / "a.truth.mid"  # a.mid is the input: the ground truth goes beside it, never over it
    assert sorted(n.pitch for n in read_midi(truth).notes) == [60, 62, 64]
    assert sorted(n.pitch for n in read_midi(midi).notes) == [60, 62, 64]


def test_command_writes_variable_frame_rate_and_midi_where_asked(tmp_path: Path) -> None:
    midi = tmp_path / "song.mid"
    _write_midi(midi, [48, 72])
    args = _args(midi, tmp_path / "v.mp4", labels=tmp_path / "v.npz", vfr="", **{"midi-out": tmp_path / "t.mid"})
    assert synth_command.run(args) == 0
    labels = np.load(tmp_path / "v.npz")
    assert bool(labels["vfr"]) and len(np.unique(np.round(np.diff(labels["frame_times"]), 4))) > 1
    assert [n.pitch for n in read_midi(tmp_path / "t.mid").notes] == [48, 72]


def test_empty_midi_gives_a_clear_error(tmp_path: Path) -> None:
    midi = tmp_path / "empty.mid"
    _write_midi(midi, [])
    with pytest.raises(VmbError, match="no notes"):
        synth_command.run(_args(midi, tmp_path / "e.mp4"))


def test_notes_outside_the_keyboard_give_a_clear_error(tmp_path: Path) -> None:
    midi = tmp_path / "wide.mid"
    _write_midi(midi, [24, 100])
    with pytest.raises(VmbError, match="outside a 49-key keyboard"):
        synth_command.run(_args(midi, tmp_path / "w.mp4", keys=49))


@pytest.mark.parametrize("size", [(100, 60), (321, 180)])
def test_too_small_or_odd_size_gives_a_clear_error(size: tuple[int, int]) -> None:
    with pytest.raises(VmbError, match="too small or odd"):
        RenderConfig(size=size)


@pytest.mark.parametrize("n_keys", [76, 61, 49])
def test_partial_keyboards_are_labelled_with_their_range(n_keys: int) -> None:
    scene, frames, labels = render_frames(NOTES, RenderConfig(style="digital", size=SMALL, fps=10, duration=0.3,
                                                              n_keys=n_keys))
    assert len(list(frames)) == 3
    assert int(labels["key_count"]) == n_keys == scene.layout.n_keys
    assert int(labels["lowest_pitch"]) == scene.layout.lowest_pitch
    assert labels["keyboard_corners"].shape == (4, 2)
