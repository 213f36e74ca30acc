"""Keyboard calibration: synthetic renders of several styles, a real frame, no keyboard, corners, the CLI."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.calibration import _median_image, calibrate_images, calibrate_video, draw_preview
from bridge.cli import main
from bridge.errors import CalibrationError
from bridge.geometry import KeyLayout, apply_homography, is_black
from bridge.synth import RenderConfig, render_frames, render_to_files
from bridge.synth.notes_io import read_notes
from bridge.types import KeyboardGeometry

TOLERANCE_MM = 3.5


@pytest.fixture(scope="module")
def song(shared_data: Path) -> Path:
    return shared_data / "midi" / "miditest" / "5.mid"


Render = tuple[list[NDArray[np.uint8]], dict[str, Any]]


@functools.cache
def _render(song_path: Path, style: str, seed: int, n_keys: int | None) -> Render:
    config = RenderConfig(style=style, seed=seed, size=(640, 360), fps=5.0, start=20.0, duration=2.0, n_keys=n_keys)
    _, frames, labels = render_frames(read_notes(song_path)[0], config)
    return list(frames), labels


def render(song: Path, style: str, seed: int, n_keys: int | None = None) -> Render:
    """Ten frames of 2 s of the song at 640x360 (rendered once per module: building a scene takes seconds)."""
    return _render(song, style, seed, n_keys)


def worst_error_mm(geometry: KeyboardGeometry, labels: dict[str, Any]) -> float:
    """Largest distance on the true plane between a reported key's centre and the true centre of that pitch."""
    truth = KeyLayout(int(labels["lowest_pitch"]), int(labels["key_count"]))
    to_image = np.linalg.inv(geometry.homography)
    worst = 0.0
    for pitch in geometry.layout.pitches:
        assert pitch in truth.pitches, f"reported key {pitch} is not on the drawn keyboard"
        image_point = apply_homography(to_image, np.array([geometry.layout.centre_mm(pitch)]))
        on_truth = apply_homography(np.asarray(labels["image_to_plane"]), image_point)[0]
        worst = max(worst, float(np.linalg.norm(on_truth - np.array(truth.centre_mm(pitch)))))
    return worst


@pytest.mark.parametrize(("style", "seed", "n_keys"), [("grand", 1, None), ("upright", 2, None),
                                                        ("digital", 4, 49), ("synthesia", 0, None),
                                                        ("hybrid", 1, None)])
def test_synthetic_keyboards_calibrate_to_every_key(song: Path, style: str, seed: int,
                                                    n_keys: int | None) -> None:
    frames, labels = render(song, style, seed, n_keys=n_keys)
    geometry = calibrate_images(frames)
    assert (geometry.lowest_pitch, geometry.n_keys) == (int(labels["lowest_pitch"]), int(labels["key_count"]))
    assert worst_error_mm(geometry, labels) < TOLERANCE_MM
    assert geometry.assumptions == ()
    assert geometry.confidence > 0.7


def test_real_keyboard_frame_black_keys_lie_on_black_keys(shared_data: Path) -> None:
    image = cv2.imread(str(shared_data / "real_keyboards" / "video5_frame_003720.jpg"))
    geometry = calibrate_images([image])
    assert (geometry.lowest_pitch, geometry.n_keys) == (21, 88)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    means = {}
    for key in geometry.keys:
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(key.polygon).astype(np.int32)], (1,))
        means[key.pitch] = float(grey[mask.astype(bool)].mean())
    darker = [means[p] < min(means[p - 1], means[p + 1]) for p in means if is_black(p)]
    assert len(darker) == 36 and all(darker)


def _street() -> NDArray[np.uint8]:
    image = np.full((360, 640, 3), (230, 200, 170), np.uint8)
    for x in range(0, 640, 130):
        cv2.rectangle(image, (x, 60), (x + 110, 260), (150, 170, 190), -1)
        for wy in range(80, 240, 40):
            for wx in range(x + 8, x + 100, 22):
                cv2.rectangle(image, (wx, wy), (wx + 10, wy + 28), (40, 40, 50), -1)
    image[260:] = (70, 70, 75)
    return image


@pytest.mark.parametrize("kind", ["noise", "street", "black", "wall"])
def test_no_keyboard_raises_and_suggests_corners(kind: str) -> None:
    rng = np.random.default_rng(1)
    image = {
        "noise": rng.integers(0, 256, (360, 640, 3), dtype=np.uint8),
        "street": _street(),
        "black": np.zeros((360, 640, 3), np.uint8),
        "wall": np.clip(rng.normal(180, 4, (360, 640, 3)), 0, 255).astype(np.uint8),
    }[kind]
    with pytest.raises(CalibrationError, match=r"no keyboard found.*--corners"):
        calibrate_images([image, image])


def test_corners_give_the_true_homography(song: Path) -> None:
    frames, labels = render(song, "grand", 1)
    corners = np.asarray(labels["keyboard_corners"])
    truth = np.asarray(labels["image_to_plane"])
    for geometry in (calibrate_images(frames[:1], corners=corners, n_keys=88),
                     calibrate_images(frames[:1], corners=corners)):
        assert (geometry.lowest_pitch, geometry.n_keys) == (21, 88)
        points = apply_homography(np.linalg.inv(truth), np.array([[100.0, 50.0], [1100.0, 140.0]]))
        assert np.allclose(apply_homography(geometry.homography, points), [[100.0, 50.0], [1100.0, 140.0]], atol=0.5)


def test_lowest_key_that_contradicts_the_picture_is_refused(song: Path) -> None:
    frames, _ = render(song, "synthesia", 0)
    with pytest.raises(CalibrationError, match="looks like A, not C2"):
        calibrate_images(frames, lowest_pitch=36)


def test_preview_outlines_keys(song: Path) -> None:
    frames, _ = render(song, "digital", 4, n_keys=49)
    geometry = calibrate_images(frames)
    preview = draw_preview(frames[0], geometry)
    assert preview.shape == frames[0].shape and preview.dtype == np.uint8
    assert np.count_nonzero(np.any(preview != frames[0], axis=2)) > 2000


@pytest.fixture(scope="module")
def clip(song: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    video = tmp_path_factory.mktemp("calibration") / "grand.mp4"
    config = RenderConfig(style="grand", seed=1, size=(640, 360), fps=15.0, start=20.0, duration=2.0)
    return video, render_to_files(read_notes(song)[0], config, video, None)


def test_calibrate_video_reads_encoded_h264(clip: tuple[Path, dict[str, Any]]) -> None:
    video, labels = clip
    geometry = calibrate_video(video, start=0.5, duration=1.0)
    assert (geometry.lowest_pitch, geometry.n_keys) == (21, 88)
    assert worst_error_mm(geometry, labels) < TOLERANCE_MM


def test_cli_writes_calibration_and_preview(clip: tuple[Path, dict[str, Any]], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    video, _ = clip
    output, preview = tmp_path / "calib.json", tmp_path / "calib.png"
    assert main(["calibrate", str(video), "-o", str(output), "--preview", str(preview)]) == 0
    assert "88 keys A0-C8, confidence" in capsys.readouterr().out
    data = json.loads(output.read_text())
    assert data["version"] == 1 and data["lowest_pitch"] == 21 and len(data["keys"]) == 88
    loaded = KeyboardGeometry.load(output)
    assert loaded.to_json() == data
    image = cv2.imread(str(preview))
    assert image is not None and image.shape == (360, 640, 3)


def test_cli_no_keyboard_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = tmp_path / "street.png"
    cv2.imwrite(str(picture), _street())
    output = tmp_path / "calib.json"
    assert main(["calibrate", str(picture), "-o", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("vmb calibrate: error: no keyboard found in") and "--corners" in error
    assert "\n" not in error and not output.exists()


def test_cli_corners_argument(clip: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    video, labels = clip
    corners = ",".join(f"{v:.2f}" for v in np.asarray(labels["keyboard_corners"]).ravel())
    output = tmp_path / "calib.json"
    assert main(["calibrate", str(video), "-o", str(output), "--corners", corners, "--keys", "88"]) == 0
    assert KeyboardGeometry.load(output).n_keys == 88
    with pytest.raises(SystemExit) as exited:
        main(["calibrate", str(video), "-o", str(output), "--corners", "1,2,3"])
    assert exited.value.code == 2


def test_cropped_view_assumes_an_octave_and_lowest_key_fixes_it(song: Path) -> None:
    frames, labels = render(song, "synthesia", 0)
    cropped = [np.ascontiguousarray(frame[:, 200:440]) for frame in frames]
    to_crop = np.array([[1.0, 0.0, 200.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # crop pixels -> frame pixels
    cropped_labels = dict(labels, image_to_plane=np.asarray(labels["image_to_plane"]) @ to_crop)
    guessed = calibrate_images(cropped)
    assert any("assumed" in text for text in guessed.assumptions) and guessed.confidence <= 0.5
    lowest_centre_mm = np.array([guessed.layout.centre_mm(guessed.lowest_pitch)])
    centre = apply_homography(np.linalg.inv(guessed.homography), lowest_centre_mm)
    truth_x = apply_homography(cropped_labels["image_to_plane"], centre)[0, 0]
    truth = KeyLayout(21, 88)
    lowest = next(p for p in truth.pitches if truth.x_range_mm(p)[0] <= truth_x < truth.x_range_mm(p)[1])
    fixed = calibrate_images(cropped, lowest_pitch=lowest)
    assert fixed.lowest_pitch == lowest and not any("assumed" in text for text in fixed.assumptions)
    assert worst_error_mm(fixed, cropped_labels) < TOLERANCE_MM


@pytest.mark.parametrize("count", [2, 3, 8, 9, 15, 16])
def test_the_frames_median_is_numpys(count: int) -> None:
    rng = np.random.default_rng(count)
    greys = [rng.integers(0, 256, (37, 53), dtype=np.uint8) for _ in range(count)]
    greys[0][:5] = 255  # ties and extremes
    originals = [grey.copy() for grey in greys]
    expected = np.median(np.stack(greys), axis=0).astype(np.uint8)
    assert np.array_equal(_median_image(greys), expected)
    assert all(np.array_equal(grey, original) for grey, original in zip(greys, originals, strict=True))  # untouched
