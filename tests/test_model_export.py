"""The card's training command names every run that led to the exported weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
from models.keys.export import committed_training_command, training_command

FIRST = "python -m models.keys.train --config cpu --run out/keys/run3"


def test_a_run_from_scratch_is_one_command() -> None:
    command = training_command("cpu", {"config": {"steps": 2000, "lr": 0.003}})
    assert command == "python -m models.keys.train --config cpu"


def test_a_fine_tune_of_a_run_names_that_run() -> None:
    summary = {"init": "out/keys/run3/best.pt", "config": {"steps": 500, "lr": 0.0003}}
    assert training_command("cpu", summary) == (
        f"{FIRST}`, then `python -m models.keys.train --config cpu --init out/keys/run3/best.pt "
        "--steps 500 --lr 0.0003")


def test_a_fine_tune_of_the_committed_weights_continues_their_command(tmp_path: Path) -> None:
    committed, card = tmp_path / "keys.pt", tmp_path / "card.json"
    committed.write_bytes(b"weights")
    card.write_text(json.dumps({"training": {"command": FIRST}}))
    copy = tmp_path / "copy.pt"
    shutil.copy(committed, copy)
    summary = {"init": str(copy), "config": {"steps": 500, "lr": 0.0003}}
    found = committed_training_command(summary, card, committed)
    assert found == FIRST
    assert training_command("cpu", summary, found) == (
        f"{FIRST}`, then `python -m models.keys.train --config cpu --init models/keys/keys.pt --steps 500 --lr 0.0003")
    copy.write_bytes(b"other weights")  # a checkpoint that is not the committed one
    assert committed_training_command(summary, card, committed) is None
