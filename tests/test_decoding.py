from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge.decoding import DecoderSettings, StreamingDecoder, decode, notes_from_edges
from bridge.errors import VmbError
from bridge.types import Activations, Note, NoteOff, NoteOn, PianoRoll
from tests.strategies import grid_notes

FPS = 30.0


def perfect_activations(notes: list[Note], n_frames: int) -> list[Activations]:
    roll = PianoRoll.from_notes(notes, FPS, n_frames=n_frames)
    return [
        Activations(i / FPS, roll.onset[i].astype(np.float32), roll.active[i].astype(np.float32),
                    (roll.velocity[i] / 127).astype(np.float32))
        for i in range(n_frames)
    ]


def random_activations(seed: int, n_frames: int, n_keys: int = 8) -> list[Activations]:
    rng = np.random.default_rng(seed)
    return [Activations(i / FPS, rng.random(n_keys, dtype=np.float32), rng.random(n_keys, dtype=np.float32),
                        rng.random(n_keys, dtype=np.float32)) for i in range(n_frames)]


@given(grid_notes(fps=FPS, max_notes=20))
def test_perfect_activations_decode_to_the_notes(notes: list[Note]) -> None:
    # Onsets in two adjacent frames read as one onset, so each note lasts two frames or more here.
    assume(all(round(n.duration * FPS) >= 2 for n in notes))
    n_frames = max((round(n.end * FPS) for n in notes), default=0) + 2
    got = notes_from_edges(decode(perfect_activations(notes, n_frames), settings=DecoderSettings(min_frames=1)))

    def frames(ns: list[Note]) -> list[tuple[int, int, int, int]]:
        return sorted((n.pitch, round(n.start * FPS), round(n.end * FPS), n.velocity) for n in ns)

    assert frames(got) == frames(notes)


@settings(max_examples=50)
@given(st.integers(0, 10_000), st.lists(st.integers(1, 17), min_size=1, max_size=12))
def test_chunking_does_not_change_decoding(seed: int, chunk_sizes: list[int]) -> None:
    frames = random_activations(seed, 120)
    whole = decode(frames, n_keys=8)
    decoder = StreamingDecoder(8)
    chunked = []
    i = 0
    sizes = iter(chunk_sizes * 200)
    while i < len(frames):
        step = next(sizes)
        for frame in frames[i:i + step]:
            chunked.extend(decoder.push(frame))
        i += step
    chunked.extend(decoder.close(frames[-1].t))
    assert chunked == whole


@settings(max_examples=50)
@given(st.integers(0, 10_000))
def test_every_note_on_gets_exactly_one_note_off_after_close(seed: int) -> None:
    edges = decode(random_activations(seed, 90), n_keys=8)
    sounding: set[int] = set()
    for edge in edges:
        if isinstance(edge, NoteOn):
            assert edge.pitch not in sounding, "a note on while the key already sounds"
            sounding.add(edge.pitch)
        else:
            assert isinstance(edge, NoteOff) and edge.pitch in sounding, "a note off without its note on"
            sounding.remove(edge.pitch)
    assert not sounding


def test_repeated_note_is_re_struck_and_hysteresis_holds_a_wobbly_key() -> None:
    onset = [1, 0, 0, 0, 1, 0, 0, 0]
    frame = [1, 0.4, 0.35, 1, 1, 0.4, 0.1, 0]
    frames = [Activations(i / FPS, np.array([o], np.float32), np.array([f], np.float32), np.array([0.5], np.float32))
              for i, (o, f) in enumerate(zip(onset, frame, strict=True))]
    notes = notes_from_edges(decode(frames, n_keys=1))
    assert [(round(n.start * FPS), round(n.end * FPS), n.velocity) for n in notes] == [(0, 4, 64), (4, 6, 64)]


def test_frames_out_of_order_are_refused() -> None:
    decoder = StreamingDecoder(1)
    decoder.push(Activations(1.0, np.zeros(1, np.float32), np.zeros(1, np.float32), np.zeros(1, np.float32)))
    with pytest.raises(Exception, match="time order"):
        decoder.push(Activations(0.5, np.zeros(1, np.float32), np.zeros(1, np.float32), np.zeros(1, np.float32)))


def test_a_key_held_without_onset_starts_a_note_only_once_it_was_seen_up() -> None:
    # Key 0 looks down from the first frame (a still keyboard fooling the model); key 1 is seen up, then goes
    # down without an onset (a missed onset): only key 1 sounds.
    frame = [[0.9, 0.1], [0.9, 0.1], [0.9, 0.9], [0.9, 0.9], [0.9, 0.9], [0.9, 0.1]]
    frames = [Activations(i / FPS, np.zeros(2, np.float32), np.array(f, np.float32), np.full(2, 0.5, np.float32))
              for i, f in enumerate(frame)]
    notes = notes_from_edges(decode(frames, n_keys=2, settings=DecoderSettings(min_frames=2)))
    assert [(n.pitch, round(n.start * FPS), round(n.end * FPS)) for n in notes] == [(22, 3, 5)]


def key_frames(onset: list[float], frame: list[float]) -> list[Activations]:
    """One key's activations, one value per frame."""
    return [Activations(i / FPS, np.array([o], np.float32), np.array([f], np.float32), np.array([0.5], np.float32))
            for i, (o, f) in enumerate(zip(onset, frame, strict=True))]


def frame_notes(frames: list[Activations], settings: DecoderSettings) -> list[tuple[int, int]]:
    return [(round(n.start * FPS), round(n.end * FPS)) for n in notes_from_edges(decode(frames, 1, settings))]


STARTS_ON_ONSETS = DecoderSettings(onset_threshold=0.6, frame_on=0.5, frame_off=0.2, min_frames=1, onset_required=True)


def test_a_key_down_when_the_video_starts_is_a_note_from_the_first_frame_once_released() -> None:
    held_then_released = key_frames([0.1] * 8, [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1])
    assert frame_notes(held_then_released, STARTS_ON_ONSETS) == []
    initial = replace(STARTS_ON_ONSETS, initial_notes=True)
    assert frame_notes(held_then_released, initial) == [(0, 4)]
    # The model needs a frame to see the keyboard: a key that looks up at frame 0 and down at frame 1 was down.
    assert frame_notes(key_frames([0.1] * 6, [0, 1, 1, 0.1, 0.1, 0.1]), initial) == [(0, 3)]
    # A key that looks down all along (a still keyboard fooling the model) gives nothing.
    assert frame_notes(key_frames([0.1] * 8, [0.9] * 8), initial) == []
    # Struck again while held since the start: the first note ends where the second starts.
    assert frame_notes(key_frames([0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1], [1, 1, 1, 1, 1, 0.1, 0.1]), initial) == [
        (0, 3), (3, 5)]


def test_the_note_from_the_start_is_sent_when_the_key_is_released() -> None:
    decoder = StreamingDecoder(1, replace(STARTS_ON_ONSETS, initial_notes=True))
    sent = [decoder.push(a) for a in key_frames([0.1] * 5, [1, 1, 1, 0.1, 0.1])]
    assert sent[:3] == [[], [], []]
    assert sent[3] == [NoteOn(0.0, 21, 64, 0), NoteOff(3 / FPS, 21, 0)]
    assert decoder.close(5 / FPS) == []


def test_a_weak_onset_starts_a_note_only_on_a_key_seen_going_down() -> None:
    weak = [0.0, 0.0, 0.3, 0.1, 0.1, 0.0, 0.0]
    pressed = key_frames(weak, [0.0, 0.1, 0.9, 1, 1, 0.1, 0.0])
    assert frame_notes(pressed, STARTS_ON_ONSETS) == []
    assert frame_notes(pressed, replace(STARTS_ON_ONSETS, press_onset=0.25)) == [(2, 5)]
    assert frame_notes(pressed, replace(STARTS_ON_ONSETS, press_onset=0.35)) == []
    # The same weak onset on a key that has been down for a while (not seen going down) starts nothing.
    still = key_frames([0.0, 0.0, 0.0, 0.0, 0.3, 0.1, 0.0], [0.0, 0.9, 0.9, 0.9, 0.9, 0.1, 0.0])
    assert frame_notes(still, replace(STARTS_ON_ONSETS, press_onset=0.25)) == []


def test_an_onset_peaking_just_after_the_press_does_not_split_the_note() -> None:
    frames = key_frames([0.0, 0.7, 0.2, 0.8, 0.1, 0.0, 0.0], [0.0, 1, 1, 1, 1, 0.1, 0.0])
    assert frame_notes(frames, STARTS_ON_ONSETS) == [(1, 3), (3, 5)]
    assert frame_notes(frames, replace(STARTS_ON_ONSETS, restrike_frames=3)) == [(1, 5)]


@settings(max_examples=25)
@given(st.integers(0, 10_000))
def test_every_rule_on_still_pairs_each_note_on_with_one_note_off(seed: int) -> None:
    every_rule = DecoderSettings(press_onset=0.3, restrike_frames=2, initial_notes=True)
    open_keys: set[int] = set()
    for edge in decode(random_activations(seed, 90), n_keys=8, settings=every_rule):
        if isinstance(edge, NoteOn):
            assert edge.pitch not in open_keys
            open_keys.add(edge.pitch)
        else:
            open_keys.remove(edge.pitch)
    assert not open_keys


def test_bad_rule_settings_are_refused() -> None:
    with pytest.raises(VmbError, match="press_onset"):
        DecoderSettings(press_onset=0.0)
    with pytest.raises(VmbError, match="restrike_frames"):
        DecoderSettings(restrike_frames=0)
