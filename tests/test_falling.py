"""Falling-notes transcription on frames drawn by the real renderer (bridge.synth), with effects added here."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.cli import main
from bridge.errors import CalibrationError, VideoError
from bridge.falling import FallingResult, is_falling_notes_video, part_colour_names, transcribe_falling
from bridge.falling_fronts import Front
from bridge.falling_parts import cluster_parts
from bridge.falling_sampling import SamplePoints
from bridge.falling_tracker import FallingSettings, Tracker, _front_above_dip
from bridge.midi import read_midi
from bridge.scoring import score
from bridge.sources import VideoFileSource
from bridge.synth.render import RenderConfig, build_scene, render_frames, render_to_files, true_geometry
from bridge.transcribe import TranscribeOptions, choose_method
from bridge.types import Frame, KeyboardGeometry, Note

SIZE = (640, 360)


def _excerpt(shared: Path, start: float = 4.0, seconds: float = 5.0) -> list[Note]:
    notes = read_midi(shared / "midi" / "miditest" / "10.mid").notes
    return [Note(n.start - start + 0.8, min(n.end, start + seconds) - start + 0.8, n.pitch, n.velocity)
            for n in notes if start <= n.start < start + seconds - 0.3]


def _render(notes: list[Note], style: str, seed: int, fps: float = 30.0,
            size: tuple[int, int] = SIZE) -> tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]:
    """Frames (not encoded), the ground-truth calibration, and reference notes with channel = hand."""
    duration = max(n.end for n in notes) + 0.5
    scene, images, labels = render_frames(notes, RenderConfig(style=style, seed=seed, size=size, fps=fps,
                                                              duration=duration))
    frames = [Frame(i, float(t), image) for i, (t, image) in enumerate(zip(scene.timestamps, images, strict=True))]
    reference = [Note(n.start, n.end, n.pitch, n.velocity, hand)
                 for n, hand in zip(scene.notes, scene.note_hands, strict=True)]
    return frames, true_geometry(labels), reference, labels


def _onset_f1(reference: list[Note], estimate: list[Note]) -> float:
    return score(reference, estimate).onset_50ms.f1 if reference and estimate else 0.0


def _split_agreement(reference: list[Note], estimate: list[Note]) -> float:
    """Share of matched notes whose part maps to their hand (best one-to-one mapping of parts to hands)."""
    pairs = [(r.channel, e.channel) for r in reference for e in estimate
             if r.pitch == e.pitch and abs(r.start - e.start) <= 0.05]
    same = sum(h == p for h, p in pairs)
    return max(same, len(pairs) - same) / max(len(pairs), 1)


@pytest.fixture(scope="module")
def synthesia(shared_data: Path) -> tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]:
    return _render(_excerpt(shared_data), "synthesia", seed=5)


def test_synthesia_notes_onsets_and_hands(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                             dict[str, Any]]) -> None:
    frames, geometry, reference, _ = synthesia
    result = transcribe_falling(iter(frames), geometry)  # a one-pass iterator: the method streams
    assert _onset_f1(reference, result.notes) >= 0.95
    assert _split_agreement(reference, result.notes) >= 0.95
    assert len(result.part_colours) == len({n.channel for n in reference})
    assert {n.channel for n in result.notes} == set(range(len(result.part_colours)))


def test_part_colours_are_the_bar_colours(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                             dict[str, Any]]) -> None:
    frames, geometry, reference, labels = synthesia
    style = json.loads(str(labels["style_params"]))
    result = transcribe_falling(frames, geometry)
    low_hand = min({0, 1}, key=lambda h: np.mean([n.pitch for n in reference if n.channel == h] or [999]))
    bars = [style["left_bar_colour"], style["right_bar_colour"]]
    expected = [bars[low_hand], bars[1 - low_hand]]
    for found, want in zip(result.part_colours, expected, strict=True):
        assert np.abs(np.subtract(found, want)).max() <= 40
    assert all(name.startswith("#") and len(name) == 7 for name in part_colour_names(result.part_colours))


@pytest.fixture(scope="module")
def hybrid(shared_data: Path) -> tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]:
    return _render(_excerpt(shared_data), "hybrid", seed=2)


def test_hybrid_with_hands_over_the_keys(hybrid: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                       dict[str, Any]]) -> None:
    """Fingers on the front of a lit key hide its colour there: the key is read on its back too, so held notes
    are not cut into pieces (onset+offset F1)."""
    frames, geometry, reference, _ = hybrid
    result = transcribe_falling(frames, geometry)
    assert _onset_f1(reference, result.notes) >= 0.95
    assert score(reference, result.notes).onset_offset_50ms.f1 >= 0.9
    assert _split_agreement(reference, result.notes) >= 0.95


def test_real_h264_video(tmp_path: Path, shared_data: Path) -> None:
    notes = _excerpt(shared_data, seconds=2.0)
    config = RenderConfig(style="synthesia", seed=1, size=(426, 240), fps=24, duration=max(n.end for n in notes) + 0.3)
    labels = render_to_files(notes, config, tmp_path / "v.mp4", None)
    result = transcribe_falling(VideoFileSource(tmp_path / "v.mp4"), true_geometry(labels))
    assert _onset_f1([Note(n.start, n.end, n.pitch) for n in notes], result.notes) >= 0.9


def test_fast_repeated_notes() -> None:
    """At 60 fps, detached re-strikes 80 ms apart (the key is dark for a frame) and legato ones 100 ms apart (only
    the outline between two bars tells them apart) are each found, once (after the first second, which the
    method learns from)."""
    lead_in = [Note(0.5 + 0.3 * i, 0.7 + 0.3 * i, pitch, 80) for i, pitch in enumerate((50, 57, 60, 55))]
    detached = [Note(2.0 + 0.08 * i, 2.06 + 0.08 * i, 69, 90) for i in range(6)]
    legato = [Note(2.0 + 0.1 * i, 2.1 + 0.1 * i, 64, 90) for i in range(6)]
    frames, geometry, _, _ = _render(lead_in + detached + legato, "synthesia", seed=8, fps=60)
    found = transcribe_falling(frames, geometry).notes

    def hits(notes: list[Note]) -> int:
        return sum(any(e.pitch == n.pitch and abs(e.start - n.start) <= 0.03 for e in found) for n in notes)

    assert hits(detached) == len(detached)
    assert hits(legato) == len(legato)
    assert len([e for e in found if e.pitch in (64, 69)]) == len(detached) + len(legato)


@pytest.mark.parametrize("look", ["leading", "held"])
def test_notes_named_in_their_bars_are_found_once(tmp_path: Path, shared_data: Path, look: str) -> None:
    """Tutorials often write each note's name in its bar, in white near the front: the letter's lower edge falls
    with the bar like the outline of a next bar, and it split notes once it reached the key (a 720p30 render: 9
    notes found 12 times before, onset+offset F1 0.57). Each note is found once, with its offset, whether the name
    moves with the bar into the keyboard or stays above the keys while the note sounds."""
    notes = _excerpt(shared_data, seconds=3.0)
    config = RenderConfig(style="synthesia", seed=4, size=(1280, 720), fps=30, duration=max(n.end for n in notes) + 0.3,
                          note_names=look)
    labels = render_to_files(notes, config, tmp_path / "v.mp4", None)
    found = transcribe_falling(VideoFileSource(tmp_path / "v.mp4"), true_geometry(labels)).notes
    reference = [Note(n.start, n.end, n.pitch) for n in notes]
    assert len(found) == len(reference)
    assert score(reference, found).onset_offset_50ms.f1 >= 0.95


@pytest.mark.parametrize("piece", ["10", "27"])
def test_measure_lines_behind_translucent_bars_make_no_notes(tmp_path: Path, shared_data: Path, piece: str) -> None:
    """MIDI visualizers draw a line across the keyboard at each measure, falling with the bars: a front on every
    empty key, seen through every translucent bar. Where a hand made a key look lit, it started a note as it reached
    the key (a 640x360 hybrid render: one false note at the line of 10 s, onset+offset F1 0.96). No note starts at a
    line without a bar there, and each note is found once."""
    notes = read_midi(shared_data / "midi" / "miditest" / f"{piece}.mid").notes
    config = RenderConfig(style="hybrid", seed=4, size=(640, 360), fps=30, duration=12.0, score_lines="measures")
    labels = render_to_files(notes, config, tmp_path / "v.mp4", None)
    reference = [Note(n.start, n.end, n.pitch) for n in build_scene(notes, config).notes]
    found = transcribe_falling(VideoFileSource(tmp_path / "v.mp4"), true_geometry(labels)).notes
    at_lines = [n for n in found if min(abs(n.start - line) for line in (2.0, 4.0, 6.0, 8.0, 10.0)) < 0.1
                and not any(r.pitch == n.pitch and abs(r.start - n.start) <= 0.05 for r in reference)]
    assert at_lines == []
    assert len(found) == len(reference)
    assert score(reference, found).onset_offset_50ms.f1 >= 0.98


@pytest.mark.parametrize(("piece", "seed"), [("21", 38), ("10", 5), ("27", 11)])
def test_bars_over_a_light_background_are_read_as_over_a_dark_one(tmp_path: Path, shared_data: Path, piece: str,
                                                                  seed: int) -> None:
    """A light theme (vmb synth --theme light): the bars are darker than the page, their outlines darker still, and a
    gradient bar's darker half differs more from the page than its brighter half at the keys. Read as on a dark
    background, the middle of each gradient bar was a front that split its note and the top of each bar a front
    that added a note a frame long at its end: every note found, but onset F1 0.73, 0.69 and 0.79 (precision 0.57,
    0.53, 0.65). Gradient, solid and translucent bars at 640x360 30 fps (styles without fades)."""
    notes = read_midi(shared_data / "midi" / "miditest" / f"{piece}.mid").notes
    config = RenderConfig(style="synthesia", seed=seed, size=(640, 360), fps=30, duration=10.0, theme="light")
    labels = render_to_files(notes, config, tmp_path / "v.mp4", None)
    reference = [Note(n.start, n.end, n.pitch) for n in build_scene(notes, config).notes if n.start < 9.9]
    found = transcribe_falling(VideoFileSource(tmp_path / "v.mp4"), true_geometry(labels)).notes
    scores = score(reference, found)
    assert scores.onset_50ms.f1 >= 0.97 and scores.onset_offset_50ms.f1 >= 0.95


def test_the_whole_command_reads_a_light_themed_tutorial_by_itself(tmp_path: Path, shared_data: Path) -> None:
    """vmb transcribe with nothing but the video: the keyboard under a pale page is found, the falling method is
    chosen, and the notes come out as in the dark video."""
    notes = read_midi(shared_data / "midi" / "miditest" / "10.mid").notes
    config = RenderConfig(style="synthesia", seed=5, size=(640, 360), fps=30, duration=8.0, theme="light")
    render_to_files(notes, config, tmp_path / "v.mp4", None)
    assert main(["transcribe", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "v.mid")]) == 0
    reference = [Note(n.start, n.end, n.pitch) for n in build_scene(notes, config).notes if n.start < 7.9]
    found = [Note(n.start, n.end, n.pitch) for n in read_midi(tmp_path / "v.mid").notes]
    assert score(reference, found).onset_50ms.f1 >= 0.95


def test_note_names_in_the_bars_do_not_make_a_part(tmp_path: Path, shared_data: Path) -> None:
    """A bar is known by its colour as it arrives: at 240p a note name kept above the keys fills most of the three
    rows past a bar's front that colour was read from, and whitish notes made a third part (2 hands: 3 parts, 0.79
    of the notes in their hand's part). Rows much paler than the bar are not its colour."""
    notes = read_midi(shared_data / "midi" / "miditest" / "24.mid").notes
    config = RenderConfig(style="hybrid", seed=3, size=(426, 240), fps=30, duration=6.0, note_names="held")
    labels = render_to_files(notes, config, tmp_path / "v.mp4", None)
    scene = build_scene(notes, config)
    reference = [Note(n.start, n.end, n.pitch, n.velocity, hand)
                 for n, hand in zip(scene.notes, scene.note_hands, strict=True)]
    result = transcribe_falling(VideoFileSource(tmp_path / "v.mp4"), true_geometry(labels))
    assert len(result.part_colours) == 2
    assert _split_agreement(reference, result.notes) >= 0.95


def _fade_and_title(frames: list[Frame], seconds: float) -> Iterator[Frame]:
    """A title card over everything, then a fade-in, over the first ``seconds``."""
    for frame in frames:
        image = frame.image.copy()
        if frame.t < seconds / 2:
            image[:] = (60, 30, 20)
            cv2.putText(image, "My Song - Tutorial", (40, 160), cv2.FONT_HERSHEY_DUPLEX, 1.2, (255, 255, 255), 2)
        elif frame.t < seconds:
            gain = (frame.t - seconds / 2) / (seconds / 2)
            image = np.asarray(cv2.convertScaleAbs(image, alpha=gain), dtype=np.uint8)
        yield Frame(frame.index, frame.t, image)


def test_no_notes_during_title_and_fade(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                         dict[str, Any]]) -> None:
    frames, geometry, reference, _ = synthesia
    hidden = 1.6
    found = transcribe_falling(_fade_and_title(frames, hidden), geometry).notes
    assert all(n.start >= hidden * 0.75 for n in found)
    later = [n for n in reference if n.start > hidden + 0.1]
    assert _onset_f1(later, [n for n in found if n.start > hidden + 0.1]) >= 0.95


def _glow_particles_watermark(frames: list[Frame], geometry: KeyboardGeometry, pitch: int) -> Iterator[Frame]:
    """Coloured glow and sparks on one key that plays nothing, and a watermark over the keys."""
    layout = geometry.layout
    to_image = np.linalg.inv(geometry.homography)
    left, right = layout.x_range_mm(pitch)
    x, y = (int(v) for v in np.rint(cv2.perspectiveTransform(np.array([[[(left + right) / 2, -6.0]]]),
                                                              to_image)[0, 0]))
    rng = np.random.default_rng(0)
    for frame in frames:
        image = frame.image.copy()
        if int(frame.t * 2) % 2:  # pulsing glow
            glow = np.zeros_like(image)
            cv2.ellipse(glow, (x, y), (22, 10), 0, 0, 360, (40, 200, 250), -1)
            image = np.asarray(cv2.add(image, cv2.GaussianBlur(glow, (0, 0), 5)), dtype=np.uint8)
        for _ in range(4):
            cv2.circle(image, (x + int(rng.integers(-12, 13)), y - int(rng.integers(0, 30))), 1, (255, 255, 200), -1)
        cv2.putText(image, "pianotutor", (400, 330), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 1)
        yield Frame(frame.index, frame.t, np.asarray(image, dtype=np.uint8))


def test_glow_particles_and_watermark_make_no_notes(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                                     dict[str, Any]]) -> None:
    frames, geometry, reference, _ = synthesia
    quiet = next(p for p in range(40, 90) if all(abs(n.pitch - p) > 2 for n in reference))
    found = transcribe_falling(_glow_particles_watermark(frames, geometry, quiet), geometry).notes
    assert not [n for n in found if abs(n.pitch - quiet) <= 1]
    assert _onset_f1(reference, found) >= 0.9


def test_cropped_keyboard_keeps_the_keys_in_view(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                                  dict[str, Any]]) -> None:
    frames, geometry, reference, _ = synthesia
    cut = 160  # the left quarter of the picture is gone
    shift = np.array([[1.0, 0.0, cut], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # cropped pixel -> original pixel
    cropped = KeyboardGeometry.from_homography((SIZE[0] - cut, SIZE[1]), geometry.lowest_pitch, geometry.n_keys,
                                               geometry.homography @ shift)
    images = (Frame(f.index, f.t, np.ascontiguousarray(f.image[:, cut:])) for f in frames)
    found = transcribe_falling(images, cropped).notes
    to_image = np.linalg.inv(geometry.homography)
    in_view = [n for n in reference
               if cv2.perspectiveTransform(np.array([[[sum(geometry.layout.x_range_mm(n.pitch)) / 2, 0.0]]]),
                                           to_image)[0, 0, 0] > cut + 15]
    assert in_view and _onset_f1(in_view, found) >= 0.9


def test_recognises_falling_notes_videos(shared_data: Path,
                                         synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]],
                                         hybrid: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]],
                                         ) -> None:
    for frames, geometry, _, _ in (synthesia, hybrid):
        assert is_falling_notes_video([f.image for f in frames[::8]], geometry)
    grand, grand_geometry, _, _ = _render(_excerpt(shared_data, seconds=2.5), "grand", seed=1)
    assert not is_falling_notes_video([f.image for f in grand[::6]], grand_geometry)


def test_auto_recognises_a_short_clip_of_sparse_music_and_not_a_real_keyboard(tmp_path: Path,
                                                                              shared_data: Path) -> None:
    """`--method auto` looks for keys lit in the colour of the bar above them. 20 s of 21.mid (25 notes) at 60 fps
    has 5 keyframes, where one key was lit: it took the keys method. Frames decoded in order show more."""
    notes = read_midi(shared_data / "midi" / "miditest" / "21.mid").notes
    config = RenderConfig(style="synthesia", seed=1, size=(426, 240), fps=60, duration=20.0)
    labels = render_to_files(notes, config, tmp_path / "s.mp4", None)
    assert choose_method(tmp_path / "s.mp4", true_geometry(labels), TranscribeOptions()) == "falling"
    config = RenderConfig(style="grand", seed=1, size=(426, 240), fps=60, duration=6.0)
    labels = render_to_files(notes, config, tmp_path / "g.mp4", None)
    assert choose_method(tmp_path / "g.mp4", true_geometry(labels), TranscribeOptions()) == "keys"


def test_auto_recognises_sparse_music_in_a_youtube_codec(tmp_path: Path, shared_data: Path) -> None:
    """21.mid in VP9 (what YouTube serves as WebM): its 16 keyframes show 3 keys lit in their bar's colour, where
    one in four frames was asked for, and it took the keys method."""
    notes = read_midi(shared_data / "midi" / "miditest" / "21.mid").notes
    config = RenderConfig(style="synthesia", seed=1, size=(640, 360), fps=60, duration=20.0)
    labels = render_to_files(notes, config, tmp_path / "s.mp4", None)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "s.mp4"), "-c:v", "libvpx-vp9", "-b:v", "500k",
                    "-deadline", "realtime", "-cpu-used", "8", str(tmp_path / "s.webm")], check=True)
    assert choose_method(tmp_path / "s.webm", true_geometry(labels), TranscribeOptions()) == "falling"


def test_errors_say_what_to_do(synthesia: tuple[list[Frame], KeyboardGeometry, list[Note],
                                                dict[str, Any]]) -> None:
    frames, geometry, _, _ = synthesia
    small = Frame(0, 0.0, np.zeros((180, 320, 3), np.uint8))
    with pytest.raises(VideoError, match="recalibrate"):
        transcribe_falling([small], geometry)
    far_away = geometry.homography @ np.array([[1.0, 0, -5000], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(CalibrationError, match="--method keys"):
        transcribe_falling(frames, KeyboardGeometry.from_homography(SIZE, 21, 88, far_away))
    assert transcribe_falling([], geometry) == FallingResult([], [])


def test_parts_by_hue_ordered_by_pitch() -> None:
    rng = np.random.default_rng(1)
    green = np.array([90.0, 200.0, 60.0]) * rng.uniform(0.4, 1.0, (30, 1))  # dim and bright, one hue
    blue = np.array([220.0, 140.0, 50.0]) * rng.uniform(0.4, 1.0, (30, 1))
    colours: NDArray[np.float64] = np.vstack([blue, green])
    pitches = np.concatenate([rng.integers(60, 90, 30), rng.integers(30, 59, 30)]).astype(np.int64)
    parts = cluster_parts(colours, pitches)
    assert list(parts.labels[:30]) == [1] * 30 and list(parts.labels[30:]) == [0] * 30
    assert parts.colours[0][1] > parts.colours[0][0] and parts.colours[1][0] > parts.colours[1][1]
    single = cluster_parts(blue, pitches[:30])
    assert len(single.colours) == 1 and not single.labels.any()


def test_white_neighbours_bars_are_not_the_black_key() -> None:
    """A white key's bar covers most of the black neighbour's width: F and G bars beside F# (the black key
    nearest a white key's edge) give no F# notes, and the F# notes between them are each found once."""
    held = [Note(0.8 + 1.4 * i, 1.6 + 1.4 * i, pitch, 90) for i in range(2) for pitch in (65, 67, 77, 79)]
    sharps = [Note(1.8 + 1.4 * i, 2.05 + 1.4 * i, pitch, 90) for i in range(2) for pitch in (66, 78)]
    frames, geometry, _, _ = _render(held + sharps, "hybrid", seed=5)
    found = transcribe_falling(frames, geometry).notes
    on_sharps = [e for e in found if e.pitch in (66, 78)]
    assert len(on_sharps) == len(sharps) and _onset_f1(sharps, on_sharps) == 1.0
    assert _onset_f1(held, [e for e in found if e.pitch not in (66, 78)]) >= 0.85


def test_bar_front_is_found_above_glow_at_the_keys() -> None:
    """Glow from a neighbour fades upwards from the keys; a bar falling above it is arriving, a spark is not."""
    glow = np.clip(0.6 - 0.05 * np.arange(40), 0.0, None)
    with_bar = glow.copy()
    with_bar[20:] = 0.8
    with_spark = glow.copy()
    with_spark[20:23] = 0.8
    fronts = _front_above_dip(np.array([glow, with_bar, with_spark]), np.full(3, 0.4))
    assert fronts.tolist() == [-1, 20, -1]


def test_bar_speed_from_fronts_must_agree_with_arriving_bars(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """Fronts are matched at the speed already known, so a wrong early speed could confirm itself (it did on an
    automatically calibrated hybrid clip: a third of the true speed, onset F1 0.49); arriving bars overrule it."""
    tracker = Tracker(SamplePoints.from_geometry(synthesia[1]), FallingSettings())
    tracker.speeds.extend([210.0, 213.0, 216.0])
    tracker.front_speeds.extend([63.0, 64.0, 66.0])
    tracker._measure_speed()
    assert tracker.rows_per_s == 213.0
    tracker.front_speeds.extend([211.0, 212.0, 214.0] * 3)
    tracker._measure_speed()
    assert tracker.rows_per_s == 211.5  # the fronts again (their median), once they agree: finer than arrivals


def _tracker_with_speed(geometry: KeyboardGeometry, rows_per_s: float) -> Tracker:
    tracker = Tracker(SamplePoints.from_geometry(geometry), FallingSettings())
    tracker.rows_per_s, tracker.speed_from_fronts = rows_per_s, True
    return tracker


def _followed_at(tracker: Tracker, key: int, fronts: list[float], step: float = 1 / 30) -> float:
    """When the tracker last saw something come down ``key``'s column, given its lowest rows frame by frame."""
    n_keys, n_rows = tracker.points.n_keys, tracker.points.n_rows
    for frame, front in enumerate(fronts):
        dist = np.zeros((n_keys, n_rows), np.float32)
        dist[key, int(front):] = 1.0
        diff = np.repeat(dist[:, :, None] * 0.5, 3, axis=2)
        tracker._note_arrivals(frame * step, dist > tracker.settings.bar_threshold, dist, diff)
    return float(tracker.followed_at[key])


def test_an_arriving_bar_is_known_by_its_rows_nearest_the_front_but_a_note_name(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """A bar's colour is that of its three rows past the outline, skipping rows much paler than the bar (a white
    note name near its front) but not a gradient bar's darker upper part (a median over the bar made the short
    gradient bars of a hybrid 1080p60 video darker than the long ones: hands right 0.56)."""
    tracker = Tracker(SamplePoints.from_geometry(synthesia[1]), FallingSettings())
    n_keys, n_rows = tracker.points.n_keys, tracker.points.n_rows
    blue, white = np.array([0.9, 0.57, 0.2], np.float32), np.array([0.95, 0.85, 0.75], np.float32)
    band = np.zeros((n_keys, n_rows, 3), np.float32)
    band[0, 2:] = blue  # a plain bar
    band[1, 2:12], band[1, 12:40] = blue, 0.65 * blue  # a short gradient bar
    band[2, 2:], band[2, 4:7] = blue, white  # a note name just past the outline
    bar_rows = np.linalg.norm(band, axis=2) > 0.3
    colours = tracker._bar_colours(np.arange(3), np.full(3, 2), bar_rows, band)
    assert np.allclose(colours, blue)


def test_only_what_comes_down_at_the_bars_speed_falls_onto_a_key(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """A hand reaching for a key also comes down its column, slower than the bars (hybrid 1080p60: 6 false notes in
    20 s); once the speed is known from fronts, only a descent at about that speed shows a bar falling onto the key."""
    rows = SamplePoints.from_geometry(synthesia[1]).n_rows
    bar = [rows - 4.0 - 9.0 * i for i in range(3)]  # 9 rows a frame at 30 fps: 270 rows/s
    hand = [rows - 4.0 - 2.0 * i for i in range(6)]  # 2 rows a frame
    assert _followed_at(_tracker_with_speed(synthesia[1], 270.0), 20, bar) == pytest.approx(2 / 30)
    assert _followed_at(_tracker_with_speed(synthesia[1], 270.0), 20, hand) == -np.inf
    early = _tracker_with_speed(synthesia[1], 900.0)  # a first speed from arriving bars alone: maybe far off
    early.speed_from_fronts = False
    assert _followed_at(early, 20, bar) == pytest.approx(2 / 30)


def test_a_hand_below_a_bar_followed_at_the_band_top_is_not_that_bar(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """A bar followed down the top of a tall band, then a hand at the keys, 3 rows up: the lowest bar row jumped
    further than a bar falls. The bar is still on its way, so nothing has fallen onto the key yet (hybrid 27.mid at
    360p30 with a 71-row band: a note 120 ms early); a descent at the bars' speed still counts."""
    rows = SamplePoints.from_geometry(synthesia[1]).n_rows
    bar = [rows - 4.0 - 9.0 * i for i in range(3)]  # 9 rows a frame at 30 fps: 270 rows/s
    assert _followed_at(_tracker_with_speed(synthesia[1], 270.0), 20, [*bar, 3.0]) == -np.inf
    assert _followed_at(_tracker_with_speed(synthesia[1], 270.0), 20, [*bar, bar[-1] - 9.0]) == pytest.approx(3 / 30)
    # a first speed from arriving bars alone may be far off (here 9x too slow): only a jump over half the band counts
    early = _tracker_with_speed(synthesia[1], 30.0)
    early.speed_from_fronts = False
    assert _followed_at(early, 20, bar) == pytest.approx(2 / 30)
    early = _tracker_with_speed(synthesia[1], 30.0)
    early.speed_from_fronts = False
    assert _followed_at(early, 20, [*bar, 3.0]) == -np.inf


def test_a_front_that_reached_the_key_before_its_note_ended_in_this_sample_struck_it(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """Up to 100 ms between two frames (a variable frame rate at 25 fps): the last strike of a run 60 ms apart reached
    the key at 3.796 s, and the key was dark by the next frame at 3.834 s. The note that ended there is split at that
    front (in its colour, 40 ms or more after it started), as if the key had been seen lit after it (synthesia
    720p25: the run's last strike was lost)."""
    colour, other = np.array([0.2, 0.8, 0.3]), np.array([0.8, 0.1, 0.2])
    for arrival, paint, split in ((3.796, colour, True), (3.760, colour, False), (3.796, other, False)):
        tracker = _tracker_with_speed(synthesia[1], 270.0)
        tracker.finished, tracker.just_finished = [(3.737, 3.834, 20, colour)], {20: 0}
        front = Front(arrival, arrival, 4, 3.7, 10.0, paint.astype(np.float32), 3.6, 40.0)
        assert tracker._struck_before_release(20, front) == split
        starts = [start for start, *_ in tracker.finished]
        assert starts == ([3.737, arrival] if split else [3.737])


def test_a_key_dark_as_its_bar_ended_is_not_struck_again_by_glow(
        synthesia: tuple[list[Frame], KeyboardGeometry, list[Note], dict[str, Any]]) -> None:
    """A key lit again soon after it went dark under its bar is re-struck, unless its bar's tail arrived then: that
    was its release, and the glow of a neighbour struck next in the same colour lit it (hybrid 1080p60: 2 false notes
    in 20 s)."""
    paint = np.array([0.2, 0.8, 0.3], np.float32)
    for tail_due, restruck in ((1.005, False), (0.5, True)):
        tracker = _tracker_with_speed(synthesia[1], 270.0)
        tracker.arrival_paint[20] = paint
        tracker.dark_at[20], tracker.tails.due[20] = 1.0, tail_due
        tracker._start(20, 1.08, 0.1, paint, paint)
        assert (20 in tracker.open) == restruck
