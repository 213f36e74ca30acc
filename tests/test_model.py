from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bridge.decoding import decode, notes_from_edges
from bridge.errors import CalibrationError, ModelError
from bridge.features import N_CHANNELS, STRIP_SPEC
from bridge.geometry import KeyLayout
from bridge.model import DEFAULT_MODEL, MODEL_ENV, KeyModel, KeyTranscriber
from bridge.scoring import score
from bridge.synth import RenderConfig, render_frames
from bridge.types import Frame, KeyboardGeometry, Note

MODEL_DIR = DEFAULT_MODEL.parent
CARD = json.loads((MODEL_DIR / "card.json").read_text())


@pytest.fixture(scope="module")
def model() -> KeyModel:
    return KeyModel.load(threads=2)


def _reference_input(width: int = 64) -> np.ndarray:
    """The fixed input of models.keys.export.reference_input (models/ is not importable without the train extra)."""
    rng = np.random.default_rng(1234)
    return rng.normal(0, 1, (2, N_CHANNELS, STRIP_SPEC.height, width)).astype(np.float32)


def test_onnx_file_matches_its_card(model: KeyModel) -> None:
    data = DEFAULT_MODEL.read_bytes()
    assert hashlib.sha256(data).hexdigest() == CARD["sha256"]
    assert len(data) == CARD["bytes"] < 20_000_000
    assert CARD["opset"] >= 17
    (strip_input,) = model._session.get_inputs()
    assert strip_input.shape[1:3] == CARD["input"]["shape"][1:3] == [N_CHANNELS, STRIP_SPEC.height]
    probs = model.run(_reference_input())
    assert probs.shape == (2, 3, 32)
    assert float(probs.sum()) == pytest.approx(CARD["reference_check"]["output_sum"], rel=1e-4)
    np.testing.assert_allclose(probs[0, :, 0], CARD["reference_check"]["output_first"], atol=1e-5)


def test_onnx_file_matches_the_torch_model(model: KeyModel) -> None:
    torch = pytest.importorskip("torch")
    from models.keys.export import load_checkpoint
    from models.keys.net import ExportedKeyNet

    weights = MODEL_DIR / "keys.pt"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == CARD["torch_sha256"]
    net = ExportedKeyNet(load_checkpoint(weights)).eval()
    with torch.no_grad():
        expected = net(torch.from_numpy(_reference_input(96))).numpy()
    np.testing.assert_allclose(model.run(_reference_input(96)), expected, atol=1e-5)


def test_load_refuses_missing_damaged_and_mismatched_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        KeyModel.load(tmp_path / "keys.onnx")
    copy = tmp_path / "keys.onnx"
    shutil.copy(DEFAULT_MODEL, copy)
    with pytest.raises(ModelError, match=r"card\.json"):
        KeyModel.load(copy)
    card = dict(CARD)
    (tmp_path / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv(MODEL_ENV, str(copy))
    assert KeyModel.load().path == copy
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="sha256"):
        KeyModel.load(copy)
    (tmp_path / "card.json").write_text(json.dumps({**card, "input": {**card["input"], "past_frames": 7}}))
    with pytest.raises(ModelError, match="another input"):
        KeyModel.load(copy)
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="not JSON"):
        KeyModel.load(copy)


def _geometry(n_keys: int, size: tuple[int, int] = (320, 90)) -> KeyboardGeometry:
    layout = KeyLayout.standard(n_keys)
    width, height = size
    scale = layout.width_mm / (width - 20)
    homography = np.array([[scale, 0, -10 * scale], [0, 150 / (height - 30), -20 * 150 / (height - 30)], [0, 0, 1]])
    return KeyboardGeometry.from_homography(size, layout.lowest_pitch, n_keys, homography)


def test_streaming_push_equals_batched_push_and_keys_off_the_keyboard_are_zero(model: KeyModel) -> None:
    rng = np.random.default_rng(3)
    frames = [Frame(i, i / 25, rng.integers(0, 255, (90, 320, 3), dtype=np.uint8)) for i in range(9)]
    one = KeyTranscriber(_geometry(61), model)
    single = [a for f in frames for a in one.push(f)]
    assert len(single) == len(frames) - one.lookahead_frames and one.lookahead_frames <= 2
    single += one.flush()
    many = KeyTranscriber(_geometry(61), model)
    batched = many.push_many(frames[:4]) + many.push_many(frames[4:]) + many.flush()
    assert [a.t for a in single] == [a.t for a in batched] == [f.t for f in frames]
    for a, b in zip(single, batched, strict=True):
        np.testing.assert_allclose(a.frame, b.frame, atol=1e-5)
        np.testing.assert_allclose(a.onset, b.onset, atol=1e-5)
    low, high = 36 - 21, 96 - 21  # C2-C7
    outside = np.r_[0:low, high + 1:88]
    assert all(a.frame[outside].max() == 0 and a.onset[outside].max() == 0 for a in single)


def test_a_frame_of_another_size_is_refused(model: KeyModel) -> None:
    transcriber = KeyTranscriber(_geometry(88), model)
    with pytest.raises(CalibrationError, match="recalibrate"):
        transcriber.push(Frame(0, 0.0, np.zeros((100, 320, 3), np.uint8)))


def test_transcribes_a_rendered_performance(model: KeyModel) -> None:
    """End to end on a short clip the model never saw (unencoded frames, true calibration)."""
    notes = [Note(0.3 + 0.35 * i, 0.6 + 0.35 * i, pitch, 90) for i, pitch in enumerate([48, 52, 55, 60, 64, 67, 72])]
    config = RenderConfig(style="grand", seed=11, size=(640, 360), fps=30.0, duration=3.0)
    scene, images, labels = render_frames(notes, config)
    geometry = KeyboardGeometry.from_homography(config.size, scene.layout.lowest_pitch, scene.layout.n_keys,
                                                labels["image_to_plane"])
    transcriber = KeyTranscriber(geometry, model)
    times = labels["frame_times"]
    frames = [Frame(i, float(t), image) for i, (t, image) in enumerate(zip(times, images, strict=False))]
    activations = transcriber.push_many(frames) + transcriber.flush()
    found = notes_from_edges(decode(activations, settings=model.card.decoder, end_time=3.0))
    result = score(notes, found, fps=30.0)
    assert result.onset_100ms.f1 >= 0.8, (result, found)


def test_streamed_inputs_are_the_offline_inputs_bit_for_bit_and_grey_frames_read_their_grey(model: KeyModel) -> None:
    from bridge.features import FeatureStream, clip_backgrounds, model_input, window_indices
    from bridge.sources import GreyFrame

    rng = np.random.default_rng(5)
    greys = rng.random((12, 8, 24), dtype=np.float32)
    stream = FeatureStream()
    streamed = [x for i, g in enumerate(greys) for _, x in stream.push(g, i / 30)] + [x for _, x in stream.flush()]
    backgrounds = clip_backgrounds(greys)
    for i, inputs in enumerate(streamed):
        assert np.array_equal(inputs, model_input(greys[window_indices(i, len(greys))], backgrounds[i]))
    # A frame that carries its grey levels is read from them, not from its (here deliberately other) colour.
    images = [rng.integers(0, 255, (90, 320, 3), dtype=np.uint8) for _ in range(4)]
    as_grey = [GreyFrame(i, i / 30, np.zeros_like(image), image[..., 1].copy()) for i, image in enumerate(images)]
    as_bgr = [Frame(i, i / 30, np.repeat(image[..., 1:2], 3, axis=2)) for i, image in enumerate(images)]
    grey_run, bgr_run = KeyTranscriber(_geometry(61), model), KeyTranscriber(_geometry(61), model)
    a = grey_run.push_many(as_grey) + grey_run.flush()
    b = bgr_run.push_many(as_bgr) + bgr_run.flush()
    assert all(np.array_equal(x.onset, y.onset) and np.array_equal(x.frame, y.frame) for x, y in zip(a, b, strict=True))
