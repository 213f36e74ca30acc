"""Audeo's Video2Roll trained as a baseline on our synthetic data: ``python -m models.keys.baseline``.

The same training clips as the key model (``out/keys/cache``, true-calibration strips of the POP909 training
songs), each strip placed where its keys lie on a full 88-key strip (Video2Roll has one output per piano key)
and resized to its 5 x 100 x 900 input: 5 grey frames centred on the target frame (2 frames of look-ahead).
Key-down targets, binary cross entropy with the key model's weight on key-down targets (4: few keys are down
in any frame, and unweighted the net learns to call every key up first), Adam, a short schedule bounded by
``--minutes``. It is scored on the
benchmark clips (``out/keys/bench``, rendered by ``models.keys.evaluate``) next to our model, with the same
streaming decoder: a note starts where a key's probability rises through 0.5 (Audeo reads notes off the
thresholded roll). Figures go to ``out/keys/baseline/report.json`` and the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray

from bridge.decoding import DecoderSettings
from bridge.geometry import WHITE_KEY_WIDTH_MM, KeyLayout
from bridge.model import KeyModel
from bridge.types import Activations
from models.keys.data import ClipArrays, load_clip, read_clip
from models.keys.evaluate import BENCH_STYLES, OUT, _truth, clip_activations, clip_score, summary
from models.keys.video2roll import INPUT_SHAPE, Video2Roll

log = logging.getLogger(__name__)
PX_PER_MM = 8 / WHITE_KEY_WIDTH_MM  # the strip's scale (bridge.features.STRIP_SPEC: 8 px per white key)
FULL = KeyLayout.standard(88)
FULL_WIDTH = round(FULL.width_mm * PX_PER_MM)
FULL_CENTRES = np.array([FULL.centre_mm(p)[0] * PX_PER_MM for p in FULL.pitches])
# Audeo reads notes off the thresholded roll: onset = the rise of the key-down probability
KEY_DOWN_WEIGHT = 4.0  # the weight models.keys.train gives its onset targets
ROLL_DECODER = DecoderSettings(onset_threshold=0.5, frame_on=0.5, frame_off=0.5, min_frames=1,
                               onset_required=False)


def on_full_strip(clip: ClipArrays) -> NDArray[np.uint8]:
    """The clip's strips (n, h, w) placed at their keys' place on an 88-key strip (n, h, FULL_WIDTH)."""
    offset = round(float(np.nanmedian(FULL_CENTRES - clip.centres_px)))
    n, height, width = clip.grays.shape
    canvas = np.zeros((n, height, FULL_WIDTH), np.uint8)
    left, right = max(0, offset), min(FULL_WIDTH, offset + width)
    canvas[:, :, left:right] = clip.grays[:, :, left - offset:right - offset]
    return canvas


def inputs(strips: NDArray[np.uint8], targets: NDArray[np.intp]) -> torch.Tensor:
    """Video2Roll's input for each target frame: frames t-2 .. t+2 (clamped), each resized to 100 x 900."""
    channels, height, width = INPUT_SHAPE
    batch = np.empty((len(targets), channels, height, width), np.float32)
    for row, t in enumerate(targets):
        for c, i in enumerate(np.clip(np.arange(t - 2, t + 3), 0, len(strips) - 1)):
            batch[row, c] = cv2.resize(strips[i], (width, height), interpolation=cv2.INTER_LINEAR) / 255.0
    return torch.from_numpy(batch)


def train(minutes: float, batch: int, checkpoint: Path, seed: int = 0) -> Video2Roll:
    """Train for ``minutes``, saving the weights to ``checkpoint`` every 200 steps and at the end."""
    clips = [read_clip(p) for p in sorted((OUT / "cache" / "train").glob("*.npz"))]
    strips = [on_full_strip(c) for c in clips]
    log.info("baseline: %d training clips", len(clips))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Video2Roll()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    started, step = time.time(), 0
    while time.time() - started < minutes * 60:
        picks = rng.integers(0, len(clips), batch)
        frames = [int(rng.integers(0, clips[k].n_frames)) for k in picks]
        x = torch.cat([inputs(strips[k], np.array([t])) for k, t in zip(picks, frames, strict=True)])
        y = torch.from_numpy(np.stack([clips[k].frame[t] for k, t in zip(picks, frames, strict=True)])).float()
        weight = 1.0 + (KEY_DOWN_WEIGHT - 1.0) * y
        loss = torch.nn.functional.binary_cross_entropy(net(x), y, weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % 25 == 0:
            log.info("step %d, %.0f s, loss %.4f", step, time.time() - started, float(loss))
        if step % 200 == 0:
            torch.save(net.state_dict(), checkpoint)
    torch.save(net.state_dict(), checkpoint)
    log.info("baseline trained: %d steps of %d windows in %.0f s", step, batch, time.time() - started)
    return net


def roll_activations(net: Video2Roll, clip: ClipArrays, batch: int = 32) -> list[Activations]:
    strips = on_full_strip(clip)
    probs = []
    with torch.no_grad():
        for first in range(0, len(strips), batch):
            probs.append(net(inputs(strips, np.arange(first, min(len(strips), first + batch)))).numpy())
    roll = np.concatenate(probs).astype(np.float32)
    rise = np.clip(np.diff(roll, axis=0, prepend=np.zeros((1, 88), np.float32)), 0, 1)
    return [Activations(i / clip.fps, rise[i], roll[i], np.full(88, 0.5, np.float32)) for i in range(len(roll))]


def compare(net: Video2Roll, per_style: int) -> dict[str, Any]:
    """Baseline and our committed model on the first ``per_style`` benchmark clips of each style."""
    net.eval()
    ours = KeyModel.load(threads=2)
    report: dict[str, Any] = {}
    for style in BENCH_STYLES:
        bases = sorted((OUT / "bench").glob(f"bench_*_{style}.mp4"))[:per_style]
        theirs_scores, our_scores = [], []
        for video in bases:
            base = video.with_suffix("")
            clip = load_clip(base)
            truth = _truth(base)
            theirs_scores.append(clip_score(roll_activations(net, clip), truth, ROLL_DECODER, clip.fps))
            settings = ours.card.decoder
            our_scores.append(clip_score(clip_activations(base, ours), truth, settings, clip.fps,
                                         settings.onset_required))
        report[style] = {"video2roll": summary(theirs_scores), "ours": summary(our_scores)}
        log.info("%s: video2roll %s, ours %s", style, report[style]["video2roll"], report[style]["ours"])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time (the short schedule)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--clips-per-style", type=int, default=8, help="benchmark clips scored per style")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    folder = OUT / "baseline"
    folder.mkdir(parents=True, exist_ok=True)
    net = train(args.minutes, args.batch, folder / "video2roll.pt")
    report = {"minutes": args.minutes, "batch": args.batch, **compare(net, args.clips_per_style)}
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
