"""The benchmark set: the 8 real performances of ``miditest`` rendered over every style and several cameras.

``make benchmark-set`` (``python -m benchmarks.benchmark_set``) renders every item into
``out/benchmark-set/`` with its labels (.npz) and ground-truth MIDI (.mid), and writes ``manifest.json``
with the sha256 of every file. Seeds, starts and set-ups are fixed, so the set is byte-for-byte the
same on every run with the same ffmpeg. It is for evaluation only: never train on it.

Other benchmarks call :func:`benchmark_items`, which renders any missing item on demand.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bridge.midi import read_midi
from bridge.model import file_sha256
from bridge.synth.notes_io import read_notes
from bridge.synth.render import RenderConfig, render_to_files
from bridge.synth.style import STYLE_NAMES

ROOT = Path(__file__).resolve().parents[1]
MIDI_DIR = ROOT.parent / "shared" / "data" / "midi" / "miditest"
OUT_DIR = ROOT / "out" / "benchmark-set"
SONGS = ("5", "10", "21", "23", "24", "25", "26", "27")
CLIP_SECONDS = 20.0
FIRST_SECOND = 10.0  # skip the opening bars: every song is longer than this plus a clip


@dataclass(frozen=True, slots=True)
class Setup:
    """A camera set-up: frame size, frame rate and whether the frame rate varies."""

    name: str
    size: tuple[int, int]
    fps: float
    vfr: bool = False


# Item k of a song uses SETUPS[(song index * 5 + style index) % 8]: 25 of 40 items at 1280x720 30 fps.
SETUPS = (Setup("720p30", (1280, 720), 30.0),) * 5 + (
    Setup("720p60", (1280, 720), 60.0), Setup("360p30", (640, 360), 30.0), Setup("720p25vfr", (1280, 720), 25.0, True))


@dataclass(frozen=True, slots=True)
class BenchmarkItem:
    name: str
    source: Path  # the real performance (miditest) it was rendered from
    style: str
    seed: int
    setup: Setup
    start: float
    duration: float
    video: Path
    labels: Path
    midi: Path

    def config(self) -> RenderConfig:
        return RenderConfig(style=self.style, seed=self.seed, size=self.setup.size, fps=self.setup.fps,
                            start=self.start, duration=self.duration, vfr=self.setup.vfr)

    def files(self) -> tuple[Path, Path, Path]:
        return self.video, self.labels, self.midi

    def complete(self) -> bool:
        return all(p.exists() for p in self.files())


def plan(out_dir: Path = OUT_DIR, midi_dir: Path = MIDI_DIR, duration: float = CLIP_SECONDS) -> list[BenchmarkItem]:
    """Every item of the set, whether rendered or not."""
    items = []
    for i, song in enumerate(SONGS):
        source = midi_dir / f"{song}.mid"
        for j, style in enumerate(STYLE_NAMES):
            setup = SETUPS[(i * 5 + j) % len(SETUPS)]
            name = f"{song}-{style}-{setup.name}"
            base = out_dir / name
            items.append(BenchmarkItem(name, source, style, 1000 + 10 * i + j, setup, FIRST_SECOND, duration,
                                       base.with_suffix(".mp4"), base.with_suffix(".npz"), base.with_suffix(".mid")))
    return items


def render_item(item: BenchmarkItem) -> BenchmarkItem:
    """Render one item (video, labels, ground-truth MIDI); files appear only once complete."""
    import cv2  # each worker keeps OpenCV to one thread

    cv2.setNumThreads(1)
    item.video.parent.mkdir(parents=True, exist_ok=True)
    notes, sustain = read_notes(item.source)
    parts = [p.with_name(p.stem + ".part" + p.suffix) for p in item.files()]
    render_to_files(notes, item.config(), parts[0], parts[1], sustain, midi_path=parts[2])
    for part, final in zip(parts, item.files(), strict=True):
        part.replace(final)
    return item


def write_manifest(items: list[BenchmarkItem], out_dir: Path) -> Path:
    entries = []
    for item in items:
        entries.append({
            "name": item.name, "source": f"miditest/{item.source.name}", "style": item.style, "seed": item.seed,
            "setup": item.setup.name, "size": list(item.setup.size), "fps": item.setup.fps, "vfr": item.setup.vfr,
            "start": item.start, "duration": item.duration,
            "files": {p.name: file_sha256(p) for p in item.files()},
        })
    manifest = out_dir / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "clip_seconds": entries[0]["duration"] if entries else 0,
                                    "items": entries}, indent=1) + "\n")
    return manifest


def benchmark_items(out_dir: Path = OUT_DIR, workers: int = 2) -> list[BenchmarkItem]:
    """All items of the benchmark set with their paths, rendering the missing ones first."""
    items = plan(out_dir)
    missing = [item for item in items if not item.complete()]
    if missing:
        _render_all(missing, workers)
        write_manifest(items, out_dir)
    return items


def _render_all(items: list[BenchmarkItem], workers: int) -> None:
    if workers <= 1:
        for item in items:
            render_item(item)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, item in enumerate(pool.map(render_item, items), start=1):
            print(f"[{done}/{len(items)}] {item.name}", flush=True)


def _cpu_seconds() -> float:
    """CPU time of this process and of every finished child (render workers and their ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="render the benchmark set into out/benchmark-set/")
    parser.add_argument("--workers", type=int, default=2, help="parallel renders (default 2)")
    parser.add_argument("--force", action="store_true", help="render every item again")
    args = parser.parse_args(argv)
    missing = [m for m in (MIDI_DIR / f"{s}.mid" for s in SONGS) if not m.exists()]
    if missing:
        print(f"error: {missing[0]} is missing: put the shared data folder beside the repository", file=sys.stderr)
        return 2
    for source in {item.source for item in plan()}:
        read_midi(source)  # fail early on an unreadable file
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    items = plan()
    todo = items if args.force else [item for item in items if not item.complete()]
    _render_all(todo, args.workers)
    manifest = write_manifest(items, OUT_DIR)
    cpu = _cpu_seconds() - cpu0
    print(f"{len(todo)} of {len(items)} items rendered in {time.perf_counter() - t0:.0f} s "
          f"({cpu:.0f} CPU seconds with ffmpeg: {cpu / 2 / 60:.1f} min on 2 idle cores); wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
