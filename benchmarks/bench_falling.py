"""Falling-notes transcription on synthetic `synthesia` and `hybrid` renders: accuracy, repeats, hands, speed.

Each clip is rendered by ``bridge.synth`` (real H.264 through ffmpeg), read back through
``VideoFileSource`` and transcribed with the ground-truth calibration from the labels, so these
figures measure the falling-notes method alone (calibration has its own benchmark). The 60 fps clips are also
read through ffmpeg's stripes decoding every frame, only the reference frames or only the I and P frames.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.falling import transcribe_falling
from bridge.falling_source import falling_frames, falling_view, skip_frame
from bridge.midi import read_midi
from bridge.scoring import Scores, match_onsets, score
from bridge.sources import VideoFileSource
from bridge.synth.bars import fade_gain
from bridge.synth.render import RenderConfig, render_to_files, true_geometry
from bridge.synth.style import NOTE_NAME_LOOKS
from bridge.types import KeyboardGeometry, Note

TITLE = "Falling-notes videos (synthesia and hybrid renders)"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "midi"
SECONDS = 20.0
# (width, height, fps) cycled over the clips: 240p to 1080p, 24 to 60 fps
FORMATS = ((640, 360, 30), (1280, 720, 60), (854, 480, 24), (426, 240, 30), (1920, 1080, 30), (1280, 720, 25))
VISIBLE_GAIN = 0.5  # reference notes starting while the picture is darker than this are not scored


@dataclass(frozen=True, slots=True)
class Clip:
    video: Path
    labels: dict[str, object]
    reference: list[Note]  # channel = hand (0 left, 1 right)
    geometry: KeyboardGeometry


def render_clip(workdir: Path, name: str, notes: Sequence[Note], config: RenderConfig) -> Clip:
    """Render (or reuse) one clip and its ground truth."""
    video, labels_path, midi_path = (workdir / f"{name}{suffix}" for suffix in (".mp4", ".npz", ".mid"))
    if not video.exists():
        render_to_files(notes, config, video, labels_path, midi_path=midi_path)
    labels = dict(np.load(labels_path))
    geometry = true_geometry(labels)
    return Clip(video, labels, read_midi(midi_path).notes, geometry)


def _fade_gains(clip: Clip, times: Sequence[float]) -> list[float]:
    style = json.loads(str(clip.labels["style_params"]))
    duration = float(np.asarray(clip.labels["frame_times"])[-1]) + 1.0 / float(np.asarray(clip.labels["fps"]))
    return [fade_gain(t, duration, float(style.get("fade_in_s", 0.0)), float(style.get("fade_out_s", 0.0)))
            for t in times]


def _visible(clip: Clip, notes: Sequence[Note]) -> tuple[list[Note], list[Note]]:
    """The reference notes that start while the picture is bright enough and before the last frame (no frame shows
    one that starts after it), and the estimates but those of the others."""
    last = float(np.asarray(clip.labels["frame_times"])[-1])
    visible = [n for n, g in zip(clip.reference, _fade_gains(clip, [n.start for n in clip.reference]),
                                 strict=True) if g >= VISIBLE_GAIN and n.start <= last]
    hidden = [n for n in clip.reference if n not in visible]
    return visible, [e for e in notes if not any(abs(e.start - h.start) <= 0.05 and e.pitch == h.pitch
                                                 for h in hidden)]


def evaluate_clip(clip: Clip) -> dict[str, float]:
    """Scores over the visible part of the clip, false notes in fades, and the hand split."""
    t0 = time.perf_counter()
    result = transcribe_falling(VideoFileSource(clip.video), clip.geometry)
    seconds = time.perf_counter() - t0
    visible, estimate = _visible(clip, result.notes)
    in_fade = [e for e, g in zip(estimate, _fade_gains(clip, [e.start for e in estimate]), strict=True)
               if g < 1.0 and not any(abs(e.start - r.start) <= 0.05 and e.pitch == r.pitch for r in visible)]
    scores = score(visible, estimate, float(np.asarray(clip.labels["fps"])))
    return {"onset": scores.onset_50ms.f1, "onset_offset": scores.onset_offset_50ms.f1,
            "hands": hand_agreement(visible, estimate), "false_in_fades": float(len(in_fade)),
            "n_ref": float(len(visible)), "n_est": float(len(estimate)), "seconds": seconds,
            "parts": float(len(result.part_colours))}


def hand_agreement(reference: Sequence[Note], estimate: Sequence[Note]) -> float:
    """Share of onset-matched notes whose part is their hand, under the best one-to-one mapping of parts to hands
    (a clip where one hand plays alone has one part, whichever its channel)."""
    pairs = match_onsets(reference, estimate)
    if not pairs:
        return 0.0
    counts: dict[tuple[int, int], int] = {}
    for i, j in pairs:
        key = (estimate[j].channel, reference[i].channel)
        counts[key] = counts.get(key, 0) + 1
    parts = sorted({p for p, _ in counts})
    hands = sorted({h for _, h in counts})
    best = 0
    for mapping in itertools.permutations(hands + [-1] * len(parts), len(parts)):
        best = max(best, sum(counts.get((p, h), 0) for p, h in zip(parts, mapping, strict=True)))
    return best / len(pairs)


REPEAT_SPACINGS = (0.06, 0.08, 0.1, 0.15)
REPEAT_KEYS = ((48, True), (64, True), (67, False), (73, False))  # (pitch, legato)
REPEATS_FROM = 2.5  # after a lead-in: the method learns the empty looks and the bar speed from the first bars
# (width, height, fps, variable frame rate): the benchmark set's formats (benchmarks.benchmark_set) and 240p24
REPEAT_FORMATS = ((640, 360, 30, False), (1280, 720, 60, False), (426, 240, 24, False), (1280, 720, 30, False),
                  (1280, 720, 25, True))


def lead_in_notes() -> list[Note]:
    """Ordinary notes before the runs (a video's first bars): not scored, but false notes among them count."""
    return [Note(0.5 + 0.2 * i, 0.7 + 0.2 * i, pitch, 80) for i, pitch in enumerate((41, 45, 52, 57, 60, 55, 50, 43))]


def repeated_notes() -> list[list[Note]]:
    """Runs of 8 strikes of one key, 60 to 150 ms apart, touching (legato) and detached, one run after another."""
    runs: list[list[Note]] = []
    t = REPEATS_FROM
    for spacing in REPEAT_SPACINGS:
        for pitch, legato in REPEAT_KEYS:
            length = spacing if legato else spacing - 0.02
            runs.append([Note(t + i * spacing, t + i * spacing + length, pitch, 90) for i in range(8)])
            t += 8 * spacing + 0.4
    return runs


def transcribe_frames(clip: Clip, frames: str) -> list[Note]:
    """The notes read through ffmpeg's stripes from ``frames`` (all, reference or ip: bridge.falling_source)."""
    view = falling_view(clip.geometry)
    fps = float(np.asarray(clip.labels["fps"]))
    source = falling_frames(clip.video, view, skip_frame=skip_frame(frames))
    interval = None if frames == "all" else 1 / fps
    return transcribe_falling(source, clip.geometry, points=view.points, frame_interval=interval).notes


def repeat_recall(clip: Clip, runs: Sequence[Sequence[Note]], window: float = 0.03,
                  found: Sequence[Note] | None = None) -> tuple[list[int], int]:
    """Strikes found per run (an estimated onset of the key within ``window``) and the false notes: estimates
    that match no strike and no lead-in note. ``found``: the notes (default: from every frame, read by OpenCV)."""
    if found is None:
        found = transcribe_falling(VideoFileSource(clip.video), clip.geometry).notes
    hits = [sum(any(e.pitch == n.pitch and abs(e.start - n.start) <= window for e in found) for n in run)
            for run in runs]
    every = [n for run in runs for n in run] + lead_in_notes()
    false = sum(not any(e.pitch == n.pitch and abs(e.start - n.start) <= window for n in every) for e in found)
    return hits, false


def repeats_table(workdir: Path) -> list[str]:
    """Found strikes per spacing and touch at each of REPEAT_FORMATS (the issue's 60-150 ms runs, 30 ms window)."""
    runs = repeated_notes()
    names = [f"{spacing * 1000:.0f} ms {'legato' if legato else 'detached'}"
             for spacing in REPEAT_SPACINGS for _, legato in REPEAT_KEYS]
    columns = list(dict.fromkeys(names))
    lines = [f"Fast repeated notes: after {REPEATS_FROM:.1f} s of ordinary notes, runs of 8 strikes of one key 60, "
             "80, 100 and 150 ms apart, two runs per spacing touching (legato: only the bars' outline between them) "
             "and two detached (20 ms apart); found = an estimated onset of the key within 30 ms; false = estimates "
             "that match no note.", "",
             "| style | format | " + " | ".join(columns) + " | all | false |", "|---" * (len(columns) + 4) + "|"]
    for style in ("synthesia", "hybrid"):
        for width, height, fps, vfr in REPEAT_FORMATS:
            config = RenderConfig(style=style, seed=7, size=(width, height), fps=fps, vfr=vfr)
            every = lead_in_notes() + [n for run in runs for n in run]
            clip = render_clip(workdir, f"repeats_{style}_{height}_{fps}{'vfr' if vfr else ''}", every, config)
            hits, false = repeat_recall(clip, runs)
            cells = [f"{sum(h for h, n in zip(hits, names, strict=True) if n == c)}/"
                     f"{8 * names.count(c)}" for c in columns]
            lines.append(f"| {style} | {width}x{height}@{fps}{' (variable)' if vfr else ''} | " + " | ".join(cells)
                         + f" | {sum(hits)}/{8 * len(runs)} | {false} |")
    return lines


FAST_FORMATS = ((1280, 720, 60), (1920, 1080, 60))
FRAME_CHOICES = ("all", "reference", "ip")


def _scored(clips: Sequence[Clip], frames: str) -> tuple[list[tuple[list[Note], list[Note]]], list[int], list[Scores]]:
    """Each clip read from ``frames`` (bridge.falling_source): its visible reference notes and estimates, how many
    those reference notes are (the weights of note-weighted means), and its scores at 60 fps."""
    pairs = [_visible(c, transcribe_frames(c, frames)) for c in clips]
    return pairs, [len(visible) for visible, _ in pairs], [score(visible, found, 60.0) for visible, found in pairs]


def reference_frames_table(workdir: Path, fast_clips: Sequence[Clip]) -> list[str]:
    """The 60 fps clips read from every frame, only the reference frames, or only the I and P frames (ffmpeg's
    stripes): onset and onset+offset F1 of the ordinary clips together, and the fast repeats found."""
    runs = repeated_notes()
    every = lead_in_notes() + [n for run in runs for n in run]
    lines = ["From only the reference frames (`vmb transcribe --frames`): the 60 fps clips above (and the 1080p60 "
             "speed clip), note-weighted, and the fast repeats at 60 fps, read through ffmpeg's stripes from every "
             "frame (all), the reference frames (I, P and referenced B frames: `-skip_frame noref`) or the I and P "
             "frames (`-skip_frame bidir`).", "",
             "| style | frames | frames decoded | onset F1 | onset+offset F1 | repeats 720p60 | false | "
             "repeats 1080p60 | false |", "|---|---|---|---|---|---|---|---|---|"]
    for style in ("synthesia", "hybrid"):
        ordinary = [c for c in fast_clips if json.loads(str(c.labels["style_params"]))["name"] == style]
        repeats = [render_clip(workdir, f"repeats_{style}_{h}_{fps}", every, RenderConfig(style=style, seed=7,
                                                                                          size=(w, h), fps=fps))
                   for w, h, fps in FAST_FORMATS]
        for frames in FRAME_CHOICES:
            _, weights, scores = _scored(ordinary, frames)
            onset = np.average([s.onset_50ms.f1 for s in scores], weights=weights)
            both = np.average([s.onset_offset_50ms.f1 for s in scores], weights=weights)
            decoded = sum(1 for c in ordinary for _ in falling_frames(c.video, falling_view(c.geometry),
                                                                      skip_frame=skip_frame(frames)))
            cells = []
            for clip in repeats:
                hits, false = repeat_recall(clip, runs, found=transcribe_frames(clip, frames))
                cells += [f"{sum(hits)}/{8 * len(runs)}", str(false)]
            lines.append(f"| {style} | {frames} | {decoded} | {onset:.3f} | {both:.3f} | " + " | ".join(cells) + " |")
    return lines


def ordinary_config(style: str, index: int, note_names: str = "", score_lines: str = "",
                    theme: str = "dark", bar_corners: float = 0.0) -> RenderConfig:
    """The ordinary clip of the ``index``-th miditest file: its first SECONDS, the FORMATS in turn, seed ``index``."""
    width, height, fps = FORMATS[index % len(FORMATS)]
    return RenderConfig(style=style, seed=index, size=(width, height), fps=fps, start=0.0, duration=SECONDS,
                        note_names=note_names, score_lines=score_lines, theme=theme, bar_corners=bar_corners)


def _note_weighted(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Onset and onset+offset F1 and hands right of clips (:func:`evaluate_clip`), weighted by their notes."""
    weights = [r["n_ref"] for r in rows]
    return {k: float(np.average([r[k] for r in rows], weights=weights)) for k in ("onset", "onset_offset", "hands")}


def _overlay_table(workdir: Path, midis: Sequence[Path], heading: str, suffix: str,
                   configure: Callable[[str, int], tuple[RenderConfig, str]]) -> list[str]:
    """The ordinary clips again with something drawn over them (``configure``: the config of a style's ``index``-th
    clip and what to call its overlay): onset and onset+offset F1 and the hand split, note-weighted, and the worst
    clip."""
    lines = [heading, "", "| style | notes | onset F1 (50 ms) | onset+offset F1 | hands right | worst clip (onset F1) "
             "|", "|---|---|---|---|---|---|"]
    for style in ("synthesia", "hybrid"):
        rows, names = [], []
        for i, midi in enumerate(midis):
            config, overlay = configure(style, i)
            rows.append(evaluate_clip(render_clip(workdir, f"{style}_{midi.stem}_{suffix}", read_midi(midi).notes,
                                                  config)))
            names.append(f"{midi.name} {config.size[1]}p{config.fps:g} {overlay}".rstrip())
        mean = _note_weighted(rows)
        worst = int(np.argmin([r["onset"] for r in rows]))
        lines.append(f"| {style} | {sum(r['n_ref'] for r in rows):.0f} | {mean['onset']:.3f} | "
                     f"{mean['onset_offset']:.3f} | "
                     f"{mean['hands']:.3f} | {names[worst]}: {rows[worst]['onset']:.3f} |")
    return lines


def note_names_table(workdir: Path, midis: Sequence[Path]) -> list[str]:
    """The ordinary clips with each note's name written in its bar (RenderConfig.note_names), the looks in turn."""
    def named(style: str, index: int) -> tuple[RenderConfig, str]:
        look = NOTE_NAME_LOOKS[index % len(NOTE_NAME_LOOKS)]
        return ordinary_config(style, index, note_names=look), look

    heading = ("With note names written in the bars (`vmb synth --note-names`: white letters near each bar's front; "
               f"the clips above, {' and '.join(NOTE_NAME_LOOKS)} in turn; note-weighted):")
    return _overlay_table(workdir, midis, heading, "names", named)


def score_lines_table(workdir: Path, midis: Sequence[Path]) -> list[str]:
    """The ordinary clips with score lines behind the bars (RenderConfig.score_lines): measures and octaves."""
    heading = ("With score lines behind the bars (`vmb synth --score-lines both`: a line across the keyboard at each "
               "measure, falling with the bars, and still lines at each C and F; the clips above; note-weighted):")
    return _overlay_table(workdir, midis, heading, "lines",
                          lambda style, index: (ordinary_config(style, index, score_lines="both"), ""))


def light_theme_table(workdir: Path, midis: Sequence[Path]) -> list[str]:
    """The ordinary clips over a light background (RenderConfig.theme): bars darker than the page behind them."""
    heading = ("Over a light background (`vmb synth --theme light`: a white to pale grey page behind the bars, in "
               "`hybrid` the room behind the keyboard; the clips above; note-weighted):")
    return _overlay_table(workdir, midis, heading, "light",
                          lambda style, index: (ordinary_config(style, index, theme="light"), ""))


ROUNDED_CORNERS = 0.3  # the corner radius of the rounded-bars table, a share of a bar's width


def rounded_corners_table(workdir: Path, midis: Sequence[Path]) -> list[str]:
    """The ordinary clips with rounded bar corners (RenderConfig.bar_corners), as modern visualizers draw them."""
    heading = (f"With rounded bar corners (`vmb synth --bar-corners {ROUNDED_CORNERS}`: quarter circles of "
               f"{ROUNDED_CORNERS} of a bar's width; the clips above; note-weighted):")
    return _overlay_table(workdir, midis, heading, "rounded",
                          lambda style, index: (ordinary_config(style, index, bar_corners=ROUNDED_CORNERS), ""))


FULL_HD_PIECES = ("5", "10", "21", "23", "27")  # miditest files rendered at 1920x1080@60 (seed: their index)


def full_hd_table(workdir: Path, midis: Sequence[Path]) -> list[str]:
    """Ordinary clips at 1080p60, where `vmb transcribe` reads only the I and P frames by itself (--frames auto),
    from every frame and from those: onset and onset+offset F1 (note-weighted) and the hand split."""
    lines = ["At 1920x1080@60, where `vmb transcribe` reads only the I and P frames by itself (the first "
             f"{SECONDS:.0f} s of miditest {', '.join(FULL_HD_PIECES)}, a seed per file, read through ffmpeg's "
             "stripes; note-weighted):", "",
             "| style | frames | notes | onset F1 (50 ms) | onset+offset F1 | hands right | worst clip (onset F1) |",
             "|---|---|---|---|---|---|---|"]
    for style in ("synthesia", "hybrid"):
        clips = [render_clip(workdir, f"{style}_{midi.stem}_1080p60", read_midi(midi).notes,
                             RenderConfig(style=style, seed=i, size=(1920, 1080), fps=60, start=0.0, duration=SECONDS))
                 for i, midi in enumerate(midis) if midi.stem in FULL_HD_PIECES]
        for frames in ("all", "ip"):
            pairs, weights, scores = _scored(clips, frames)
            onsets = [s.onset_50ms.f1 for s in scores]
            worst = int(np.argmin(onsets))
            hands = np.average([hand_agreement(v, f) for v, f in pairs], weights=weights)
            lines.append(f"| {style} | {frames} | {sum(weights)} | {np.average(onsets, weights=weights):.3f} | "
                         f"{np.average([s.onset_offset_50ms.f1 for s in scores], weights=weights):.3f} | "
                         f"{hands:.3f} | {clips[worst].video.stem}: {onsets[worst]:.3f} |")
    return lines


def processing_speed(clip: Clip) -> tuple[float, float, float]:
    """Frames/s for decoding only, the method only (process CPU time on decoded frames) and both (wall)."""
    frames = list(VideoFileSource(clip.video))
    t0 = time.perf_counter()
    sum(1 for _ in VideoFileSource(clip.video))
    decode = len(frames) / (time.perf_counter() - t0)
    c0 = time.process_time()
    transcribe_falling(frames, clip.geometry)
    method = len(frames) / (time.process_time() - c0)
    t0 = time.perf_counter()
    transcribe_falling(VideoFileSource(clip.video), clip.geometry)
    both = len(frames) / (time.perf_counter() - t0)
    return decode, method, both


def run(workdir: Path) -> list[str]:
    lines = [f"Clips: the first {SECONDS:.0f} s of each `miditest` file, one seed per file, formats cycled over "
             + ", ".join(f"{w}x{h}@{f}" for w, h, f in FORMATS) + ". Scores count reference notes that start while "
             f"the picture is at least {VISIBLE_GAIN:.0%} bright (fade-ins hide the first notes) and no later than the "
             "last frame (no frame shows a note that starts after it).", "",
             "| style | clip | format | look | notes | onset F1 (50 ms) | onset+offset F1 | hands right | "
             "false notes in fades | parts |", "|---|---|---|---|---|---|---|---|---|---|"]
    totals: dict[str, list[dict[str, float]]] = {"synthesia": [], "hybrid": []}
    fast_clips: list[Clip] = []
    midis = sorted(DATA.joinpath("miditest").glob("*.mid"))
    for style in totals:
        for i, midi in enumerate(midis):
            config = ordinary_config(style, i)
            width, height = config.size
            fps = config.fps
            clip = render_clip(workdir, f"{style}_{midi.stem}", read_midi(midi).notes, config)
            row = evaluate_clip(clip)
            totals[style].append(row)
            if fps >= 60:
                fast_clips.append(clip)
            look = json.loads(str(clip.labels["style_params"]))
            effects = [k for k in ("glow", "particles") if look.get(k)] + [look.get("bar_look", "")]
            effects += ["fade"] if look.get("fade_in_s") or look.get("fade_out_s") else []
            effects += ["title"] if look.get("title") else []
            effects += ["watermark"] if look.get("watermark") else []
            lines.append(f"| {style} | {midi.name} | {width}x{height}@{fps} | {' '.join(effects)} | "
                         f"{row['n_ref']:.0f} | {row['onset']:.3f} | {row['onset_offset']:.3f} | "
                         f"{row['hands']:.3f} | {row['false_in_fades']:.0f} | {row['parts']:.0f} |")
    for style, rows in totals.items():
        mean = _note_weighted(rows)
        lines.append(f"| **{style}** | all (note-weighted) | | | {sum(r['n_ref'] for r in rows):.0f} | "
                     f"**{mean['onset']:.3f}** | "
                     f"**{mean['onset_offset']:.3f}** | **{mean['hands']:.3f}** | "
                     f"{sum(r['false_in_fades'] for r in rows):.0f} | |")
    lines += ["", *note_names_table(workdir, midis)]
    lines += ["", *score_lines_table(workdir, midis)]
    lines += ["", *light_theme_table(workdir, midis)]
    lines += ["", *rounded_corners_table(workdir, midis)]
    lines += ["", *repeats_table(workdir)]
    notes = read_midi(midis[0]).notes
    clip = render_clip(workdir, "speed_1080p60", notes, RenderConfig(style="synthesia", seed=3, size=(1920, 1080),
                                                                       fps=60, start=0.0, duration=10.0))
    lines += ["", *reference_frames_table(workdir, [*fast_clips, clip])]
    lines += ["", *full_hd_table(workdir, midis)]
    decode, method, both = processing_speed(clip)
    lines += ["", "Speed, 1920x1080 at 60 fps (10 s synthesia clip):", "", "| what | frames/s | x real time |",
              "|---|---|---|",
              f"| the method on decoded frames (process CPU time) | {method:.0f} | {method / 60:.1f} |",
              f"| decoding only (OpenCV/FFmpeg) | {decode:.0f} | {decode / 60:.1f} |",
              f"| decoding + method (wall clock) | {both:.0f} | {both / 60:.1f} |"]
    return lines


def main() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return run(Path(tmp))
