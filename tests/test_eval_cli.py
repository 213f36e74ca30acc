from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.midi import read_midi, tracks_by_channel, write_midi
from bridge.notes_csv import write_notes_csv

VMB = [sys.executable, "-m", "bridge"]


def vmb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMB, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> Path:
    return shared_data / "midi" / "miditest" / "5.mid"


@pytest.fixture(scope="module")
def shifted(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    notes = [replace(n, start=n.start + 0.07, end=n.end + 0.07) for n in read_midi(reference).notes]
    path = tmp_path_factory.mktemp("eval") / "shifted.mid"
    write_midi(path, tracks_by_channel(notes))
    return path


def test_a_file_against_itself_scores_one(reference: Path) -> None:
    result = vmb("eval", reference, reference, "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["onset_50ms"]["f1"] == 1.0
    assert scores["onset_offset_50ms"]["f1"] == 1.0 and scores["frame"]["f1"] == 1.0
    assert scores["velocity_mae"] == 0.0


def test_a_70ms_shift_fails_at_50ms_and_passes_at_100ms(reference: Path, shifted: Path) -> None:
    scores = json.loads(vmb("eval", reference, shifted, "--json").stdout)
    assert scores["onset_50ms"]["f1"] == 0.0
    assert scores["onset_100ms"]["f1"] == 1.0


def test_shift_option_and_best_shift_search_undo_the_offset(reference: Path, shifted: Path) -> None:
    fixed = json.loads(vmb("eval", reference, shifted, "--shift", "-0.07", "--json").stdout)
    assert fixed["onset_50ms"]["f1"] == 1.0
    found = json.loads(vmb("eval", reference, shifted, "--best-shift", "--json").stdout)
    assert found["shift"] == pytest.approx(-0.07, abs=0.002)
    assert found["onset_50ms"]["f1"] == 1.0


def test_csv_estimates_are_scored_like_midi(reference: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "notes.csv"
    write_notes_csv(csv_path, read_midi(reference).notes)
    scores = json.loads(vmb("eval", reference, csv_path, "--json").stdout)
    assert scores["onset_50ms"]["f1"] == 1.0


def test_human_readable_table_names_each_score(reference: Path) -> None:
    out = vmb("eval", reference, reference).stdout
    for label in ("onset (50 ms)", "onset (100 ms)", "onset+offset", "frame (30 fps)", "velocity error"):
        assert label in out


@pytest.mark.parametrize("content", [b"", b"just some text\n", None, b"MThd\x00\x00\x00\x06\x00\x01"])
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path: Path, reference: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.mid"
    if content is not None:
        path.write_bytes(content)
    result = vmb("eval", reference, path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmb eval: error:")


def test_help_lists_commands_with_examples() -> None:
    top = vmb("--help")
    assert top.returncode == 0 and "eval" in top.stdout
    sub = vmb("eval", "--help")
    assert "example:" in sub.stdout and "vmb eval" in sub.stdout
