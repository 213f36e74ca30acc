"""Train the key model: ``python -m models.keys.train [--config cpu|gpu]``.

Renders (or reuses) the data sets with ``vmb dataset build`` into ``out/keys/data``, caches the rectified
strips, trains on random windows of random crops of the strip with wide augmentation, keeps the checkpoint
with the best validation key-down F1, and exports it to ONNX (``models.keys.export``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bridge import dataset
from models.keys.augment import Batch, BatchSampler
from models.keys.data import ClipArrays, cache_clips, read_clip
from models.keys.net import KeyNet, NetConfig, sample_keys

log = logging.getLogger("models.keys.train")
REPO = Path(__file__).resolve().parents[2]
POP909 = REPO.parent / "shared" / "data" / "midi" / "pop909"
OUT = REPO / "out" / "keys"


@dataclass(frozen=True)
class TrainConfig:
    name: str
    train_hours: float
    val_hours: float
    steps: int
    batch: int
    crop_px: int
    lr: float
    net: NetConfig
    threads: int
    eval_every: int


CONFIGS = {
    "cpu": TrainConfig("cpu", train_hours=0.45, val_hours=0.05, steps=2000, batch=32, crop_px=192, lr=3e-3,
                       net=NetConfig(), threads=2, eval_every=250),
    "gpu": TrainConfig("gpu", train_hours=4.0, val_hours=0.25, steps=40000, batch=256, crop_px=416, lr=2e-3,
                       net=NetConfig(widths=(24, 48, 48, 64), context_layers=3), threads=8, eval_every=1000),
}


def losses(net: KeyNet, batch: Batch, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    logits = net(torch.from_numpy(batch.inputs).to(device))
    keys = sample_keys(logits, torch.from_numpy(batch.centres_px).to(device))  # (b, 3, k)
    mask = torch.from_numpy(batch.mask).to(device)
    onset = torch.from_numpy(batch.onset).to(device)
    frame = torch.from_numpy(batch.frame).to(device)
    velocity = torch.from_numpy(batch.velocity).to(device)
    weight = mask.float()
    n = weight.sum().clamp(min=1)
    onset_loss = (F.binary_cross_entropy_with_logits(keys[:, 0], onset, reduction="none",
                                                     pos_weight=torch.tensor(4.0, device=device)) * weight).sum() / n
    frame_loss = (F.binary_cross_entropy_with_logits(keys[:, 1], frame, reduction="none") * weight).sum() / n
    held = weight * frame
    velocity_loss = ((torch.sigmoid(keys[:, 2]) - velocity) ** 2 * held).sum() / held.sum().clamp(min=1)
    total = onset_loss + frame_loss + 0.5 * velocity_loss
    parts = {"onset": onset_loss.item(), "frame": frame_loss.item(), "velocity": velocity_loss.item()}
    return total, parts


def f1_on(net: KeyNet, batches: list[Batch], device: torch.device) -> dict[str, float]:
    counts = np.zeros((2, 3))  # rows onset/frame; columns true positives, predicted, actual
    net.eval()
    with torch.no_grad():
        for batch in batches:
            logits = net(torch.from_numpy(batch.inputs).to(device))
            probs = torch.sigmoid(sample_keys(logits, torch.from_numpy(batch.centres_px).to(device))).cpu().numpy()
            for row, truth in enumerate((batch.onset, batch.frame)):
                predicted = (probs[:, row] >= 0.5) & batch.mask
                actual = (truth > 0.5) & batch.mask
                counts[row] += [np.sum(predicted & actual), predicted.sum(), actual.sum()]
    net.train()
    scores = {}
    for row, name in enumerate(("onset", "frame")):
        tp, predicted, actual = counts[row]
        scores[f"{name}_f1"] = float(2 * tp / max(predicted + actual, 1))
    return scores


def build_data(config: TrainConfig, workers: int) -> tuple[list[ClipArrays], list[ClipArrays]]:
    clips = {}
    for split, hours in (("train", config.train_hours), ("val", config.val_hours)):
        folder = OUT / "data" / split
        specs = dataset.build(POP909, folder, hours, split, seed=0, workers=workers)
        cached = cache_clips([folder / s.name for s in specs], OUT / "cache" / split, seed=1, workers=workers)
        clips[split] = [read_clip(p) for p in cached]
        log.info("%s: %d clips, %d frames", split, len(cached), sum(c.n_frames for c in clips[split]))
    return clips["train"], clips["val"]


def train(config: TrainConfig, run_dir: Path, workers: int, device_name: str, init: Path | None = None) -> Path:
    torch.set_num_threads(config.threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    train_clips, val_clips = build_data(config, workers)
    sampler = BatchSampler(train_clips, config.crop_px, augment=True, seed=0)
    val_sampler = BatchSampler(val_clips, config.crop_px, augment=False, seed=1)
    val_batches = [val_sampler.sample(64) for _ in range(12)]
    net = KeyNet(config.net).to(device)
    if init is not None:  # fine-tuning: start from a checkpoint of the same network
        net.load_state_dict(torch.load(init, map_location=device)["state"])
        log.info("starting from %s", init)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / config.steps)))
    run_dir.mkdir(parents=True, exist_ok=True)
    best, history, started = -1.0, [], time.time()
    for step in range(1, config.steps + 1):
        loss, parts = losses(net, sampler.sample(config.batch), device)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % config.eval_every == 0 or step == config.steps:
            scores = f1_on(net, val_batches, device)
            history.append({"step": step, "seconds": round(time.time() - started), **parts, **scores})
            log.info("step %d %.0fs loss %.3f %s", step, time.time() - started, loss.item(), scores)
            if scores["frame_f1"] + scores["onset_f1"] > best:
                best = scores["frame_f1"] + scores["onset_f1"]
                torch.save({"state": net.state_dict(), "net": config.net.to_json(), "step": step}, run_dir / "best.pt")
            summary = {"config": asdict(config), "init": str(init) if init else None, "history": history,
                       "train_clips": [c.name for c in train_clips], "val_clips": [c.name for c in val_clips],
                       "seconds": round(time.time() - started)}
            (run_dir / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    return run_dir / "best.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--steps", type=int, help="override the configuration's number of steps")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering and caching data")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--run", type=Path, default=OUT / "run", help="folder for checkpoints and the log")
    parser.add_argument("--init", type=Path, help="fine-tune from this checkpoint (a best.pt of the same network)")
    parser.add_argument("--lr", type=float, help="override the configuration's peak learning rate")
    parser.add_argument("--no-export", action="store_true", help="train only; leave models/keys/keys.onnx alone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = CONFIGS[args.config]
    if args.steps:
        config = replace(config, steps=args.steps, eval_every=min(config.eval_every, args.steps))
    if args.lr:
        config = replace(config, lr=args.lr)
    checkpoint = train(config, args.run, args.workers, args.device, args.init)
    if not args.no_export:
        from models.keys.export import export_checkpoint

        export_checkpoint(checkpoint, config.name)


if __name__ == "__main__":
    main()
