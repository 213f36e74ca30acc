"""What a video shows, decided before any pixel is drawn: keyboard, style, camera, frame times, roll, hands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from bridge.errors import VmbError
from bridge.geometry import N_PIANO_KEYS, STANDARD_SIZES, KeyLayout
from bridge.synth import hands as hand_model
from bridge.synth.camera import plane_to_image
from bridge.synth.style import (
    NOTE_NAME_LOOKS,
    SCORE_LINES,
    STYLE_NAMES,
    THEMES,
    StyleParams,
    light_background,
    sample_style,
    style_rng,
)
from bridge.synth.video import vfr_timestamps
from bridge.types import Note, PianoRoll

MIN_SIZE = (160, 90)
LOOK_AHEAD_S = 2.5  # how far ahead falling bars show the music


@dataclass(frozen=True, slots=True)
class RenderConfig:
    style: str = "grand"
    seed: int = 0
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    start: float = 0.0
    duration: float | None = None
    n_keys: int | None = None
    vfr: bool = False  # variable frame rate: jittered frame times with drops, kept in the container
    max_bitrate_kbps: int | None = None  # None: the style's bitrate, scaled to the size and frame rate
    crf: int | None = None  # None: the style's quality
    hands_from_channels: bool = False  # channel 0 is the left hand, any other the right (else: a fingering model)
    note_names: str = ""  # note names in the falling bars (styles with bars): one of NOTE_NAME_LOOKS, or "" none
    score_lines: str = ""  # lines behind the falling bars (styles with bars): one of SCORE_LINES, or "" none
    theme: str = "dark"  # the background behind the falling bars (styles with bars): one of THEMES
    bar_corners: float = 0.0  # the bars' corner radius as a share of their width (0 to 0.5; 0: square)

    def __post_init__(self) -> None:
        width, height = self.size
        if width < MIN_SIZE[0] or height < MIN_SIZE[1] or width % 2 or height % 2:
            raise VmbError(f"video size {width}x{height} is too small or odd: use even sizes of at least "
                           f"{MIN_SIZE[0]}x{MIN_SIZE[1]}, for example 1280x720")
        if not 1.0 <= self.fps <= 240.0:
            raise VmbError(f"frame rate {self.fps} is out of range: use 1-240, for example 30")
        if self.start < 0 or (self.duration is not None and self.duration <= 0):
            raise VmbError("--start must be >= 0 and --duration > 0 seconds")
        if self.style not in STYLE_NAMES:
            raise VmbError(f"unknown style {self.style!r}: use one of {', '.join(STYLE_NAMES)}")
        if self.note_names and self.note_names not in NOTE_NAME_LOOKS:
            raise VmbError(f"unknown note-name look {self.note_names!r}: use one of {', '.join(NOTE_NAME_LOOKS)}")
        if self.score_lines and self.score_lines not in SCORE_LINES:
            raise VmbError(f"unknown score lines {self.score_lines!r}: use one of {', '.join(SCORE_LINES)}")
        if self.theme not in THEMES:
            raise VmbError(f"unknown theme {self.theme!r}: use one of {', '.join(THEMES)}")
        if not 0.0 <= self.bar_corners <= 0.5:
            raise VmbError(f"bar corner radius {self.bar_corners} is out of range: give 0 (square) to 0.5 (round "
                           "ends), a share of the bar's width")


@dataclass(frozen=True, slots=True)
class Scene:
    layout: KeyLayout
    style: StyleParams
    homography: NDArray[np.float64]  # plane mm -> image pixels
    roll: PianoRoll  # 88 keys from A0
    hand_of: NDArray[np.int8]  # per frame and key: 0 left, 1 right
    timestamps: NDArray[np.float64]
    size: tuple[int, int]
    notes: tuple[Note, ...] = ()  # the clip's notes, times from its first frame
    note_hands: tuple[int, ...] = ()  # hand of each of ``notes``
    ahead: tuple[Note, ...] = ()  # the clip's notes and those starting up to LOOK_AHEAD_S after it (falling bars)
    ahead_hands: tuple[int, ...] = ()


def clip_notes(notes: Sequence[Note], start: float, duration: float) -> list[Note]:
    out = []
    for n in notes:
        s, e = max(n.start, start) - start, min(n.end, start + duration) - start
        if e > s:
            out.append(Note(s, e, n.pitch, n.velocity, n.channel))
    return out


def _choose_layout(notes: Sequence[Note], config: RenderConfig, rng: np.random.Generator) -> KeyLayout:
    low = min((n.pitch for n in notes), default=60)
    high = max((n.pitch for n in notes), default=60)
    if config.n_keys is not None:
        layout = KeyLayout.standard(config.n_keys)
        if low < layout.lowest_pitch or high > layout.highest_pitch:
            raise VmbError(f"notes span MIDI {low}-{high}, outside a {config.n_keys}-key keyboard "
                           f"({layout.lowest_pitch}-{layout.highest_pitch}): use more keys or transpose the MIDI")
        return layout
    if low < 21 or high > 108:
        raise VmbError(f"notes span MIDI {low}-{high}, outside the 88 piano keys (21-108): transpose the MIDI")
    fits = [n for n, (lo, hi) in STANDARD_SIZES.items() if lo <= low and high <= hi and n >= 49]
    if config.style in ("grand", "upright", "synthesia", "hybrid") or rng.random() < 0.5:
        return KeyLayout.standard(N_PIANO_KEYS)
    return KeyLayout.standard(int(rng.choice(sorted(fits))))


def frame_spans(notes: Sequence[Note], timestamps: NDArray[np.float64], fps: float) -> list[tuple[int, int]]:
    """First and stop frame of each note: the frames nearest its start and end (as ``PianoRoll.from_notes``)."""
    if not len(timestamps):
        return [(0, 0) for _ in notes]
    cfr = np.allclose(timestamps, np.arange(len(timestamps)) / fps)
    mids = (timestamps[1:] + timestamps[:-1]) / 2.0

    def nearest(t: float) -> int:
        return round(t * fps) if cfr else int(np.searchsorted(mids, t))

    return [(nearest(n.start), max(nearest(n.end), nearest(n.start) + 1)) for n in notes]


def _roll(notes: Sequence[Note], hands: Sequence[int], timestamps: NDArray[np.float64],
          fps: float) -> tuple[PianoRoll, NDArray[np.int8]]:
    n_frames = len(timestamps)
    velocity = np.zeros((n_frames, N_PIANO_KEYS), np.uint8)
    onset = np.zeros((n_frames, N_PIANO_KEYS), bool)
    hand_of = np.zeros((n_frames, N_PIANO_KEYS), np.int8)
    hand_of[:, hand_model.SPLIT_PITCH - 21:] = 1
    spans = frame_spans(notes, timestamps, fps)
    for k in sorted(range(len(notes)), key=lambda k: spans[k][0]):
        first, stop = spans[k]
        key = notes[k].pitch - 21
        if first >= n_frames:
            continue
        velocity[first:stop, key] = notes[k].velocity
        onset[first, key] = True
        hand_of[first:stop, key] = hands[k]
    return PianoRoll(velocity, onset, fps, 21), hand_of


def build_scene(notes: Sequence[Note], config: RenderConfig) -> Scene:
    """Everything per video that the frames need: layout, style, camera, frame times and the labelled roll."""
    if not notes:
        raise VmbError("the MIDI file has no notes: give a file with at least one note")
    end = max(n.end for n in notes)
    duration = config.duration if config.duration is not None else max(end - config.start, 0.0)
    if duration <= 0:
        raise VmbError(f"--start {config.start} is after the last note ({end:.2f}s): start earlier")
    style = sample_style(config.style, config.seed)
    if config.note_names or config.score_lines:
        style = replace(style, note_names=config.note_names, score_lines=config.score_lines)
    if config.bar_corners:
        style = replace(style, bar_corners=config.bar_corners)
    if config.theme == "light" and style.bars:
        style = replace(style, theme="light", background_colour=light_background(config.style, config.seed))
    rng = style_rng(config.style + "/layout", config.seed)
    layout = _choose_layout(notes, config, rng)
    homography = plane_to_image(layout, config.size, style.fill, style.centre_y, style.tilt_deg, style.roll_deg,
                                style.centre_x)
    if config.vfr:
        timestamps = vfr_timestamps(config.fps, duration, config.seed)
    else:
        timestamps = np.arange(max(1, round(duration * config.fps)), dtype=np.float64) / config.fps
    ahead = [n for n in clip_notes(notes, config.start, duration + LOOK_AHEAD_S) if 21 <= n.pitch <= 108]
    ahead_hands = ([min(n.channel, 1) for n in ahead] if config.hands_from_channels
                   else hand_model.assign_hands(ahead))
    clipped, note_hands = [], []
    for note, hand in zip(ahead, ahead_hands, strict=True):
        if note.start < duration:
            clipped.append(Note(note.start, min(note.end, duration), note.pitch, note.velocity, note.channel))
            note_hands.append(hand)
    roll, hand_of = _roll(clipped, note_hands, timestamps, config.fps)
    for note in notes:  # a note already sounding at --start has no onset in this clip
        if note.start < config.start < note.end and 21 <= note.pitch <= 108:
            roll.onset[0, note.pitch - 21] = False
    return Scene(layout, style, homography, roll, hand_of, timestamps, config.size, tuple(clipped),
                 tuple(note_hands), tuple(ahead), tuple(ahead_hands))
