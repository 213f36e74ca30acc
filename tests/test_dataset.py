from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bridge import dataset
from bridge.cli import main
from bridge.midi import read_midi
from bridge.sources import probe


@pytest.fixture(scope="module")
def pop909(shared_data: Path) -> Path:
    return shared_data / "midi" / "pop909"


def test_pop909_split_is_fixed_by_song_number(pop909: Path) -> None:
    train = dataset.split_songs(pop909, "train")
    val = dataset.split_songs(pop909, "val")
    assert {p.stem for p in val} == {f"{i:03d}" for i in range(851, 910)}
    assert len(train) == 850 and train[0].stem == "001" and train[-1].stem == "850"
    assert dataset.song_split(Path("elsewhere.mid")) == dataset.song_split(Path("other/elsewhere.mid"))


def test_plan_is_reproducible_and_varied(pop909: Path) -> None:
    songs = dataset.split_songs(pop909, "train")[:40]

    def plan(seed: int, n: int = 30) -> list[dataset.ShardSpec]:
        return dataset.plan_shards(songs, n, 20.0, seed, "train", lambda _: 120.0)

    assert plan(3) == plan(3)
    assert plan(3) != plan(4)
    assert plan(3, 10) == plan(3)[:10]  # a longer build extends a shorter one
    specs = plan(3)
    assert len({s.style for s in specs}) >= 4 and len({s.size for s in specs}) >= 2
    assert all(0.0 <= s.start <= 120.0 * s.tempo - 20.0 for s in specs)
    assert all(dataset.TEMPO_RANGE[0] <= s.tempo <= dataset.TEMPO_RANGE[1] for s in specs)


def test_build_writes_video_labels_and_truth_and_resumes(pop909: Path, tmp_path: Path) -> None:
    specs = dataset.build(pop909, tmp_path, hours=2.0 / 3600, split="val", seed=7, clip_seconds=2.0)
    assert len(specs) == 1
    base = tmp_path / specs[0].name
    info = probe(base.with_suffix(".mp4"))
    assert (info.width, info.height) == specs[0].size
    with np.load(base.with_suffix(".npz")) as labels:
        assert len(labels["key_state"]) == round(2.0 * specs[0].fps) == info.n_frames
        truth = read_midi(base.with_suffix(".mid")).notes
        # The MIDI beside the clip holds exactly the notes that start in the clip's labels (plus held ones).
        assert int(labels["onsets"].sum()) <= len(truth)
        assert all(0.0 <= n.start < 2.0 and n.end <= 2.0 + 1e-6 for n in truth)
    manifest = json.loads((tmp_path / "manifest_val_007.json").read_text())
    assert manifest["shards"][0]["name"] == specs[0].name
    assert dataset.list_shards(tmp_path) == [base]
    stamp = base.with_suffix(".mp4").stat().st_mtime_ns
    dataset.build(pop909, tmp_path, hours=2.0 / 3600, split="val", seed=7, clip_seconds=2.0)
    assert base.with_suffix(".mp4").stat().st_mtime_ns == stamp


def test_cli_reports_a_missing_midi_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["dataset", "build", "--midi", str(tmp_path / "none"), "--out", str(tmp_path / "out"),
                 "--hours", "0.01"])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_rejects_an_empty_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "001.mid").write_bytes(b"")
    code = main(["dataset", "build", "--midi", str(tmp_path), "--out", str(tmp_path / "out"), "--hours", "0.01",
                 "--split", "val"])
    assert code == 2 and "no MIDI files in the val split" in capsys.readouterr().err
