"""Tests of the renderer's wider world: variable frame rate, ground-truth MIDI, fingering, cameras, effects,
byte-for-byte reproducible benchmark items and the realism statistics."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import benchmark_set
from benchmarks.realism import crop_synthetic, measure
from bridge.errors import VmbError
from bridge.geometry import KeyLayout, apply_homography
from bridge.midi import read_midi
from bridge.model import file_sha256
from bridge.sources import VideoFileSource
from bridge.synth import RenderConfig, render_frames, render_to_files, sample_style
from bridge.synth.camera import plane_to_image
from bridge.synth.hands import assign_hands
from bridge.synth.render import save_labels
from bridge.synth.scene import build_scene
from bridge.types import Note

SMALL = (320, 180)
NOTES = [Note(0.0, 0.5, 60, 90), Note(0.25, 1.0, 64, 70), Note(0.5, 1.0, 43, 60), Note(0.6, 0.9, 70, 100)]


def test_variable_frame_rate_timestamps_are_in_the_container_and_the_labels(tmp_path: Path) -> None:
    video, labels_path = tmp_path / "v.mp4", tmp_path / "v.npz"
    config = RenderConfig(style="digital", seed=7, size=SMALL, fps=30, duration=1.5, vfr=True)
    labels = render_to_files(NOTES, config, video, labels_path)
    times = labels["frame_times"]
    steps = np.diff(times)
    assert steps.min() > 0 and steps.max() - steps.min() > 0.3 / 30  # jitter and drops, always increasing
    assert times[-1] < 1.5 and len(times) < 45
    decoded = np.array([frame.t for frame in VideoFileSource(video)])
    np.testing.assert_allclose(decoded, times, atol=1e-6)
    onset_frame = int(np.flatnonzero(labels["onsets"][:, 64 - 21])[0])
    assert onset_frame == int(np.argmin(np.abs(times - 0.25)))  # the frame nearest the note's start


def test_constant_frame_rate_is_the_default(tmp_path: Path) -> None:
    video = tmp_path / "c.mp4"
    labels = render_to_files(NOTES, RenderConfig(style="grand", size=SMALL, fps=25, duration=0.8), video, None)
    decoded = np.array([frame.t for frame in VideoFileSource(video)])
    np.testing.assert_allclose(decoded, np.arange(20) / 25, atol=1e-3)
    assert not labels["vfr"]


def test_ground_truth_midi_holds_the_clip_by_hand_with_sustain(tmp_path: Path) -> None:
    notes = [Note(0.5, 1.5, 40, 80), Note(1.2, 2.2, 72, 90), Note(2.5, 3.5, 76, 70), Note(5.0, 6.0, 60, 60)]
    midi = tmp_path / "gt.mid"
    config = RenderConfig(style="synthesia", size=SMALL, fps=10, start=1.0, duration=2.0)
    render_to_files(notes, config, tmp_path / "v.mp4", None, sustain=[(0.8, True), (2.0, False)], midi_path=midi)
    score = read_midi(midi)
    got = sorted((round(n.start, 3), round(n.end, 3), n.pitch, n.channel) for n in score.notes)
    assert got == [(0.0, 0.5, 40, 0), (0.2, 1.2, 72, 1), (1.5, 2.0, 76, 1)]
    pedal = [(round(c.t, 3), c.value) for t in score.tracks for c in t.controls if c.control == 64]
    assert pedal == [(0.0, 127), (1.0, 0)]


def test_labels_file_is_byte_identical_when_written_twice(tmp_path: Path) -> None:
    _, _, labels = render_frames(NOTES, RenderConfig(style="upright", size=SMALL, fps=10, duration=0.5))
    save_labels(tmp_path / "a.npz", labels)
    save_labels(tmp_path / "b.npz", labels)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = np.load(tmp_path / "a.npz")
    assert np.array_equal(loaded["key_state"], labels["key_state"])
    assert json.loads(str(loaded["style_params"]))["name"] == "upright"


def test_a_busy_hand_passes_a_note_to_the_other_hand_which_crosses_over() -> None:
    chord = [Note(0.0, 2.0, p, 80) for p in (72, 76, 79, 84, 88)]
    bass, high = Note(0.0, 0.3, 36, 80), Note(0.5, 1.0, 91, 80)
    hands = assign_hands([*chord, bass, high])
    assert hands[:6] == [1, 1, 1, 1, 1, 0]
    assert hands[6] == 0  # the free left hand plays above the right one


def test_split_follows_the_music() -> None:
    low_piece = [Note(i * 0.2, i * 0.2 + 0.2, p, 80) for i, p in enumerate([36, 48, 55, 40, 52, 57])]
    hands = assign_hands(low_piece)
    assert 0 in hands and 1 in hands  # both hands play although every note is below middle C


def test_fingertips_reach_every_key_of_a_wide_chord() -> None:
    chord = [Note(0.0, 1.0, p, 80) for p in (60, 67, 72, 76)]
    scene, _, labels = render_frames(chord, RenderConfig(style="grand", seed=2, size=(640, 360), fps=10,
                                                         duration=0.5))
    tips = labels["hand_landmarks"][2, :, [4, 8, 12, 16, 20], :2].reshape(-1, 2)
    for pitch in (60, 67, 72, 76):
        polygon = apply_homography(scene.homography, scene.layout.polygon_mm(pitch)).astype(np.float32)
        assert any(cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0 for x, y in tips), pitch


def test_cropped_view_leaves_keys_outside_the_frame_and_still_renders() -> None:
    layout = KeyLayout.standard(88)
    homography = plane_to_image(layout, SMALL, 1.5, 0.5, 10.0, 2.0, centre_x=0.35)
    corners = apply_homography(homography, np.array([[0.0, 0.0], [layout.width_mm, 0.0]]))
    assert corners[0, 0] < 0 < SMALL[0] < corners[1, 0]
    cropped = next(s for s in range(300) if sample_style("grand", s).fill > 1.0)
    _, frames, labels = render_frames(NOTES, RenderConfig(style="grand", seed=cropped, size=SMALL, fps=10,
                                                          duration=0.3))
    assert len(list(frames)) == 3
    xs = labels["keyboard_corners"][:, 0]
    assert xs.min() < 0 or xs.max() > SMALL[0]


def test_styles_span_the_promised_range_of_looks() -> None:
    grands = [sample_style("grand", s) for s in range(150)]
    fills = [g.fill for g in grands]
    assert min(fills) < 0.66 and max(fills) > 1.0  # far views and cropped views
    kelvins = [g.colour_temperature_k for g in grands]
    assert min(kelvins) < 5000 < 7500 < max(kelvins)
    assert {g.key_tone for g in grands} == {"bright", "ivory", "yellowed"}
    assert {g.case_finish for g in (sample_style("upright", s) for s in range(30))} == {"gloss", "wood"}
    hybrid = [sample_style("hybrid", s) for s in range(30)]
    assert max(h.tilt_deg for h in hybrid) > 5 and any(h.roll_deg != 0 for h in hybrid)
    synthesia = [sample_style("synthesia", s) for s in range(30)]
    assert not any(s.hands for s in synthesia) and any(s.glow for s in synthesia) and any(s.title for s in synthesia)


def test_fade_in_darkens_the_first_frames() -> None:
    seed = next(s for s in range(200) if (p := sample_style("synthesia", s)).fade_in_s > 0.9 and not p.fade_out_s)
    _, frames, _ = render_frames(NOTES, RenderConfig(style="synthesia", seed=seed, size=SMALL, fps=10, duration=2.0))
    brightness = [float(image.mean()) for image in frames]
    assert brightness[0] < 1 and brightness[4] < brightness[-1] * 0.7 and brightness[-1] > 10


def test_bars_fall_in_the_keyboard_perspective_and_meet_the_key_when_it_sounds() -> None:
    seed = next(s for s in range(300) if (p := sample_style("hybrid", s)).tilt_deg > 8 and p.bar_look == "solid"
                and not p.fade_in_s and not p.title)
    notes = [Note(1.0, 2.0, 64, 90)]
    config = RenderConfig(style="hybrid", seed=seed, size=(640, 360), fps=10, duration=1.0)
    scene = build_scene(notes, config)
    _, frames, _ = render_frames(notes, config)
    first = next(iter(frames))
    colour = np.array(scene.style.right_bar_colour if scene.ahead_hands[0] else scene.style.left_bar_colour)
    centre = float(np.mean(scene.layout.x_range_mm(64)))
    from bridge.synth.bars import FELT_Y_MM, bar_span_mm
    speed = bar_span_mm(scene.homography, scene.layout) / 2.5
    # at t=0 the bar's bottom is 1 s of fall behind the felt; a point 0.2 s into the bar is inside it
    x, y = apply_homography(scene.homography, np.array([[centre, FELT_Y_MM - 1.2 * speed]]))[0]
    pixel = first[round(y), round(x)].astype(int)
    assert np.abs(pixel - colour).max() < 40


def _whites_in_bar(look: str, times: list[float]) -> list[int]:
    """White pixels (a note name) in the bar of a 2 s note starting at 1 s, at ``times``, from its front back to a
    few mm above the felt (held keeps the name there while the note sounds)."""
    seed = next(s for s in range(300) if not (p := sample_style("synthesia", s)).fade_in_s and not p.title
                and not p.watermark and p.bar_look == "solid")
    notes = [Note(1.0, 3.0, 64, 90)]
    config = RenderConfig(style="synthesia", seed=seed, size=(1280, 720), fps=10, duration=2.0, note_names=look)
    scene, frames, _ = render_frames(notes, config)
    from bridge.synth.bars import FELT_Y_MM, bar_span_mm
    speed = bar_span_mm(scene.homography, scene.layout) / 2.5
    left, right = scene.layout.x_range_mm(64)
    counts = []
    for t, image in zip(scene.timestamps, frames, strict=True):
        if any(abs(t - wanted) < 1e-6 for wanted in times):
            front = FELT_Y_MM - max(1.0 - t, 0.0) * speed
            corners = apply_homography(scene.homography, np.array([[left, front - 2.0], [right, front - 40.0]]))
            (x0, y0), (x1, y1) = np.rint(corners).astype(int)
            counts.append(int((image[y1:y0, x0:x1].min(axis=2) > 200).sum()))
    return counts


def test_note_names_are_written_near_the_bars_front() -> None:
    """vmb synth --note-names: the note's name in white near its bar's front; leading moves it with the front (into
    the keyboard once the note starts), held keeps it above the keys while the note sounds."""
    before, sounding = _whites_in_bar("leading", [0.5, 1.5])
    assert before > 20 and sounding == 0
    before, sounding = _whites_in_bar("held", [0.5, 1.5])
    assert before > 20 and sounding > 20
    assert _whites_in_bar("", [0.5, 1.5]) == [0, 0]
    with pytest.raises(VmbError, match="note-name look"):
        RenderConfig(style="synthesia", note_names="above")


def _score_line_brightness(lines: str) -> tuple[list[float], list[float]]:
    """Mean grey along where the measure line at 2 s should be (falling: at 0.5 s and 1.0 s) and along the left edge
    of C5 above the keys, in a render with no bar near them."""
    seed = next(s for s in range(300) if not (p := sample_style("synthesia", s)).fade_in_s and not p.title
                and not p.fade_out_s and not p.watermark and not p.glow)
    config = RenderConfig(style="synthesia", seed=seed, size=(1280, 720), fps=10, duration=1.1, score_lines=lines)
    scene, frames, _ = render_frames([Note(0.0, 1.1, 30, 90)], config)
    from bridge.synth.bars import FELT_Y_MM, bar_span_mm
    speed = bar_span_mm(scene.homography, scene.layout) / 2.5
    c5 = scene.layout.x_range_mm(72)[0]
    measure, octave = [], []
    for t, image in zip(scene.timestamps, frames, strict=True):
        if any(abs(t - wanted) < 1e-6 for wanted in (0.5, 1.0)):
            y = FELT_Y_MM - (2.0 - t) * speed
            across = apply_homography(scene.homography, np.column_stack([np.linspace(c5 + 5, c5 + 150, 40),
                                                                         np.full(40, y)]))
            up = apply_homography(scene.homography, np.column_stack([np.full(40, c5), np.linspace(-20, -120, 40)]))
            grey = image.mean(axis=2)
            measure.append(float(np.mean([grey[round(v), round(u)] for u, v in across])))
            octave.append(float(np.mean([grey[round(v), round(u)] for u, v in up])))
    return measure, octave


def test_score_lines_fall_with_the_bars_or_stand_at_each_octave() -> None:
    """vmb synth --score-lines: a line across the keyboard at each measure (every 2 s) falling with the bars, and
    still lines at each C and F, as MIDI visualizers draw behind the bars; none by default."""
    measure, octave = _score_line_brightness("both")
    assert min(measure) > 50 and min(octave) > 50
    measure, octave = _score_line_brightness("measures")
    assert min(measure) > 50 and max(octave) < 35
    measure, octave = _score_line_brightness("")
    assert max(measure) < 35 and max(octave) < 35
    with pytest.raises(VmbError, match="score lines"):
        RenderConfig(style="synthesia", score_lines="beats")


def test_a_light_theme_puts_the_bars_on_a_pale_page_darker_than_it() -> None:
    """vmb synth --theme light: the background behind the bars is white to pale grey, and the bars (and score lines)
    are darker than it; the keyboard and the bars are those of the dark render of the same seed."""
    notes = [Note(0.0, 1.1, 60, 90)]
    looks = {}
    for theme in ("dark", "light"):
        config = RenderConfig(style="synthesia", seed=5, size=(640, 360), fps=10, duration=1.1, theme=theme,
                              score_lines="measures")
        scene, frames, _ = render_frames(notes, config)
        from bridge.synth.bars import FELT_Y_MM, bar_span_mm
        span = bar_span_mm(scene.homography, scene.layout)  # the height the bars fall in 2.5 s
        x0, x1 = scene.layout.x_range_mm(60)
        # at 0.5 s the bar stands on its key and reaches 0.6 s of fall above it; the page is seen above the case
        far, bar = apply_homography(scene.homography, np.array([[x1 + 60.0, FELT_Y_MM - 0.7 * span],
                                                                  [(x0 + x1) / 2, FELT_Y_MM - 0.15 * span]]))
        image = list(frames)[5].astype(np.float32).mean(axis=2)  # 0.5 s: the bar stands on its key
        looks[theme] = (image[round(far[1]), round(far[0])], image[round(bar[1]), round(bar[0])])
    (dark_page, dark_bar), (light_page, light_bar) = looks["dark"], looks["light"]
    assert dark_page < 60 < light_page - 150 and light_page > 200
    assert abs(light_bar - dark_bar) < 12 and light_bar < light_page - 60
    with pytest.raises(VmbError, match="theme"):
        RenderConfig(style="synthesia", theme="sepia")


def test_bar_corners_round_the_bars_ends() -> None:
    """vmb synth --bar-corners R: quarter circles of R times the bar's width at its corners, as modern visualizers
    draw them: just inside a corner is background, the bar's middle is bar; square by default."""
    seed = next(s for s in range(300) if not (p := sample_style("synthesia", s)).fade_in_s and not p.glow
                and p.bar_look == "solid" and not p.watermark and not p.title)
    looks = {}
    for corners in (0.0, 0.5):
        config = RenderConfig(style="synthesia", seed=seed, size=(1280, 720), fps=10, duration=1.1,
                              bar_corners=corners)
        scene, frames, _ = render_frames([Note(0.9, 1.1, 60, 90)], config)
        from bridge.synth.bars import BAR_SECONDS, FELT_Y_MM, bar_span_mm
        speed = bar_span_mm(scene.homography, scene.layout) / BAR_SECONDS
        left, right = scene.layout.x_range_mm(60)
        bottom = FELT_Y_MM - 0.9 * speed  # at 0 s the bar's front is 0.9 s of fall above the keys
        top = bottom - 0.2 * speed
        corner, middle = apply_homography(scene.homography, np.array([[left + 1.6, bottom - 1.6],
                                                                      [(left + right) / 2, (top + bottom) / 2]]))
        image = next(iter(frames)).astype(np.float32)
        looks[corners] = [image[round(y), round(x)].max() for x, y in (corner, middle)]
    (square_corner, square_middle), (round_corner, round_middle) = looks[0.0], looks[0.5]
    assert square_middle > 100 and round_middle > 100 and square_corner > 100 and round_corner < 50
    with pytest.raises(VmbError, match="corner"):
        RenderConfig(style="synthesia", bar_corners=0.8)


def test_benchmark_item_renders_byte_for_byte_the_same(tmp_path: Path) -> None:
    item = benchmark_set.plan(tmp_path / "a", duration=1.0)[3]
    tiny = benchmark_set.Setup("tiny", SMALL, 15.0)
    first = dataclasses.replace(item, setup=tiny)
    again = dataclasses.replace(first, video=tmp_path / "v.mp4", labels=tmp_path / "v.npz", midi=tmp_path / "v.mid")
    benchmark_set.render_item(first)
    benchmark_set.render_item(again)
    for a, b in zip(first.files(), again.files(), strict=True):
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest(), a.name
    manifest = json.loads(benchmark_set.write_manifest([first], tmp_path / "a").read_text())
    assert manifest["items"][0]["files"][first.video.name] == file_sha256(first.video)


def test_benchmark_set_covers_every_song_style_and_setup() -> None:
    items = benchmark_set.plan(Path("unused"))
    assert len(items) == 40 and len({i.name for i in items}) == 40
    assert {i.style for i in items} == {"grand", "upright", "digital", "synthesia", "hybrid"}
    assert {i.setup.name for i in items} == {s.name for s in benchmark_set.SETUPS}
    assert len({i.seed for i in items}) == 40


@pytest.mark.parametrize("style", ["grand", "digital"])
def test_realism_statistics_see_the_keyboard_geometry(style: str) -> None:
    config = RenderConfig(style=style, seed=3, size=(960, 540), fps=10, duration=0.1, n_keys=88)
    scene, frames, _ = render_frames([Note(0.0, 0.1, 30, 80)], config)
    stats = measure(crop_synthetic(next(iter(frames)), scene.homography, scene.layout))
    assert stats["black/white width"] == pytest.approx(13.7 / 23.5, abs=0.08)
    assert 150 < stats["white brightness"] <= 255 and stats["contrast"] > 0.6


def test_example_midi_is_the_scripted_performance() -> None:
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_example", root / "scripts" / "make_example.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    notes = script.performance()
    assert 18.0 < max(n.end for n in notes) < 24.0 and {n.channel for n in notes} == {0, 1}
    assert len({n.velocity for n in notes}) > 10  # humanized, not one flat velocity
    onsets = np.array([n.start for n in notes]) - script.LEAD_IN_S
    assert 0.003 < np.abs(onsets / (script.BEAT_S / 2) - np.round(onsets / (script.BEAT_S / 2))).mean() < 0.1
    committed = read_midi(root / "examples" / "minuet.mid").notes
    assert [(n.pitch, n.channel) for n in committed] == [(n.pitch, n.channel) for n in notes]
    assert max(abs(a.start - b.start) for a, b in zip(committed, notes, strict=True)) < 1e-3


def test_hands_can_come_from_the_midi_channels() -> None:
    notes = [Note(0.0, 0.5, 72, 80, channel=0), Note(0.0, 0.5, 40, 80, channel=1)]
    config = RenderConfig(style="digital", size=SMALL, fps=10, duration=0.5, hands_from_channels=True)
    _, _, labels = render_frames(notes, config)
    assert (labels["hand_of_key"][:, 72 - 21] == 0).all() and (labels["hand_of_key"][:, 40 - 21] == 1).all()
    _, _, default = render_frames(notes, dataclasses.replace(config, hands_from_channels=False))
    assert default["hand_of_key"][0, 72 - 21] == 1 and default["hand_of_key"][0, 40 - 21] == 0
