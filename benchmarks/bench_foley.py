"""Music from motion: are the generated onsets in time with the motion that should sound?

Synthetic performers (bridge/motion_synth.py) play with known note times; each bundled instrument's
preset turns their tracks into notes. Precision is the share of generated onsets within 100 ms of a true
onset, recall the share of true onsets found (mir_eval, one-to-one matching). Piano without a visible
keyboard is also measured on the hand tracks of ``vmb synth`` (the renderer's exact hand labels), whose fingers
strike their keys from above: the ``piano-top`` preset reads those strikes in depth.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence

import mir_eval
import numpy as np

from bridge.foley import foley
from bridge.foley_presets import load_foley_preset
from bridge.midi import read_midi
from bridge.motion_synth import synthesize, tracks_from_synth_labels
from bridge.synth import RenderConfig
from bridge.synth.render import render_frames
from bridge.synth.strikes import strike_style

TITLE = "Music from motion (vmb foley): synchronization"
WINDOW_S = 0.1
SEEDS = range(5)
DURATION_S = 20.0
INSTRUMENTS = {"violin": "bow", "cello": "bow", "guitar": "strum", "ukulele": "strum", "bass": "pluck",
               "drums": "strike", "piano": "tap"}
MIDITEST = ("5", "10", "21", "24")
MIDITEST_MORE = ("5", "21", "23", "26")
CLOSE_LIFT_MM = 4.0  # players whose full-velocity lift is below this keep their fingers close to the keys


def _score(truth: np.ndarray, notes_start: list[float]) -> tuple[float, float, float, float]:
    estimate = np.array(sorted(set(round(s, 4) for s in notes_start)))
    f1, precision, recall = mir_eval.onset.f_measure(truth, estimate, window=WINDOW_S)
    errors = [float(np.min(np.abs(truth - e))) for e in estimate] if len(estimate) else [float("nan")]
    return precision, recall, f1, float(np.median(errors))


def _onsets(result_notes: tuple[object, ...], spread: float) -> list[float]:
    """First onset of each strummed chord (its strings follow within the spread)."""
    starts = sorted(n.start for n in result_notes)  # type: ignore[attr-defined]
    firsts: list[float] = []
    for s in starts:
        if not firsts or s - firsts[-1] > spread * 8 + 1e-6:
            firsts.append(s)
    return firsts


def synthetic_rows() -> list[str]:
    rows = []
    for instrument, gesture in INSTRUMENTS.items():
        preset = load_foley_preset(instrument)
        scores = []
        for seed in SEEDS:
            performance = synthesize(gesture, DURATION_S, seed=seed)
            result = foley(performance.tracks, preset)
            scores.append(_score(performance.onsets, _onsets(result.track.notes, preset.strum_spread)))
        p, r, f, e = np.nanmean(scores, axis=0)
        rows.append(f"| {instrument} | {gesture} | {p:.3f} | {r:.3f} | **{f:.3f}** | {e * 1000:.0f} ms |")
    return rows


def _renderer_score(midi_dir: str, preset_name: str, clips: Sequence[tuple[str, RenderConfig]]) -> list[float]:
    preset = load_foley_preset(preset_name)
    scores = []
    for name, config in clips:
        _, _, labels = render_frames(read_midi(f"{midi_dir}/{name}.mid").notes, config)  # labels only: no pixels
        tracks, truth = tracks_from_synth_labels(labels)
        scores.append(_score(truth, [n.start for n in foley(tracks, preset).track.notes]))
    return [float(v) for v in np.nanmean(scores, axis=0)]


def _close_seeds(style: str, count: int) -> list[int]:
    """The first seeds from 20 whose player keeps the fingers close to the keys."""
    seeds = (seed for seed in range(20, 1000) if strike_style(style, seed).lift_mm < CLOSE_LIFT_MM)
    return [next(seeds) for _ in range(count)]


def _lifts(clips: Sequence[tuple[str, RenderConfig]]) -> str:
    lifts = [strike_style(config.style, config.seed).lift_mm for _, config in clips]
    low, high = f"{min(lifts):.1f}", f"{max(lifts):.1f}"
    return f"full-velocity lift {low} mm" if low == high else f"full-velocity lift {low}-{high} mm"


def renderer_rows(midi_dir: str) -> list[str]:
    """Piano on the hands of ``vmb synth`` (exact labels), whose fingers strike their keys from above."""
    grand = [(name, RenderConfig(style="grand", seed=1, duration=DURATION_S)) for name in MIDITEST]
    varied = [(name, RenderConfig(style=style, seed=10 + k, start=5.0, duration=15.0, size=(640, 360), fps=fps))
              for style in ("grand", "upright", "digital")
              for k, (name, fps) in enumerate(zip(MIDITEST_MORE, (30.0, 25.0, 60.0, 30.0), strict=True))]
    close = [(name, RenderConfig(style=style, seed=seed, start=5.0, duration=15.0, size=(640, 360)))
             for style in ("grand", "upright", "digital")
             for name, seed in zip(MIDITEST_MORE, _close_seeds(style, len(MIDITEST_MORE)), strict=True)]
    rows = []
    for label, preset, clips in (
            (f"piano-top on `vmb synth` grand hands ({len(MIDITEST)} miditest clips x {DURATION_S:.0f} s, "
             f"1280x720 30 fps, exact labels; {_lifts(grand)})", "piano-top", grand),
            ("piano-top on `vmb synth` grand, upright and digital hands (4 other clips x 15 s each, 640x360 at 25, "
             f"30 and 60 fps; {_lifts(varied)})", "piano-top", varied),
            ("piano-top on close (legato) players: the same 4 clips x 3 styles at 640x360 30 fps, seeds whose "
             f"fingers stay near the keys ({_lifts(close)})", "piano-top", close),
            ("piano (front view, `y`) on the same grand hands as the first piano-top row", "piano", grand)):
        p, r, f, e = _renderer_score(midi_dir, preset, clips)
        rows.append(f"| {label} | tap | {p:.3f} | {r:.3f} | **{f:.3f}** | {e * 1000:.0f} ms |")
    return rows


def main() -> list[str]:
    began = time.perf_counter()
    midi_dir = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "midi", "miditest")
    rows = synthetic_rows() + renderer_rows(midi_dir)
    return [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}; `python -m benchmarks.run_all bench_foley` "
        f"({time.perf_counter() - began:.0f} s). Synthetic performers: {len(SEEDS)} seeds x {DURATION_S:.0f} s each, "
        f"tracks at 30 fps with 1.5 px jitter, 1% dropouts and the detector's One Euro smoothing. Onsets within "
        f"{WINDOW_S * 1000:.0f} ms count (strummed chords by their first string).",
        "",
        "| instrument | gesture | precision | recall | F1 | median offset |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


if __name__ == "__main__":
    print("\n".join(main()))
