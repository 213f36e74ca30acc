"""``MODEL_CARD.md`` rendered from ``card.json`` (never edited by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).resolve().parent
CARD_PATH = MODEL_DIR / "card.json"
CARD_MD = MODEL_DIR / "MODEL_CARD.md"


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _metric_rows(name: str, values: dict[str, Any]) -> str:
    return (f"| {name} | {_f(values['onset_f1_50ms'])} | {_f(values['onset_f1_100ms'])} | "
            f"{_f(values['onset_offset_f1_50ms'])} | {_f(values['frame_f1'])} | {_f(values['velocity_mae'])} | "
            f"{values['clips']} | {values['reference_notes']} |")


def _metrics(card: dict[str, Any]) -> list[str]:
    metrics = card.get("metrics") or {}
    if not metrics:
        return ["Not evaluated yet: run `python -m models.keys.evaluate`."]
    bench = metrics["benchmark"]
    header = ["| set | onset F1 (50 ms) | onset F1 (100 ms) | onset+offset F1 | frame F1 | velocity MAE | clips "
              "| notes |", "|---|---|---|---|---|---|---|---|"]
    rows = [_metric_rows("benchmark, all styles", bench["all"])]
    rows += [_metric_rows(f"benchmark, {style}", values) for style, values in bench["per_style"].items()]
    other = bench.get("other_start_rule")
    if other:
        rows.append(_metric_rows(f"benchmark, all styles, other start rule (onset_required={other['onset_required']})",
                                 other))
    rows.append(_metric_rows("validation (pop909 851-909)", metrics["validation"]))
    real = metrics["real_keyboards"]
    real_rows = [f"| {r['image']} | {'yes' if r['calibrated'] else 'no'} | {_f(r.get('notes'))} | "
                 f"{_f(r.get('max_key_down_probability', '-'))} |" for r in real["per_image"]]
    return [
        f"Benchmark set: {bench['set']}. Onset F1 at 50 ms is the strict figure (one frame is 33 ms at 30 fps);",
        "100 ms is the lenient one. Offsets within 20% of the note or 50 ms; frame F1 at 30 fps; velocity MAE in",
        "MIDI units over notes matched by onset.", "", *header, *rows, "",
        f"Real keyboards (`../shared/data/real_keyboards`, no key down, {real['images']} photos held still for",
        f"2 s with sensor noise, calibrated by `bridge.calibration`): {real['calibrated']} calibrated, "
        f"**{real['total_notes']} notes** found in total (0 is right); with the other start rule "
        f"{real.get('total_notes_other_start_rule', '-')}.", "",
        "| image | calibrated | notes | max key-down probability |", "|---|---|---|---|", *real_rows,
    ]


def _other_rule(card: dict[str, Any]) -> list[str]:
    metrics = card.get("metrics") or {}
    other = metrics.get("benchmark", {}).get("other_start_rule")
    if not other:
        return []
    settings = {**other["decoder"], "onset_required": other["onset_required"]}
    real = metrics["real_keyboards"]
    return ["The other start rule, tuned the same way: `DecoderSettings(" +
            ", ".join(f"{k}={v}" for k, v in settings.items()) + ")`: benchmark onset F1 "
            f"{other['onset_f1_50ms']:.3f} (against {metrics['benchmark']['all']['onset_f1_50ms']:.3f}), "
            f"{real['total_notes_other_start_rule']} notes on the real keyboards (against {real['total_notes']}). "
            "Where the two are close on synthetic video, prefer the one that finds no notes on a still real keyboard."]


def render(card: dict[str, Any]) -> str:
    spec = card["input"]
    strip = spec["strip"]
    training = card["training"]
    settings = training.get("settings", {})
    decoder = card.get("decoder") or {}
    history = training.get("history") or [{}]
    lines = [
        "# Key model (`models/keys/keys.onnx`)", "",
        "Generated from `card.json` by `python -m models.keys.evaluate`; do not edit by hand.", "",
        "## What it does", "",
        "Per video frame and piano key: the probability of a note onset, of the key being down, and the velocity",
        "(0-1, times 127 for MIDI). One set of weights serves every key and keyboard size: the network is fully",
        "convolutional over the rectified keyboard strip and its output columns are read at the key centres.", "",
        "## Input", "",
        f"- ONNX opset {card['opset']}, input `{spec['name']}` of shape {spec['shape']} (float32), output "
        f"`{card['output']['name']}` {card['output']['shape']}: {', '.join(card['output']['channels'])}, one column "
        f"per {card['output']['stride_px']} strip pixels, read at the key centres by linear interpolation.",
        f"- The strip: the calibrated keyboard rectified (`bridge.rectify.Rectifier`) to {strip['px_per_white_key']:g}"
        f" px per white key across, {strip['height']} px from {strip['margin_mm']:g} mm behind the keys to their "
        "front edge, grey levels 0-1.",
        f"- Channels: {', '.join(spec['channels'])}; the background is a causal running average (rate "
        f"{spec['background_rate']}) of the frames before the window; all channels are divided by the background's "
        "spread (plus " f"{spec['min_scale']}) and the background is centred, which cancels camera gain and offset "
        "(`bridge/features.py`, shared by training and inference).",
        f"- Window: {spec['past_frames']} past frames, the frame, {spec['future_frames']} future frame "
        f"(look-ahead {spec['future_frames']} frame, so live use adds {spec['future_frames']} frame of latency).",
        f"- Frame rate: trained on {', '.join(f'{f:g}' for f in card['trained_fps'])} fps video.", "",
        "## Decoder settings (use these)", "",
        "Tuned on the validation clips for the best mean of onset F1, onset+offset F1 and frame F1, once with",
        "notes started only at onsets (`onset_required=True`) and once with the rule that also starts a note",
        "when a key is held without an onset (only a key seen up since the video began: one that looks down from the",
        "first frame never starts a note without an onset). Both are tuned together with three rules of",
        "`bridge/decoding.py`: `press_onset` (a lower onset threshold for a key seen going down), `restrike_frames`",
        "(how long a note lasts before an onset may split it) and `initial_notes` (a key down from the first frames",
        "and released later was a note from the start; offline only, see docs/model.md). "
        + card.get("decoder_note", ""),
        "`bridge.decoding.DecoderSettings(" + ", ".join(f"{k}={v}" for k, v in decoder.items()) + ")`.", "",
        *_other_rule(card), "",
        "## Training", "",
        f"- Command: `{training['command']}` (configuration `{training['config']}`: {settings.get('steps')} steps of "
        f"{settings.get('batch')} windows, crops of {settings.get('crop_px')} px). These weights are the best "
        f"validation checkpoint, from step {training['step']} of the last run, after {training.get('seconds')} s of "
        "that run's training on a 2-core machine shared with other jobs.",
        "- Data: synthetic clips from `vmb dataset build` (bridge/dataset.py) of the POP909 MIDI files with the fixed "
        f"split: songs 001-850 train ({training['train_clips']} clips of 20 s), 851-909 validation "
        f"({training['val_clips']} clips); styles grand, upright, digital, hybrid, synthesia; 640x360 to 1280x720; "
        "24/25/30 fps; tempo stretched 0.75-1.35; H.264 at CRF 18-29, decoded as users' videos are. In the last "
        "run's clips the fingers strike their keys from above, lifted 1-17 mm per player (`bridge/synth/strikes.py`); "
        "the runs before it saw fingers that appeared on their keys in the onset frame.",
        "- Robustness for real footage (none with labels was available): background-relative input; calibration "
        "error of up to 15% of a white key at the keyboard's ends (and 4% / 6 mm along the keys) per clip; "
        "augmentation of gamma, a light gradient across the keyboard, per-frame exposure flicker and exposure jumps, "
        "camera shake of up to a strip pixel, lens blur and "
        "sensor noise; the renderer varies keyboards (88/76/61/49 keys), cases, key colours, camera tilt and roll, "
        "light, skin tones, sleeves and hand shadows. Hand landmarks are not an input.",
        f"- Network: {card['parameters']} parameters ({card['net']}), {card['bytes']} bytes as ONNX.",
        f"- Last validation check during training: {history[-1]}.", "",
        "## Evaluation", "", *_metrics(card), "",
        "## Integrity", "",
        f"- sha256 of `{card['file']}`: `{card['sha256']}` (checked by `bridge.model.KeyModel.load`).",
        "- `tests/test_model.py` checks the file against `card.json` and the torch model on a fixed input.", "",
    ]
    return "\n".join(lines)


def write_model_card(card: dict[str, Any], path: Path = CARD_MD) -> None:
    path.write_text(render(card))
