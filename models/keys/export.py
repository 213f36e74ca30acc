"""Export a checkpoint to ``models/keys/keys.onnx`` and write ``card.json`` beside it.

``python -m models.keys.export CHECKPOINT``.

The card holds what inference checks (sha256, input layout) and what ``bridge.model`` needs to build the input
(strip spec, window, background rate, output stride); ``models.keys.evaluate`` adds the decoder settings and
the metrics, and renders ``MODEL_CARD.md`` from it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bridge import features
from bridge.model import file_sha256
from models.keys.model_card import CARD_PATH, MODEL_DIR
from models.keys.net import OUTPUTS, ExportedKeyNet, KeyNet, NetConfig

REPO = MODEL_DIR.parents[1]
ONNX_PATH = MODEL_DIR / "keys.onnx"
TORCH_PATH = MODEL_DIR / "keys.pt"  # the same weights for torch (the test compares both)
OPSET = 17
TRAINED_FPS = (24.0, 25.0, 30.0)


def load_checkpoint(path: Path) -> KeyNet:
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = state["net"]
    net = KeyNet(NetConfig(widths=tuple(config["widths"]), context_layers=int(config["context_layers"])))
    net.load_state_dict(state["state"])
    return net.eval()


def export_onnx(net: KeyNet, path: Path) -> None:
    example = torch.zeros(1, features.N_CHANNELS, features.STRIP_SPEC.height, 416)
    torch.onnx.export(
        ExportedKeyNet(net).eval(), (example,), str(path), input_names=["strip"], output_names=["probs"],
        dynamic_axes={"strip": {0: "batch", 3: "width"}, "probs": {0: "batch", 2: "columns"}},
        opset_version=OPSET, dynamo=False)


def input_spec() -> dict[str, Any]:
    spec = features.STRIP_SPEC
    return {
        "name": "strip",
        "shape": ["batch", features.N_CHANNELS, spec.height, "width"],
        "channels": ["background"] + [f"frame {k:+d} - background" for k in
                                      range(-features.PAST_FRAMES, features.FUTURE_FRAMES + 1)],
        "strip": {"px_per_white_key": spec.px_per_white_key, "height": spec.height, "margin_mm": spec.margin_mm},
        "past_frames": features.PAST_FRAMES,
        "future_frames": features.FUTURE_FRAMES,
        "background_rate": features.BACKGROUND_RATE,
        "min_scale": features.MIN_SCALE,
        "grayscale": True,
    }


def write_card(path: Path, onnx_path: Path, net: KeyNet, training: dict[str, Any]) -> dict[str, Any]:
    old = json.loads(path.read_text()) if path.exists() else {}
    card = {
        "version": 1,
        "file": onnx_path.name,
        "sha256": file_sha256(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "opset": OPSET,
        "input": input_spec(),
        "output": {"name": "probs", "shape": ["batch", len(OUTPUTS), "width / 2"], "channels": list(OUTPUTS),
                   "stride_px": features.OUTPUT_STRIDE, "read_at": "key centres, linear interpolation"},
        "trained_fps": list(TRAINED_FPS),
        "net": net.config.to_json(),
        "parameters": sum(p.numel() for p in net.parameters()),
        "training": training,
        "reference_check": reference_check(net),
        # Kept from the last evaluation until models.keys.evaluate runs again on these weights.
        "decoder": old.get("decoder", {}),
        "metrics": old.get("metrics", {}),
    }
    path.write_text(json.dumps(card, indent=1) + "\n")
    return card


def reference_input(width: int = 64) -> np.ndarray:
    """The fixed input the test runs through both torch and onnxruntime."""
    rng = np.random.default_rng(1234)
    shape = (2, features.N_CHANNELS, features.STRIP_SPEC.height, width)
    return rng.normal(0, 1, shape).astype(np.float32)


def reference_check(net: KeyNet) -> dict[str, Any]:
    with torch.no_grad():
        probs = ExportedKeyNet(net)(torch.from_numpy(reference_input())).numpy()
    return {"input": "models.keys.export.reference_input()", "output_sum": float(probs.sum()),
            "output_first": [float(v) for v in probs[0, :, 0]]}


def training_command(config_name: str, summary: dict[str, Any], committed_command: str | None = None) -> str:
    """The command(s) that trained the checkpoint: a fine-tuned one names the run it started from, or, when it
    started from the committed weights (``committed_command`` is how those were trained), continues that."""
    command = f"python -m models.keys.train --config {config_name}"
    init = summary.get("init")
    if not init:
        return command
    settings = summary.get("config", {})
    start = Path(init)
    fine_tune = f"--steps {settings.get('steps')} --lr {settings.get('lr')}"
    if committed_command:
        return f"{committed_command}`, then `{command} --init {TORCH_PATH.relative_to(REPO).as_posix()} {fine_tune}"
    return f"{command} --run {start.parent.as_posix()}`, then `{command} --init {start.as_posix()} {fine_tune}"


def committed_training_command(summary: dict[str, Any], card_path: Path, torch_path: Path) -> str | None:
    """The committed weights' training command when the run started from them (a copy or the file itself)."""
    init = summary.get("init")
    if not init or not Path(init).is_file() or not torch_path.is_file() or not card_path.is_file():
        return None
    if file_sha256(Path(init)) != file_sha256(torch_path):
        return None
    return str(json.loads(card_path.read_text())["training"]["command"])


def export_checkpoint(checkpoint: Path, config_name: str, onnx_path: Path = ONNX_PATH,
                      card_path: Path = CARD_PATH, torch_path: Path = TORCH_PATH) -> dict[str, Any]:
    net = load_checkpoint(checkpoint)
    train_log = checkpoint.parent / "train.json"
    summary = json.loads(train_log.read_text()) if train_log.exists() else {}
    committed = committed_training_command(summary, card_path, torch_path)  # before the files are replaced
    export_onnx(net, onnx_path)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    torch.save({"state": net.state_dict(), "net": saved["net"], "step": saved["step"]}, torch_path)
    step = int(saved["step"])
    training = {"config": config_name, "step": step, "command": training_command(config_name, summary, committed),
                "train_clips": len(summary.get("train_clips", [])), "val_clips": len(summary.get("val_clips", [])),
                "seconds": summary.get("seconds"), "history": summary.get("history", [])[-3:],
                "settings": summary.get("config", {})}
    card = write_card(card_path, onnx_path, net, training)
    card["torch_sha256"] = file_sha256(torch_path)
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", default="cpu", help="name of the training configuration, for the card")
    args = parser.parse_args()
    card = export_checkpoint(args.checkpoint, args.config)
    print(f"wrote {ONNX_PATH.name} ({card['bytes']} bytes, sha256 {card['sha256'][:12]}) and {CARD_PATH.name}")


if __name__ == "__main__":
    main()
