"""The key model at inference: an ONNX file checked against its model card, run by onnxruntime.

:class:`KeyModel` loads ``models/keys/keys.onnx`` (or ``$VMB_KEY_MODEL``) and its ``card.json``;
:class:`KeyTranscriber` streams the frames of one calibrated camera through ``bridge.features`` and the
model, and returns per-frame :class:`~bridge.types.Activations` for the 88 piano keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bridge import features
from bridge.decoding import DecoderSettings
from bridge.errors import CalibrationError, ModelError
from bridge.rectify import Rectifier, StripSpec
from bridge.sources import GreyFrame
from bridge.types import Activations, Frame, KeyboardGeometry

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "keys"
DEFAULT_MODEL = MODEL_DIR / "keys.onnx"
MODEL_ENV = "VMB_KEY_MODEL"
CARD_NAME = "card.json"
N_PIANO = 88
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class ModelCard:
    """The parts of ``card.json`` that inference relies on (the file holds more: training, metrics)."""

    sha256: str
    strip: StripSpec
    n_channels: int
    past_frames: int
    future_frames: int
    background_rate: float
    output_stride: int
    trained_fps: tuple[float, ...]
    decoder: DecoderSettings
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return max(self.trained_fps)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> ModelCard:
        try:
            spec = data["input"]
            strip = spec["strip"]
            decoder = {k: v for k, v in data.get("decoder", {}).items() if k in DecoderSettings.__dataclass_fields__}
            return cls(
                sha256=str(data["sha256"]),
                strip=StripSpec(float(strip["px_per_white_key"]), int(strip["height"]), float(strip["margin_mm"])),
                n_channels=int(spec["shape"][1]),
                past_frames=int(spec["past_frames"]),
                future_frames=int(spec["future_frames"]),
                background_rate=float(spec["background_rate"]),
                output_stride=int(data["output"]["stride_px"]),
                trained_fps=tuple(float(f) for f in data.get("trained_fps", [30.0])),
                decoder=DecoderSettings(**decoder),
                metrics=dict(data.get("metrics", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"model card {where} is malformed ({exc!r}): reinstall the model or re-export it") from exc

    def check_features(self, where: Path) -> None:
        """The card must describe the input that ``bridge.features`` builds, or the model would see garbage."""
        expected = (features.STRIP_SPEC, features.N_CHANNELS, features.PAST_FRAMES, features.FUTURE_FRAMES,
                    features.BACKGROUND_RATE, features.OUTPUT_STRIDE)
        got = (self.strip, self.n_channels, self.past_frames, self.future_frames, self.background_rate,
               self.output_stride)
        if expected != got:
            raise ModelError(f"model card {where} describes another input than this version of vmb builds: "
                             "use the model that came with this version (unset VMB_KEY_MODEL)")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class KeyModel:
    """The ONNX key model: input (batch, channels, height, width) strips, output (batch, 3, width / stride)."""

    def __init__(self, session: Any, card: ModelCard, path: Path) -> None:
        self._session = session
        self.card = card
        self.path = path

    @classmethod
    def load(cls, path: Path | None = None, threads: int | None = None) -> KeyModel:
        """Load and check the model; ``threads`` limits onnxruntime's CPU threads (default: its own choice)."""
        chosen = Path(path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
        if not chosen.is_file():
            raise ModelError(f"key model {chosen} does not exist: reinstall vmb or point {MODEL_ENV} to a keys.onnx")
        card_path = chosen.parent / CARD_NAME
        try:
            card_data = json.loads(card_path.read_text())
        except FileNotFoundError as exc:
            raise ModelError(f"model card {card_path} is missing: keep card.json beside {chosen.name}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"model card {card_path} is not JSON: reinstall the model") from exc
        card = ModelCard.from_json(card_data, card_path)
        card.check_features(card_path)
        if file_sha256(chosen) != card.sha256:
            raise ModelError(f"{chosen} does not match the sha256 in {card_path}: the file is damaged or not the "
                             "model the card describes; reinstall it")
        return cls(_session(chosen, threads), card, chosen)

    def run(self, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities (batch, 3, columns): onset, key down, velocity per strip column."""
        outputs = [self._session.run(None, {"strip": inputs[i:i + MAX_BATCH]})[0]
                   for i in range(0, len(inputs), MAX_BATCH)]
        return np.asarray(np.concatenate(outputs), dtype=np.float32)


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No busy-waiting: between live frames the pool would spin a core for nothing, and a spinning thread
    # starves the others on a loaded machine. Large offline batches lose nothing measurable without it.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
        raise ModelError(f"onnxruntime cannot load {path} ({str(exc).splitlines()[0]}): reinstall the model") from exc


class KeyTranscriber:
    """Streaming: frames of one calibrated camera in, Activations (88 keys from A0; keys not on the keyboard get 0)
    out, each stamped with its own frame's time once its look-ahead has arrived."""

    def __init__(self, geometry: KeyboardGeometry, model: KeyModel) -> None:
        self.geometry = geometry
        self.model = model
        self.rectifier = Rectifier(geometry, model.card.strip)
        self.lookahead_frames = features.FUTURE_FRAMES
        self._stream = features.FeatureStream()
        columns = self.rectifier.key_columns()
        on_piano = [(p - 21, x) for p, x in zip(geometry.layout.pitches, columns, strict=True) if 21 <= p <= 108]
        self._keys = np.array([k for k, _ in on_piano], dtype=np.int64)
        self._centres = np.array([x for _, x in on_piano], dtype=np.float64)

    def push(self, frame: Frame) -> list[Activations]:
        return self.push_many([frame])

    def push_many(self, frames: Sequence[Frame]) -> list[Activations]:
        """Batched :meth:`push`: the same activations, one model call for all frames that became ready."""
        ready = []
        for frame in frames:
            ready.extend(self._stream.push(self._strip(frame), frame.t))
        return self._activations(ready)

    def flush(self) -> list[Activations]:
        """End of stream: activations of the frames still waiting for look-ahead (padded with the last frame)."""
        return self._activations(self._stream.flush())

    def _strip(self, frame: Frame) -> features.Gray:
        height, width = frame.image.shape[:2]
        if (width, height) != tuple(self.geometry.image_size):
            raise CalibrationError(f"frame {frame.index} is {width}x{height} but the calibration is for "
                                   f"{self.geometry.image_size[0]}x{self.geometry.image_size[1]}: recalibrate")
        if isinstance(frame, GreyFrame):  # a video's own luma: the strip every reader of the file gives
            return features.grey_to_float(self.rectifier(frame.grey))
        return features.to_gray(self.rectifier(frame.image))

    def _activations(self, ready: list[tuple[float, NDArray[np.float32]]]) -> list[Activations]:
        if not ready:
            return []
        probs = self.model.run(np.stack([inputs for _, inputs in ready]))
        per_key = features.sample_columns(probs, self._centres)  # (n, 3, keys)
        out = []
        for (t, _), values in zip(ready, per_key, strict=True):
            planes = np.zeros((3, N_PIANO), np.float32)
            planes[:, self._keys] = values
            out.append(Activations(t, planes[0], planes[1], planes[2]))
        return out
