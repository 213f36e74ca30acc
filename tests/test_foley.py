from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from bridge.errors import PresetError, VmbError
from bridge.foley import foley, retime_melody, strengths_to_velocities, tempo_from_events, visibility_problem
from bridge.foley_presets import bundled_instruments, load_foley_preset
from bridge.foley_theory import parse_chord, parse_key, scale_pitches, voicing
from bridge.landmarks import LandmarkTracks
from bridge.midi import read_midi
from bridge.motion import MotionEvent
from bridge.motion_synth import synthesize
from bridge.types import Note

GESTURE_OF = {"violin": "bow", "cello": "bow", "guitar": "strum", "ukulele": "strum", "bass": "pluck",
              "drums": "strike", "piano": "tap"}


def test_every_instrument_the_issue_names_has_a_preset() -> None:
    assert set(GESTURE_OF) <= set(bundled_instruments())


@pytest.mark.parametrize("instrument", sorted(GESTURE_OF))
def test_instrument_plays_in_time_in_its_register_with_its_program(instrument: str) -> None:
    preset = load_foley_preset(instrument)
    performance = synthesize(GESTURE_OF[instrument], 8.0, seed=1)
    result = foley(performance.tracks, preset)
    notes = result.track.notes
    assert result.problem is None and notes
    assert result.track.program == preset.program and result.track.channel == preset.channel
    assert all(preset.velocity[0] <= n.velocity <= preset.velocity[1] for n in notes)
    if instrument == "drums":
        assert result.track.channel == 9
        assert {n.pitch for n in notes} <= {p.note for p in preset.drums} | {p.accent_note for p in preset.drums}
    else:
        assert all(preset.register[0] <= n.pitch <= preset.register[1] for n in notes)
        tonic, intervals = parse_key(preset.key)
        if preset.pitch_mode in ("melody", "position"):
            assert all((n.pitch - tonic) % 12 in intervals for n in notes)
    starts = np.array(sorted({round(n.start, 6) for n in notes}))
    nearest = [np.min(np.abs(performance.onsets - s)) for s in starts]
    if instrument != "piano":  # piano taps are also checked in test_motion; chords add spread here
        assert np.mean(np.array(nearest) <= 0.1 + preset.strum_spread * preset.voices) >= 0.9


def test_strummed_chord_goes_up_on_down_strokes_and_down_on_up_strokes() -> None:
    preset = load_foley_preset("guitar")
    events = [MotionEvent(1.0, 3.0, 1, "x"), MotionEvent(1.5, 3.0, -1, "x")]
    from bridge.foley import pitched_notes

    notes = pitched_notes(events, preset, preset.key, 0, 1280)
    first = [n.pitch for n in sorted(notes) if n.start < 1.4]
    second = [n.pitch for n in sorted(notes) if n.start >= 1.4]
    assert first == sorted(first) and second == sorted(second, reverse=True)
    assert first == voicing("G", *preset.register, preset.voices)


def test_melody_is_retimed_onto_motion_onsets_with_chords_kept_and_looped() -> None:
    preset = load_foley_preset("violin")
    melody = [Note(0.0, 0.5, 60), Note(0.0, 0.5, 64), Note(1.0, 1.25, 62), Note(2.0, 3.0, 65)]
    events = [MotionEvent(t, 1.0 + t, 1, "x") for t in (0.3, 0.9, 1.4, 2.2, 2.8)]
    notes = sorted(retime_melody(events, melody, preset), key=lambda n: (n.start, n.pitch))
    assert [(n.start, n.pitch) for n in notes] == [(0.3, 60), (0.3, 64), (0.9, 62), (1.4, 65), (2.2, 60),
                                                   (2.2, 64), (2.8, 62)]
    assert notes[0].end == pytest.approx(0.3 + 0.6 * 0.5)  # half of its gap, as in the melody
    assert all(n.channel == preset.channel for n in notes)


def test_velocity_follows_speed_and_tempo_folds_into_a_usual_range() -> None:
    assert strengths_to_velocities([1.0, 2.0, 3.0, 10.0], 40, 120) == sorted(
        strengths_to_velocities([1.0, 2.0, 3.0, 10.0], 40, 120))
    assert strengths_to_velocities([2.0, 2.0], 40, 120) == [80, 80]
    assert tempo_from_events(list(np.arange(0, 10, 0.5))) == 120.0
    assert tempo_from_events(list(np.arange(0, 20, 1.5))) == 80.0
    assert tempo_from_events(list(np.arange(0, 5, 0.2))) == 150.0


def test_theory_parses_keys_and_chords_and_refuses_nonsense() -> None:
    assert parse_key("F# minor") == (6, (0, 2, 3, 5, 7, 8, 10))
    assert parse_chord("Bbmaj7") == (10, (0, 4, 7, 11))
    assert scale_pitches("C major", 60, 72) == [60, 62, 64, 65, 67, 69, 71, 72]
    with pytest.raises(VmbError, match="key"):
        parse_key("H major")
    with pytest.raises(VmbError, match="chord"):
        parse_chord("Cmaj13#11")


def test_preset_typos_are_refused(tmp_path: Path) -> None:
    text = load_foley_preset("violin")  # the bundled file parses; now break a copy of it
    assert text.program == 40
    source = (Path(__file__).parents[1] / "presets" / "foley" / "violin.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(source.replace("min_interval", "min_intervall"))
    with pytest.raises(PresetError, match="min_intervall"):
        load_foley_preset(bad)
    bad.write_text(source.replace('gesture = "bow"', 'gesture = "wave"'))
    with pytest.raises(PresetError, match="wave"):
        load_foley_preset(bad)
    with pytest.raises(PresetError, match="bass, cello"):
        load_foley_preset("theremin")


def _blank(tracks: LandmarkTracks, luma: float) -> LandmarkTracks:
    return LandmarkTracks(tracks.t, np.full_like(tracks.hands, np.nan), tracks.scores, tracks.image_size,
                          np.full_like(tracks.luma, luma), None)


def test_nobody_or_darkness_gives_a_reason_and_no_notes() -> None:
    tracks = synthesize("strum", 2.0).tracks
    dark = foley(_blank(tracks, 5.0), load_foley_preset("guitar"))
    assert dark.track.notes == () and dark.problem is not None and "too dark" in dark.problem
    nobody = visibility_problem(_blank(tracks, 120.0))
    assert nobody is not None and "no hands or body" in nobody


def test_cli_writes_a_playable_file_from_landmark_tracks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tracks_path, out = tmp_path / "strum.npz", tmp_path / "guitar.mid"
    synthesize("strum", 6.0, seed=2).tracks.save(tracks_path)
    assert main(["foley", str(tracks_path), "--instrument", "guitar", "-o", str(out), "--tempo-from-motion"]) == 0
    score = read_midi(out)
    assert score.tracks[0].program == 25 and len(score.notes) >= 6 * 10
    assert 70 <= score.tempo_bpm <= 160
    assert "guitar notes" in capsys.readouterr().out
    assert main(["foley", str(tracks_path), "--instrument", "guitar", "-o", str(out), "--start", "2",
                 "--duration", "2"]) == 0
    assert all(2.0 <= n.start < 4.1 for n in read_midi(out).notes) and read_midi(out).notes


def test_cli_bad_input_is_one_line_and_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tracks_path, out = tmp_path / "dark.npz", tmp_path / "out.mid"
    _blank(synthesize("strum", 2.0).tracks, 3.0).save(tracks_path)
    assert main(["foley", str(tracks_path), "--instrument", "guitar", "-o", str(out)]) == 1
    assert read_midi(out).notes == []
    assert "too dark" in capsys.readouterr().err
    assert main(["foley", str(tracks_path), "--instrument", "kazoo", "-o", str(tmp_path / "k.mid")]) == 2
    assert main(["foley", str(tracks_path), "--key", "Q major", "-o", str(tmp_path / "q.mid")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "kazoo" in errors[0] and "Q major" in errors[1]
    assert not (tmp_path / "k.mid").exists() and not (tmp_path / "q.mid").exists()


def _encode(path: Path, images: list[np.ndarray]) -> None:
    from bridge.synth.video import H264Writer

    height, width = images[0].shape[:2]
    with H264Writer(path, (width, height), 10.0) as writer:
        for image in images:
            writer.write(image)


@pytest.mark.parametrize("case", ["dark", "empty keyboard"])
def test_cli_on_a_video_without_a_visible_player_writes_an_empty_valid_file(
        case: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    rng = np.random.default_rng(0)
    if case == "dark":
        images = [rng.integers(0, 12, (180, 320, 3), dtype=np.uint8) for _ in range(8)]
    else:  # a real keyboard photo, nobody playing
        photo = cv2.imread(str(shared_data / "real_keyboards" / "video21_frame_002620.jpg"))
        images = [np.ascontiguousarray(photo[:photo.shape[0] // 2 * 2, :photo.shape[1] // 2 * 2]) for _ in range(8)]
    video, out = tmp_path / "clip.mp4", tmp_path / "out.mid"
    _encode(video, images)
    assert main(["foley", str(video), "--instrument", "piano", "-o", str(out)]) == 1
    assert read_midi(out).notes == []
    message = capsys.readouterr().err
    assert ("too dark" if case == "dark" else "no hands or body") in message and message.count("\n") == 1
